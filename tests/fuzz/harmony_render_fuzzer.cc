// libFuzzer target for conversation JSON → harmony prompt ids: any input either renders or is
// rejected with InvalidArgument; never a crash, hang or sanitizer report. Seed it with
// tests/data/harmony/conversations.jsonl lines (one document per file) for useful coverage.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "coordinator/tokenizer/harmony_json.h"
#include "coordinator/tokenizer/harmony_renderer.h"
#include "coordinator/tokenizer/tokenizer.h"

namespace {
const gptoss::Tokenizer* g_tokenizer = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto t = gptoss::Tokenizer::LoadTiktoken(std::string(GPTOSS_SOURCE_DIR) +
                                           "/coordinator/tokenizer/assets/o200k_base.tiktoken");
  if (!t.ok()) {
    std::fprintf(stderr, "cannot load tokenizer: %s\n", std::string(t.status().message()).c_str());
    std::abort();
  }
  g_tokenizer = t->release();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gptoss::harmony;
  static const HarmonyRenderer renderer = *HarmonyRenderer::Create(g_tokenizer);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Conversation> conversation = ConversationFromJsonText(text);
  if (!conversation.ok()) {
    if (conversation.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  absl::StatusOr<std::vector<int>> ids = renderer.RenderForCompletion(*conversation);
  if (!ids.ok() && ids.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
  // Reading back what we write must give the same conversation.
  absl::StatusOr<Conversation> again = ConversationFromJson(ConversationToJson(*conversation));
  if (!again.ok() || again->messages.size() != conversation->messages.size()) std::abort();
  for (size_t i = 0; i < again->messages.size(); ++i) {
    if (!(again->messages[i] == conversation->messages[i])) std::abort();
  }
  return 0;
}
