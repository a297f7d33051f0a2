// Streaming parser vs openai-harmony's StreamableParser, token by token, on the committed
// completions; malformed output is reported and skipped up to the next <|start|>, keeping what
// the oracle parses from the well-formed pieces.
#include "coordinator/tokenizer/harmony_parser.h"

#include <random>
#include <string>
#include <vector>

#include "coordinator/tokenizer/harmony_json.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "gtest/gtest.h"
#include "tests/coordinator/harmony_test_util.h"

namespace gptoss::harmony {
namespace {

using ::gptoss::harmony::testing::OptString;
using ::gptoss::harmony::testing::ReadJsonLines;
using ::gptoss::harmony::testing::SharedTokenizer;

std::optional<Role> StartRole(const nlohmann::ordered_json& c) {
  if (c["role"].is_null()) return std::nullopt;
  return RoleFromName(c["role"].get<std::string>());
}

std::optional<std::string> RoleText(std::optional<Role> r) {
  if (!r.has_value()) return std::nullopt;
  return std::string(RoleName(*r));
}

std::vector<Message> ExpectedMessages(const nlohmann::ordered_json& list) {
  std::vector<Message> out;
  for (const auto& m : list) {
    absl::StatusOr<Message> msg = MessageFromJson(m);
    EXPECT_TRUE(msg.ok()) << msg.status();
    if (msg.ok()) out.push_back(*std::move(msg));
  }
  return out;
}

TEST(HarmonyParser, MatchesStreamableParserTokenByToken) {
  ASSERT_NE(SharedTokenizer(), nullptr);
  const auto cases = ReadJsonLines("completions.jsonl");
  ASSERT_GE(cases.size(), 20u);
  bool saw_call = false, saw_return = false, saw_end = false, saw_multi = false;
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    HarmonyStreamParser parser(SharedTokenizer(), StartRole(c));
    const std::vector<int> tokens = c["tokens"].get<std::vector<int>>();
    const auto& steps = c["steps"];
    ASSERT_EQ(tokens.size(), steps.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      SCOPED_TRACE("token #" + std::to_string(i) + " = " + std::to_string(tokens[i]));
      const ParserStep step = parser.Process(tokens[i]);
      const auto& want = steps[i];
      EXPECT_FALSE(step.error.has_value()) << *step.error;
      EXPECT_EQ(ParserStateName(parser.state()), want["state"].get<std::string>());
      EXPECT_EQ(RoleText(parser.current_role()), OptString(want["role"]));
      EXPECT_EQ(parser.current_channel(), OptString(want["channel"]));
      EXPECT_EQ(parser.current_recipient(), OptString(want["recipient"]));
      EXPECT_EQ(parser.current_content_type(), OptString(want["content_type"]));
      EXPECT_EQ(parser.last_content_delta(), OptString(want["delta"]));
      EXPECT_EQ(step.content_delta, OptString(want["delta"]));
      EXPECT_EQ(parser.current_content(), want["content"].get<std::string>());
      EXPECT_EQ(parser.messages().size(), want["messages"].get<size_t>());
      saw_call |= tokens[i] == kCallToken;
      saw_return |= tokens[i] == kReturnToken;
      saw_end |= tokens[i] == kEndToken;
    }
    parser.ProcessEos();
    EXPECT_TRUE(parser.errors().empty());
    const std::vector<Message> want = ExpectedMessages(c["messages"]);
    ASSERT_EQ(parser.messages().size(), want.size());
    saw_multi |= want.size() > 1;
    for (size_t m = 0; m < want.size(); ++m) {
      EXPECT_TRUE(parser.messages()[m] == want[m]) << "message " << m;
      // Same JSON as the oracle emits, byte for byte.
      EXPECT_EQ(MessageToJson(parser.messages()[m]).dump(), c["messages"][m].dump());
    }
  }
  EXPECT_TRUE(saw_call && saw_return && saw_end && saw_multi);
}

TEST(HarmonyParser, ToolCallsComeOutWithNameAndArguments) {
  for (const auto& c : ReadJsonLines("completions.jsonl")) {
    if (c["name"] != "analysis_then_tool_call_channel_first") continue;
    HarmonyStreamParser parser(SharedTokenizer(), Role::kAssistant);
    for (int t : c["tokens"].get<std::vector<int>>()) parser.Process(t);
    parser.ProcessEos();
    const std::vector<ToolCall> calls = parser.tool_calls();
    ASSERT_EQ(calls.size(), 1u);
    // The oracle's message says which call it is; the call is a view of it.
    const Message& m = parser.messages().back();
    EXPECT_EQ(calls[0].recipient, *m.recipient);
    EXPECT_EQ(calls[0].namespace_name + "." + calls[0].name, *m.recipient);
    EXPECT_EQ(calls[0].namespace_name, "functions");
    EXPECT_EQ(calls[0].arguments, m.TextOf());
    EXPECT_EQ(calls[0].content_type, m.content_type);
    EXPECT_TRUE(calls[0].arguments_are_json);
    return;
  }
  FAIL() << "fixture case missing";
}

TEST(HarmonyParser, MalformedOutputIsReportedAndSkipped) {
  const auto cases = ReadJsonLines("malformed.jsonl");
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    HarmonyStreamParser parser(SharedTokenizer(), StartRole(c));
    for (int t : c["tokens"].get<std::vector<int>>()) {
      ParserStep step = parser.Process(t);
      if (step.content_delta.has_value()) {
        EXPECT_EQ(step.content_delta->find("<|"), std::string::npos) << *step.content_delta;
      }
    }
    parser.ProcessEos();
    EXPECT_FALSE(parser.errors().empty()) << "no error was reported";
    const std::vector<Message> want = ExpectedMessages(c["messages"]);
    ASSERT_EQ(parser.messages().size(), want.size());
    for (size_t m = 0; m < want.size(); ++m) {
      EXPECT_TRUE(parser.messages()[m] == want[m])
          << "message " << m << ": got " << MessageToJson(parser.messages()[m]).dump() << ", want "
          << c["messages"][m].dump();
      EXPECT_EQ(parser.messages()[m].TextOf().find("<|"), std::string::npos);
    }
  }
}

TEST(HarmonyParser, EveryProblemIsAnErrorEventNotACrash) {
  const Tokenizer* t = SharedTokenizer();
  ASSERT_NE(t, nullptr);
  // Ids outside the vocabulary, in every state.
  for (int bad : {-1, t->vocab_size(), 1 << 30}) {
    HarmonyStreamParser expect_start(t, std::nullopt);
    EXPECT_TRUE(expect_start.Process(bad).error.has_value());
    HarmonyStreamParser header(t, Role::kAssistant);
    EXPECT_TRUE(header.Process(bad).error.has_value());
    HarmonyStreamParser content(t, Role::kAssistant);
    content.Process(kMessageToken);
    ASSERT_EQ(content.state(), ParserState::kContent);
    const ParserStep step = content.Process(bad);
    EXPECT_TRUE(step.error.has_value());
    EXPECT_TRUE(step.message_done);
  }
  // An unknown channel is accepted when the options allow any channel (harmony's behaviour).
  HarmonyStreamParser any(t, Role::kAssistant, ParserOptions{.valid_channels = {}});
  any.Process(kChannelToken);
  for (int id : t->Encode("secret")) any.Process(id);
  EXPECT_TRUE(any.Process(kMessageToken).header_done);
  EXPECT_EQ(any.current_channel(), "secret");
  // Runaway headers are cut off.
  HarmonyStreamParser runaway(t, Role::kAssistant, ParserOptions{.max_header_tokens = 8});
  bool failed = false;
  for (int i = 0; i < 20; ++i) failed |= runaway.Process(t->Encode(" x")[0]).error.has_value();
  EXPECT_TRUE(failed);
}

TEST(HarmonyParser, RandomTokenSoupNeverLeaksSpecialText) {
  const Tokenizer* t = SharedTokenizer();
  ASSERT_NE(t, nullptr);
  // Mostly harmony specials and a few ordinary words, so every state and transition is hit.
  std::vector<int> alphabet = {kStartToken,
                               kEndToken,
                               kMessageToken,
                               kChannelToken,
                               kConstrainToken,
                               kReturnToken,
                               kCallToken,
                               kEndOfTextToken,
                               200013,
                               201087,
                               -5};
  for (const char* w : {"assistant", "user", " to=functions.f", "final", "analysis", " json",
                        "hello", " ", "\xC3\xA9"}) {
    for (int id : t->Encode(w)) alphabet.push_back(id);
  }
  alphabet.push_back(9552);  // " \xF0\x9F": an unfinished 4-byte character
  std::mt19937 rng(1234);
  for (int round = 0; round < 300; ++round) {
    std::optional<Role> start;
    if (round % 2) start = Role::kAssistant;
    HarmonyStreamParser parser(t, start);
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      const ParserStep s = parser.Process(alphabet[rng() % alphabet.size()]);
      if (s.content_delta.has_value()) {
        ASSERT_EQ(s.content_delta->find("<|"), std::string::npos);
      }
    }
    parser.ProcessEos();
    for (const Message& m : parser.messages()) {
      ASSERT_EQ(m.TextOf().find("<|"), std::string::npos) << m.TextOf();
    }
  }
}

TEST(HarmonyParser, HeaderGrammar) {
  // The tool-author header is also in completions.jsonl (tool_message); openai-harmony rejects
  // the malformed ones below too (no role, unknown role, empty channel, extra words, bad UTF-8).
  absl::StatusOr<MessageHeader> h =
      ParseMessageHeader("functions.get_weather to=assistant<|channel|>commentary", std::nullopt);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->author.role, Role::kTool);
  EXPECT_EQ(h->author.name, "functions.get_weather");
  EXPECT_EQ(h->recipient, "assistant");
  EXPECT_EQ(h->channel, "commentary");
  EXPECT_FALSE(ParseMessageHeader("", std::nullopt).ok());
  EXPECT_FALSE(ParseMessageHeader("robot", std::nullopt).ok());
  EXPECT_FALSE(ParseMessageHeader("assistant<|channel|>", std::nullopt).ok());
  EXPECT_FALSE(ParseMessageHeader("assistant a b c", std::nullopt).ok());
  EXPECT_FALSE(ParseMessageHeader("\xff", Role::kAssistant).ok());
}

}  // namespace
}  // namespace gptoss::harmony
