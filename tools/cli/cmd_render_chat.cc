// gptoss render-chat [--tokenizer PATH]: a harmony conversation (JSON, openai-harmony's shape:
// {"messages": [...]}, see coordinator/tokenizer/harmony_json.h) on stdin → the prompt ids for
// the assistant's next turn on one line, separated by spaces; exactly openai-harmony's
// render_conversation_for_completion(conversation, Role.ASSISTANT).
// Exit codes: 0 ok, 1 bad input or tokenizer (one message on stderr), 2 bad flags.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "absl/strings/str_join.h"
#include "coordinator/tokenizer/harmony_json.h"
#include "coordinator/tokenizer/harmony_renderer.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "tools/cli/commands.h"
#include "kernels/core/flags.h"

namespace gptoss::cli {
namespace {

int Fail(int code, const absl::Status& status) {
  std::fprintf(stderr, "gptoss render-chat: %s\n", std::string(status.message()).c_str());
  return code;
}

}  // namespace

int RunRenderChat(int argc, char** argv) {
  absl::StatusOr<Flags> flags = Flags::Parse(argc, argv, {"tokenizer"});
  if (!flags.ok()) return Fail(2, flags.status());
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      Tokenizer::Load(flags->GetOr("tokenizer", ""));
  if (!tokenizer.ok()) return Fail(1, tokenizer.status());
  absl::StatusOr<harmony::HarmonyRenderer> renderer =
      harmony::HarmonyRenderer::Create(tokenizer->get());
  if (!renderer.ok()) return Fail(1, renderer.status());

  const std::string input(std::istreambuf_iterator<char>(std::cin), {});
  absl::StatusOr<harmony::Conversation> conversation = harmony::ConversationFromJsonText(input);
  if (!conversation.ok()) return Fail(1, conversation.status());
  absl::StatusOr<std::vector<int>> ids = renderer->RenderForCompletion(*conversation);
  if (!ids.ok()) return Fail(1, ids.status());
  const std::string line = absl::StrJoin(*ids, " ") + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : Fail(1, absl::InternalError("cannot write stdout"));
}

}  // namespace gptoss::cli
