// gptoss: one binary, many subcommands. External checks call these names; keep them exact.
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/cli/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

constexpr Command kCommands[] = {
    {"make-checkpoint", gptoss::cli::RunMakeCheckpoint,
     "--preset tiny|wide|20b|120b [--seed N] [--config FILE] --out DIR"},
    {"logits", gptoss::cli::RunLogits, "--model DIR --ids \"1 2 3\" --out FILE.safetensors"},
    {"generate", gptoss::cli::RunGenerate,
     "--model DIR --ids \"...\" [--max-tokens N] [--temperature T] [--top-p P] [--seed S]"},
    {"tokenize", gptoss::cli::RunTokenize, "[--tokenizer PATH] [--jsonl] < text"},
    {"detokenize", gptoss::cli::RunDetokenize, "[--tokenizer PATH] [--jsonl] < ids"},
    {"render-chat", gptoss::cli::RunRenderChat, "[--tokenizer PATH] < conversation.json"},
#ifdef GPTOSS_WITH_GRPC
    {"serve", gptoss::cli::RunServe,
     "--model DIR [--port P] [--workers N] [--device auto|cpu|cuda|null|null:US]"},
    {"chat", gptoss::cli::RunChat, "[--server ADDR] [--reasoning low|medium|high] < lines"},
    {"health", gptoss::cli::RunHealth,
     "[--server ADDR] [--service NAME] [--tls-ca FILE] (exit 0 when SERVING: probes)"},
    {"coordinator", gptoss::cli::RunCoordinator,
     "--model DIR [--port P] [--world-size N] (as gptoss-coordinator)"},
    {"worker", gptoss::cli::RunWorker,
     "--coordinator ADDR --model DIR [--device auto|cpu|cuda|null|null:US] (as gptoss-worker)"},
#endif
};

void Usage() {
  std::fprintf(stderr, "usage: gptoss <command> [flags]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(stderr, "  %-16s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    Usage();
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::string(argv[1]) == c.name) return c.run(argc - 2, argv + 2);
  }
  std::fprintf(stderr, "gptoss: unknown command '%s'\n", argv[1]);
  Usage();
  return 2;
}
