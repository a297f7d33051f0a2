// ChatEventStream: completion tokens of an assistant turn → Chat events, with the real
// o200k_harmony tokenizer (no network, no model).
#include "absl/strings/str_join.h"
#include "coordinator/chat_stream.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gptoss {
namespace {

namespace h = harmony;

class ChatStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tokenizer_ = Tokenizer::Load("").value().release(); }
  static void TearDownTestSuite() { delete tokenizer_; }

  // Appends the ordinary-text tokens of `text`.
  void Text(std::vector<int>& ids, const std::string& text) {
    std::vector<int> t = tokenizer_->Encode(text);
    ids.insert(ids.end(), t.begin(), t.end());
  }
  // An assistant message's completion tokens after "<|start|>assistant" (first) or from
  // <|start|> (later messages).
  std::vector<int> Message(bool first, const std::string& header, const std::string& content,
                           int end_token) {
    std::vector<int> ids;
    if (!first) {
      ids.push_back(h::kStartToken);
      Text(ids, "assistant");
    }
    ids.push_back(h::kChannelToken);
    Text(ids, header);
    ids.push_back(h::kMessageToken);
    Text(ids, content);
    ids.push_back(end_token);
    return ids;
  }

  struct Result {
    std::vector<v1::ChatResponse> events;
    std::optional<std::string> stop_string;
    v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
    std::string stop_reason;
  };
  // Feeds `ids`; the last one ends the request with `last` (kStop for stop ids).
  Result Run(ChatEventStream& stream, const std::vector<int>& ids, FinishReason last) {
    Result r;
    for (size_t i = 0; i < ids.size(); ++i) {
      SequenceUpdate u;
      u.id = 1;
      u.token_id = ids[i];
      u.logprob = -0.5f;
      u.num_output = static_cast<int>(i + 1);
      if (i + 1 == ids.size()) u.finish = last;
      ChatEventStream::Step step = stream.OnToken(u);
      for (auto& e : step.events) r.events.push_back(e);
      if (step.stop_string) {
        r.stop_string = step.stop_string;
        return r;
      }
      if (u.finish != FinishReason::kNone) r.finish = stream.FinishReasonOf(u, &r.stop_reason);
    }
    return r;
  }
  static std::string TextOn(const Result& r, v1::Channel channel) {
    std::string out;
    for (const auto& e : r.events)
      if (e.has_delta() && e.delta().channel() == channel) out += e.delta().text();
    return out;
  }

  static Tokenizer* tokenizer_;
};
Tokenizer* ChatStreamTest::tokenizer_ = nullptr;

TEST_F(ChatStreamTest, AnalysisThenFinalAnswer) {
  std::vector<int> ids = Message(true, "analysis", "User asks 2+2. Easy.", h::kEndToken);
  std::vector<int> final = Message(false, "final", "2 + 2 = 4.", h::kReturnToken);
  ids.insert(ids.end(), final.begin(), final.end());

  ChatEventStream hidden(tokenizer_, {/*include_analysis=*/false, false, {}, {}});
  Result r = Run(hidden, ids, FinishReason::kStop);
  EXPECT_EQ(TextOn(r, v1::CHANNEL_ANALYSIS), "");
  EXPECT_EQ(TextOn(r, v1::CHANNEL_FINAL), "2 + 2 = 4.");
  EXPECT_EQ(r.finish, v1::FINISH_REASON_STOP);
  EXPECT_EQ(r.stop_reason, "<|return|>");

  ChatEventStream shown(tokenizer_, {/*include_analysis=*/true, /*logprobs=*/true, {}, {}});
  r = Run(shown, ids, FinishReason::kStop);
  EXPECT_EQ(TextOn(r, v1::CHANNEL_ANALYSIS), "User asks 2+2. Easy.");
  EXPECT_EQ(TextOn(r, v1::CHANNEL_FINAL), "2 + 2 = 4.");
  // Token ids: every token up to the last content token, in order, each with its logprob.
  std::vector<int> streamed;
  for (const auto& e : r.events) {
    ASSERT_TRUE(e.has_delta());
    EXPECT_EQ(e.delta().logprobs_size(), e.delta().token_ids_size());
    streamed.insert(streamed.end(), e.delta().token_ids().begin(), e.delta().token_ids().end());
  }
  EXPECT_EQ(streamed, std::vector<int>(ids.begin(), ids.end() - 1));  // all but <|return|>
}

TEST_F(ChatStreamTest, ToolCallBecomesAToolCallEvent) {
  std::vector<int> ids = Message(true, "analysis", "Need the weather tool.", h::kEndToken);
  std::vector<int> call;
  call.push_back(h::kStartToken);
  Text(call, "assistant");
  call.push_back(h::kChannelToken);
  Text(call, "commentary to=functions.get_weather ");
  call.push_back(h::kConstrainToken);
  Text(call, "json");
  call.push_back(h::kMessageToken);
  Text(call, R"({"city":"Paris"})");
  call.push_back(h::kCallToken);
  ids.insert(ids.end(), call.begin(), call.end());

  ChatEventStream stream(tokenizer_, {false, false, {}, {}});
  Result r = Run(stream, ids, FinishReason::kStop);
  EXPECT_EQ(r.finish, v1::FINISH_REASON_TOOL_CALLS);
  ASSERT_FALSE(r.events.empty());
  const v1::ChatResponse& last = r.events.back();
  ASSERT_TRUE(last.has_tool_call());
  EXPECT_EQ(last.tool_call().id(), "call_0");
  EXPECT_EQ(last.tool_call().name(), "get_weather");
  EXPECT_EQ(last.tool_call().arguments_json(), R"({"city":"Paris"})");
  // The arguments also streamed as commentary text addressed to the tool.
  ASSERT_TRUE(r.events.front().has_delta());
  EXPECT_EQ(r.events.front().delta().channel(), v1::CHANNEL_COMMENTARY);
  EXPECT_EQ(r.events.front().delta().recipient(), "functions.get_weather");
  EXPECT_EQ(TextOn(r, v1::CHANNEL_COMMENTARY), R"({"city":"Paris"})");
}

TEST_F(ChatStreamTest, StopStringCutsTheContent) {
  std::vector<int> ids = Message(true, "final", "The answer is four, surely.", h::kReturnToken);
  ChatEventStream stream(tokenizer_, {false, false, {"four"}, {}});
  Result r = Run(stream, ids, FinishReason::kStop);
  ASSERT_TRUE(r.stop_string.has_value());
  EXPECT_EQ(*r.stop_string, "four");
  EXPECT_EQ(TextOn(r, v1::CHANNEL_FINAL), "The answer is ");
}

TEST_F(ChatStreamTest, StopStringsDoNotSpanMessages) {
  // "ab" ends the analysis message and "c" starts the final one: "abc" must not match.
  std::vector<int> ids = Message(true, "analysis", "ab", h::kEndToken);
  std::vector<int> final = Message(false, "final", "cd", h::kReturnToken);
  ids.insert(ids.end(), final.begin(), final.end());
  ChatEventStream stream(tokenizer_, {true, false, {"abc", "bc"}, {}});
  Result r = Run(stream, ids, FinishReason::kStop);
  EXPECT_FALSE(r.stop_string.has_value());
  EXPECT_EQ(TextOn(r, v1::CHANNEL_ANALYSIS), "ab");
  EXPECT_EQ(TextOn(r, v1::CHANNEL_FINAL), "cd");
}

TEST_F(ChatStreamTest, LengthClosesTheOpenMessage) {
  std::vector<int> ids = Message(true, "final", "An unfinished thought", h::kEndToken);
  ids.pop_back();  // max_tokens reached inside the content
  ChatEventStream stream(tokenizer_, {false, false, {}, {}});
  Result r = Run(stream, ids, FinishReason::kLength);
  EXPECT_EQ(r.finish, v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(TextOn(r, v1::CHANNEL_FINAL), "An unfinished thought");
}

TEST_F(ChatStreamTest, OtherStopIdsAddNoText) {
  std::vector<int> ids = Message(true, "final", "Hi", h::kEndOfTextToken);
  ChatEventStream stream(tokenizer_, {false, false, {}, {}});
  Result r = Run(stream, ids, FinishReason::kStop);
  EXPECT_EQ(TextOn(r, v1::CHANNEL_FINAL), "Hi");
  EXPECT_EQ(r.finish, v1::FINISH_REASON_STOP);
  EXPECT_EQ(r.stop_reason, "<|endoftext|>");
}

// harmony reads a lone header word as the recipient: "<|constrain|>json" must not become a tool
// name or a delta's recipient (nothing raw reaches a client).
TEST_F(ChatStreamTest, ASpecialTokenLiteralIsNoRecipient) {
  ChatEventStream stream(tokenizer_, {});
  std::vector<int> ids = {h::kChannelToken};
  Text(ids, "commentary ");
  ids.push_back(h::kConstrainToken);
  Text(ids, "json");
  ids.push_back(h::kMessageToken);
  Text(ids, "{\"a\": 1}");
  ids.push_back(h::kCallToken);
  Result r = Run(stream, ids, FinishReason::kStop);
  for (const auto& e : r.events) {
    EXPECT_FALSE(e.has_tool_call()) << e.DebugString();
    if (e.has_delta()) {
      EXPECT_EQ(e.delta().recipient().find("<|"), std::string::npos);
    }
  }
  EXPECT_EQ(r.finish, v1::FINISH_REASON_STOP);  // no call was made
}

// Seen from the trained toy model: an analysis message ended by <|call|>, with no recipient. No
// call was made, so the client must not be told to run one.
TEST_F(ChatStreamTest, ACallTokenWithoutAToolCallIsAStop) {
  std::vector<int> ids =
      Message(true, "analysis", "The user asks about the weather in New\"}", h::kCallToken);
  ChatEventStream stream(tokenizer_, {true, false, {}, {}});
  Result r = Run(stream, ids, FinishReason::kStop);
  for (const auto& e : r.events) EXPECT_FALSE(e.has_tool_call()) << e.DebugString();
  EXPECT_EQ(TextOn(r, v1::CHANNEL_ANALYSIS), "The user asks about the weather in New\"}");
  EXPECT_EQ(r.finish, v1::FINISH_REASON_STOP);
  EXPECT_EQ(r.stop_reason, "<|call|>");
}

TEST_F(ChatStreamTest, MalformedOutputProducesNoEvents) {
  std::vector<int> ids;
  Text(ids, "random words without any harmony structure at all");
  ChatEventStream stream(tokenizer_, {true, false, {}, {}});
  Result r = Run(stream, ids, FinishReason::kLength);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.finish, v1::FINISH_REASON_LENGTH);
}

}  // namespace
}  // namespace gptoss
