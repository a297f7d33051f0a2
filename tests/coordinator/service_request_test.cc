// The coordinator's request handling without a network: stop strings, field validation, and
// ChatRequest → harmony conversation.
#include <cmath>

#include "absl/strings/match.h"
#include "coordinator/chat_prompt.h"
#include "coordinator/request_validation.h"
#include "coordinator/stop_strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gptoss {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// ---------------------------------------------------------------------------------------------
// StopStringMatcher
// ---------------------------------------------------------------------------------------------

TEST(StopStringsTest, WithoutStopsTextPassesThrough) {
  StopStringMatcher m({});
  EXPECT_EQ(m.Push("abc").text, "abc");
  EXPECT_FALSE(m.Push("def").match.has_value());
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopStringsTest, HoldsBackAPossibleStartAndReleasesItWhenItIsNot) {
  StopStringMatcher m({"STOP"});
  auto a = m.Push("hello ST");
  EXPECT_EQ(a.text, "hello ");  // "ST" may begin "STOP"
  auto b = m.Push("ART");
  EXPECT_EQ(b.text, "START");
  EXPECT_FALSE(b.match.has_value());
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopStringsTest, MatchAcrossPiecesCutsBeforeTheMatch) {
  StopStringMatcher m({"STOP"});
  EXPECT_EQ(m.Push("one S").text, "one ");
  EXPECT_EQ(m.Push("T").text, "");
  auto out = m.Push("OP and more");
  EXPECT_EQ(out.text, "");
  ASSERT_TRUE(out.match.has_value());
  EXPECT_EQ(*out.match, "STOP");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.Push("later").text, "");  // nothing after a match
}

TEST(StopStringsTest, EarliestMatchWinsThenLongest) {
  StopStringMatcher m({"cd", "bc", "b"});
  auto out = m.Push("abcd");
  EXPECT_EQ(out.text, "a");
  EXPECT_EQ(*out.match, "bc");
}

TEST(StopStringsTest, FlushReturnsHeldText) {
  StopStringMatcher m({"xyz"});
  EXPECT_EQ(m.Push("abx").text, "ab");
  EXPECT_EQ(m.Flush(), "x");
}

TEST(StopStringsTest, MultiByteStopStringsStayOnCodePointBoundaries) {
  StopStringMatcher m({"é!"});
  EXPECT_EQ(m.Push("caf\xC3\xA9").text, "caf");  // "é" might begin "é!"
  auto out = m.Push("!");
  EXPECT_EQ(out.text, "");
  EXPECT_EQ(*out.match, "é!");
}

// ---------------------------------------------------------------------------------------------
// Request validation
// ---------------------------------------------------------------------------------------------

ServingLimits Limits() {
  ServingLimits l;
  l.vocab_size = 1000;
  l.context_length = 100;
  l.eos_token_ids = {7, 9};
  return l;
}

absl::StatusOr<CommonParams> Validate(const v1::SamplingParams& s, const v1::StopParams& stop = {},
                                      const v1::LogprobParams& lp = {}, int priority = 0,
                                      const std::string& id = "") {
  return ValidateCommon(s, stop, lp, priority, id, Limits(), /*random_seed=*/99);
}

TEST(RequestValidationTest, DefaultsFollowTheProto) {
  absl::StatusOr<CommonParams> p = Validate({});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->sampling.temperature, 1.0f);
  EXPECT_EQ(p->sampling.top_p, 1.0f);
  EXPECT_EQ(p->sampling.top_k, 0);
  EXPECT_EQ(p->sampling.repetition_penalty, 1.0f);
  EXPECT_EQ(p->sampling.seed, 99u);  // the random seed when none is given
  EXPECT_FALSE(p->max_tokens.has_value());
  EXPECT_FALSE(p->logprobs);
}

TEST(RequestValidationTest, EachOutOfRangeValueNamesItsField) {
  struct Case {
    const char* field;
    std::function<void(v1::SamplingParams&, v1::StopParams&, v1::LogprobParams&, int&,
                       std::string&)>
        mutate;
  };
  const std::vector<Case> cases = {
      {"sampling.temperature",
       [](auto& s, auto&, auto&, auto&, auto&) { s.set_temperature(-0.1f); }},
      {"sampling.temperature", [](auto& s, auto&, auto&, auto&, auto&) { s.set_temperature(NAN); }},
      {"sampling.top_p", [](auto& s, auto&, auto&, auto&, auto&) { s.set_top_p(0.0f); }},
      {"sampling.top_k", [](auto& s, auto&, auto&, auto&, auto&) { s.set_top_k(1001); }},
      {"sampling.min_p", [](auto& s, auto&, auto&, auto&, auto&) { s.set_min_p(1.5f); }},
      {"sampling.presence_penalty",
       [](auto& s, auto&, auto&, auto&, auto&) { s.set_presence_penalty(-2.5f); }},
      {"sampling.frequency_penalty",
       [](auto& s, auto&, auto&, auto&, auto&) { s.set_frequency_penalty(NAN); }},
      {"sampling.repetition_penalty",
       [](auto& s, auto&, auto&, auto&, auto&) { s.set_repetition_penalty(10.5f); }},
      {"stop.max_tokens", [](auto&, auto& st, auto&, auto&, auto&) { st.set_max_tokens(0); }},
      {"stop.max_tokens", [](auto&, auto& st, auto&, auto&, auto&) { st.set_max_tokens(101); }},
      {"stop.stop[1]", [](auto&, auto& st, auto&, auto&,
                          auto&) { st.add_stop("ok"), st.add_stop(std::string(257, 'x')); }},
      {"stop.stop[0]", [](auto&, auto& st, auto&, auto&, auto&) { st.add_stop("\xC3"); }},
      {"stop.stop_token_ids[0]",
       [](auto&, auto& st, auto&, auto&, auto&) { st.add_stop_token_ids(-1); }},
      {"stop.stop_token_ids",
       [](auto&, auto& st, auto&, auto&, auto&) {
         for (int i = 0; i < 65; ++i) st.add_stop_token_ids(1);
       }},
      {"logprobs.top_logprobs",
       [](auto&, auto&, auto& lp, auto&, auto&) { lp.set_enabled(true), lp.set_top_logprobs(21); }},
      {"priority", [](auto&, auto&, auto&, auto& p, auto&) { p = -101; }},
      {"request_id", [](auto&, auto&, auto&, auto&, auto& id) { id = std::string(129, 'i'); }},
  };
  for (const Case& c : cases) {
    v1::SamplingParams s;
    v1::StopParams st;
    v1::LogprobParams lp;
    int priority = 0;
    std::string id;
    c.mutate(s, st, lp, priority, id);
    absl::StatusOr<CommonParams> p = Validate(s, st, lp, priority, id);
    ASSERT_FALSE(p.ok()) << c.field;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(p.status().message(), std::string(c.field) + ":"))
        << c.field << " vs " << p.status().message();
  }
}

TEST(RequestValidationTest, PromptLengthAgainstTheContext) {
  EXPECT_THAT(ValidatePromptLength(0, std::nullopt, Limits()).message(), HasSubstr("prompt:"));
  EXPECT_THAT(ValidatePromptLength(100, std::nullopt, Limits()).message(), HasSubstr("prompt:"));
  EXPECT_TRUE(ValidatePromptLength(99, std::nullopt, Limits()).ok());
  EXPECT_TRUE(ValidatePromptLength(90, 10, Limits()).ok());
  EXPECT_THAT(ValidatePromptLength(90, 11, Limits()).message(), HasSubstr("stop.max_tokens:"));
}

TEST(RequestValidationTest, SequenceRequestStopIds) {
  v1::StopParams stop;
  stop.add_stop_token_ids(9);
  stop.add_stop_token_ids(42);
  absl::StatusOr<CommonParams> p = Validate({}, stop);
  ASSERT_TRUE(p.ok());
  SequenceRequest r = MakeSequenceRequest({1, 2}, *p, Limits());
  EXPECT_THAT(r.stop_token_ids, UnorderedElementsAre(7, 9, 42));
  EXPECT_EQ(r.max_tokens, 0);
  stop.set_ignore_eos(true);
  p = Validate({}, stop);
  ASSERT_TRUE(p.ok());
  EXPECT_THAT(MakeSequenceRequest({1}, *p, Limits()).stop_token_ids, ElementsAre(9, 42));
}

// ---------------------------------------------------------------------------------------------
// ChatRequest → harmony conversation
// ---------------------------------------------------------------------------------------------

v1::ChatMessage* Add(v1::ChatRequest& r, v1::Role role, const std::string& content) {
  v1::ChatMessage* m = r.add_messages();
  m->set_role(role);
  m->set_content(content);
  return m;
}

TEST(ChatPromptTest, BuildsTheHarmonyLayout) {
  v1::ChatRequest r;
  Add(r, v1::ROLE_SYSTEM, "You are a pirate.");
  Add(r, v1::ROLE_DEVELOPER, "Answer briefly.");
  Add(r, v1::ROLE_USER, "Weather?");
  v1::ChatMessage* call = Add(r, v1::ROLE_ASSISTANT, R"({"city":"Paris"})");
  call->set_channel(v1::CHANNEL_COMMENTARY);
  call->set_recipient("functions.get_weather");
  call->set_content_type("<|constrain|>json");
  v1::ChatMessage* tool = Add(r, v1::ROLE_TOOL, R"({"sunny":true})");
  tool->set_name("functions.get_weather");
  v1::FunctionTool* f = r.add_tools();
  f->set_name("get_weather");
  f->set_description("Weather of a city");
  f->set_parameters_json(R"({"type":"object","properties":{"city":{"type":"string"}}})");
  r.set_reasoning_effort(v1::REASONING_EFFORT_HIGH);

  absl::StatusOr<harmony::Conversation> c = ConversationFromChatRequest(r, "2026-11-23");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->messages.size(), 5u);  // system, developer, user, assistant call, tool
  const auto& system = std::get<harmony::SystemContent>(c->messages[0].content.at(0));
  EXPECT_EQ(system.model_identity, "You are a pirate.");
  EXPECT_EQ(system.reasoning_effort, harmony::ReasoningEffort::kHigh);
  EXPECT_EQ(system.conversation_start_date, "2026-11-23");
  const auto& developer = std::get<harmony::DeveloperContent>(c->messages[1].content.at(0));
  EXPECT_EQ(developer.instructions, "Answer briefly.");
  ASSERT_TRUE(developer.tools.has_value());
  const harmony::ToolNamespace& functions = developer.tools->at("functions");
  ASSERT_EQ(functions.tools.size(), 1u);
  EXPECT_EQ(functions.tools[0].name, "get_weather");
  ASSERT_TRUE(functions.tools[0].parameters.has_value());
  EXPECT_EQ(functions.tools[0].parameters->at("type"), "object");
  EXPECT_EQ(c->messages[2], harmony::Message::Text(harmony::Role::kUser, "Weather?"));
  EXPECT_EQ(c->messages[3].recipient, "functions.get_weather");
  EXPECT_EQ(c->messages[3].channel, "commentary");
  EXPECT_EQ(c->messages[3].content_type, "<|constrain|>json");
  EXPECT_EQ(c->messages[4].author.name, "functions.get_weather");
}

// A developer message after the conversation started stays where it is, as openai-harmony's
// Message.from_role_and_content(Role.DEVELOPER, text); only the first one, before the
// conversation, carries the instructions.
TEST(ChatPromptTest, LaterDeveloperMessagesStayInPlace) {
  v1::ChatRequest r;
  Add(r, v1::ROLE_DEVELOPER, "Be brief.");
  Add(r, v1::ROLE_USER, "hi");
  Add(r, v1::ROLE_DEVELOPER, "From now on, answer in French.");
  Add(r, v1::ROLE_USER, "hello?");
  absl::StatusOr<harmony::Conversation> c = ConversationFromChatRequest(r, "2026-11-23");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->messages.size(), 5u);  // system, developer (instructions), user, developer, user
  EXPECT_EQ(std::get<harmony::DeveloperContent>(c->messages[1].content.at(0)).instructions,
            "Be brief.");
  EXPECT_EQ(c->messages[3],
            harmony::Message::Text(harmony::Role::kDeveloper, "From now on, answer in French."));
  // A late system message is still refused: harmony's system message is the first one.
  Add(r, v1::ROLE_SYSTEM, "late");
  EXPECT_THAT(ConversationFromChatRequest(r, "2026-11-23").status().message(),
              HasSubstr("messages[4].role"));
}

TEST(ChatPromptTest, DefaultsWithoutSystemOrTools) {
  v1::ChatRequest r;
  Add(r, v1::ROLE_USER, "hi");
  Add(r, v1::ROLE_ASSISTANT, "hello");
  absl::StatusOr<harmony::Conversation> c = ConversationFromChatRequest(r, "2026-01-02");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->messages.size(), 3u);  // default system, user, assistant (no developer)
  const auto& system = std::get<harmony::SystemContent>(c->messages[0].content.at(0));
  EXPECT_EQ(system.model_identity, harmony::SystemContent::Default().model_identity);
  EXPECT_EQ(system.reasoning_effort, harmony::ReasoningEffort::kMedium);
  EXPECT_EQ(c->messages[2].channel, "final");
  EXPECT_EQ(TodayUtc().size(), 10u);
}

TEST(ChatPromptTest, ToolSchemaTooDeepIsRejected) {
  v1::ChatRequest r;
  Add(r, v1::ROLE_USER, "hi");
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 200; ++i) deep += "}";
  v1::FunctionTool* f = r.add_tools();
  f->set_name("f");
  f->set_parameters_json(deep);
  absl::StatusOr<harmony::Conversation> c = ConversationFromChatRequest(r, "2026-01-02");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::StartsWith(c.status().message(), "tools[0].parameters_json:"))
      << c.status().message();
}

}  // namespace
}  // namespace gptoss
