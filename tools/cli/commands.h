// The gptoss subcommands. Each returns the process exit code; on failure it has printed exactly
// one clear message to stderr. argv excludes the program and subcommand names.
#pragma once

namespace gptoss::cli {

int RunMakeCheckpoint(int argc, char** argv);  // cmd_make_checkpoint.cc
int RunLogits(int argc, char** argv);          // cmd_model.cc
int RunGenerate(int argc, char** argv);        // cmd_model.cc
int RunTokenize(int argc, char** argv);        // cmd_tokenizer.cc
int RunDetokenize(int argc, char** argv);      // cmd_tokenizer.cc
int RunRenderChat(int argc, char** argv);      // cmd_render_chat.cc
#ifdef GPTOSS_WITH_GRPC
int RunServe(int argc, char** argv);           // cmd_serve.cc
int RunChat(int argc, char** argv);            // cmd_serve.cc
int RunHealth(int argc, char** argv);          // cmd_health.cc
int RunCoordinator(int argc, char** argv);     // cmd_serve.cc (= gptoss-coordinator)
int RunWorker(int argc, char** argv);          // cmd_serve.cc (= gptoss-worker)
#endif

}  // namespace gptoss::cli
