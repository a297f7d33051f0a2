// Renderer vs openai-harmony: every conversation of the committed suite renders to exactly the
// oracle's ids (for completion with and without analysis dropping, plain, and for training),
// and conversations the oracle rejects are rejected.
#include <string>
#include <vector>

#include "coordinator/tokenizer/harmony_json.h"
#include "coordinator/tokenizer/harmony_renderer.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "gtest/gtest.h"
#include "tests/coordinator/harmony_test_util.h"

namespace gptoss::harmony {
namespace {

using ::gptoss::harmony::testing::ReadJsonLines;
using ::gptoss::harmony::testing::SharedTokenizer;
using ::gptoss::harmony::testing::SuiteConversation;

// Shows where two id sequences diverge, decoded, instead of two walls of numbers.
std::string Divergence(const std::vector<int>& got, const std::vector<int>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  auto text = [](const std::vector<int>& ids, size_t from) {
    std::vector<int> tail(ids.begin() + std::min(from, ids.size()),
                          ids.begin() + std::min(from + 12, ids.size()));
    absl::StatusOr<std::string> s = SharedTokenizer()->Decode(tail);
    return s.ok() ? *s : std::string("<undecodable>");
  };
  return "first difference at id " + std::to_string(i) + " of " + std::to_string(want.size()) +
         "\n  got:  " + text(got, i) + "\n  want: " + text(want, i);
}

TEST(HarmonyRender, MatchesOpenAiHarmonyOnTheSuite) {
  ASSERT_NE(SharedTokenizer(), nullptr);
  absl::StatusOr<HarmonyRenderer> renderer = HarmonyRenderer::Create(SharedTokenizer());
  ASSERT_TRUE(renderer.ok()) << renderer.status();
  const auto inputs = ReadJsonLines("conversations.jsonl");
  const auto expected = ReadJsonLines("render_expected.jsonl");
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_GE(inputs.size(), 20u);
  int rejected = 0;
  for (size_t n = 0; n < inputs.size(); ++n) {
    const std::string name = inputs[n]["name"].get<std::string>();
    SCOPED_TRACE(name);
    ASSERT_EQ(expected[n]["name"], name);
    absl::StatusOr<Conversation> conv = SuiteConversation(inputs[n]);
    const auto& want = expected[n];
    if (want.contains("error") && !conv.ok()) {  // rejected when reading the JSON, like harmony
      ++rejected;
      EXPECT_EQ(conv.status().code(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    ASSERT_TRUE(conv.ok()) << conv.status();
    if (want.contains("error")) {
      ++rejected;
      absl::StatusOr<std::vector<int>> ids = renderer->RenderForCompletion(*conv);
      ASSERT_FALSE(ids.ok()) << "the oracle rejects it: " << want["error"];
      EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_FALSE(renderer->RenderConversation(*conv).ok());
      EXPECT_FALSE(renderer->RenderForTraining(*conv).ok());
      continue;
    }
    struct Variant {
      const char* key;
      absl::StatusOr<std::vector<int>> ids;
    };
    Variant variants[] = {
        {"completion", renderer->RenderForCompletion(*conv)},
        {"completion_keep_analysis",
         renderer->RenderForCompletion(*conv, Role::kAssistant, {.auto_drop_analysis = false})},
        {"conversation", renderer->RenderConversation(*conv)},
        {"training", renderer->RenderForTraining(*conv)},
    };
    for (Variant& v : variants) {
      ASSERT_TRUE(v.ids.ok()) << v.key << ": " << v.ids.status();
      const std::vector<int> want_ids = want[v.key].get<std::vector<int>>();
      EXPECT_EQ(*v.ids, want_ids) << v.key << ": " << Divergence(*v.ids, want_ids);
    }
  }
  EXPECT_EQ(rejected, 5);
}

TEST(HarmonyRender, SingleMessageIsTheConversationOfOne) {
  absl::StatusOr<HarmonyRenderer> renderer = HarmonyRenderer::Create(SharedTokenizer());
  ASSERT_TRUE(renderer.ok()) << renderer.status();
  for (const auto& c : ReadJsonLines("conversations.jsonl")) {
    absl::StatusOr<Conversation> conv = SuiteConversation(c);
    if (!conv.ok()) continue;  // the suite's unreadable documents
    for (const Message& m : conv->messages) {
      if (m.author.role == Role::kTool && !m.author.name.has_value()) continue;
      Conversation one{{m}};
      absl::StatusOr<std::vector<int>> a = renderer->RenderMessage(m);
      absl::StatusOr<std::vector<int>> b = renderer->RenderConversation(one);
      ASSERT_EQ(a.ok(), b.ok());
      if (a.ok()) {
        EXPECT_EQ(*a, *b);
      }
    }
  }
}

TEST(HarmonyRender, TokenConstantsMatchTheTokenizer) {
  const Tokenizer* t = SharedTokenizer();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->SpecialTokenId("<|return|>").value(), kReturnToken);
  EXPECT_EQ(t->SpecialTokenId("<|call|>").value(), kCallToken);
  EXPECT_EQ(t->SpecialTokenId("<|endoftext|>").value(), kEndOfTextToken);
  EXPECT_EQ(t->SpecialTokenId("<|end|>").value(), kEndToken);
  // <|end|> closes a message, not the generation.
  EXPECT_FALSE(IsGenerationStopToken(kEndToken));
  for (int id : kGenerationStopTokens) EXPECT_TRUE(IsGenerationStopToken(id));
  EXPECT_EQ(kGenerationStopTokens.size(), 3u);
}

TEST(HarmonyRender, RejectsANullTokenizer) { EXPECT_FALSE(HarmonyRenderer::Create(nullptr).ok()); }

}  // namespace
}  // namespace gptoss::harmony
