// Conversation JSON: the committed suite loads and round-trips; every malformed document is an
// InvalidArgument that names the offending field.
#include "coordinator/tokenizer/harmony_json.h"

#include <string>

#include "coordinator/tokenizer/harmony_serde_json.h"
#include "gtest/gtest.h"
#include "tests/coordinator/harmony_test_util.h"

namespace gptoss::harmony {
namespace {

using ::gptoss::harmony::testing::ReadJsonLines;
using ::gptoss::harmony::testing::SuiteConversation;

TEST(HarmonyJson, SuiteLoadsAndRoundTrips) {
  const auto cases = ReadJsonLines("conversations.jsonl");
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    absl::StatusOr<Conversation> conv = SuiteConversation(c);
    if (c["name"].get<std::string>().starts_with("error_nesting") ||
        c["name"].get<std::string>().starts_with("error_number")) {
      EXPECT_FALSE(conv.ok());  // openai-harmony cannot read these either
      continue;
    }
    ASSERT_TRUE(conv.ok()) << conv.status();
    absl::StatusOr<Conversation> again = ConversationFromJsonText(ConversationToJson(*conv).dump());
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_EQ(conv->messages.size(), again->messages.size());
    for (size_t i = 0; i < conv->messages.size(); ++i) {
      EXPECT_TRUE(conv->messages[i] == again->messages[i]) << "message " << i;
    }
  }
}

TEST(HarmonyJson, FieldsMeanWhatHarmonyMeans) {
  absl::StatusOr<Conversation> conv = ConversationFromJsonText(R"({"messages": [
      {"role": "system", "content": [{"type": "system_content", "reasoning_effort": "high",
                                      "knowledge_cutoff": null}]},
      {"role": "tool", "name": "functions.f", "recipient": "assistant", "channel": "commentary",
       "content": "42", "extra": {"ignored": true}},
      {"role": "assistant", "content": [], "content_type": "<|constrain|>json"}]})");
  ASSERT_TRUE(conv.ok()) << conv.status();
  ASSERT_EQ(conv->messages.size(), 3u);
  const auto& sys = std::get<SystemContent>(conv->messages[0].content.at(0));
  EXPECT_EQ(sys.reasoning_effort, ReasoningEffort::kHigh);
  // Absent means absent: no harmony builder defaults are filled in.
  EXPECT_FALSE(sys.model_identity.has_value());
  EXPECT_FALSE(sys.knowledge_cutoff.has_value());
  EXPECT_FALSE(sys.channel_config.has_value());
  const Message& tool = conv->messages[1];
  EXPECT_EQ(tool.author.role, Role::kTool);
  EXPECT_EQ(tool.author.name, "functions.f");
  EXPECT_EQ(tool.recipient, "assistant");
  EXPECT_EQ(tool.channel, "commentary");
  EXPECT_EQ(tool.TextOf(), "42");
  EXPECT_TRUE(conv->messages[2].content.empty());
  EXPECT_EQ(conv->messages[2].content_type, "<|constrain|>json");

  // A bare array is the message list.
  absl::StatusOr<Conversation> list =
      ConversationFromJsonText(R"([{"role":"user","content":"hi"}])");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->messages.at(0).TextOf(), "hi");
}

struct BadCase {
  const char* json;
  const char* names;  // text the error must contain
};

TEST(HarmonyJson, MalformedDocumentsNameTheField) {
  const BadCase cases[] = {
      {"", "invalid JSON"},
      {"{\"messages\": [", "invalid JSON"},
      {"{\"messages\": [] } trailing", "invalid JSON"},
      {"\"just a string\"", "(document)"},
      {"{}", "messages: missing"},
      {"{\"messages\": 3}", "messages: expected an array"},
      {"{\"messages\": [7]}", "messages[0]: expected a message object"},
      {"{\"messages\": [{\"content\": \"x\"}]}", "messages[0].role: missing"},
      {"{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", "messages[0].role"},
      {"{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}",
       "messages[0].role: expected a string"},
      {"{\"messages\": [{\"role\": \"user\"}]}", "messages[0].content: missing"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content: expected"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\", \"channel\": 5}]}",
       "messages[0].channel"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\", \"name\": []}]}",
       "messages[0].name"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\", \"recipient\": {}}]}",
       "messages[0].recipient"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"x\", \"content_type\": true}]}",
       "messages[0].content_type"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\"}]}]}",
       "messages[0].content[0].type"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"x\"}]}]}",
       "messages[0].content[0].type: missing"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]}",
       "messages[0].content[0].text: missing"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": [\"x\"]}]}",
       "messages[0].content[0]: expected a content object"},
      {"[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\","
       "\"reasoning_effort\":\"extreme\"}]}]",
       "[0].content[0].reasoning_effort"},
      {"[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\","
       "\"model_identity\":3}]}]",
       "[0].content[0].model_identity"},
      {"[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\","
       "\"channel_config\":{\"channel_required\":true}}]}]",
       "channel_config.valid_channels: missing"},
      {"[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\","
       "\"channel_config\":{\"valid_channels\":[\"a\",1],\"channel_required\":true}}]}]",
       "channel_config.valid_channels[1]"},
      {"[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\","
       "\"channel_config\":{\"valid_channels\":[]}}]}]",
       "channel_config.channel_required: missing"},
      {"[{\"role\":\"system\",\"content\":[{\"type\":\"system_content\",\"tools\":[]}]}]",
       "[0].content[0].tools: expected an object"},
      {"[{\"role\":\"developer\",\"content\":[{\"type\":\"developer_content\","
       "\"tools\":{\"functions\":{\"name\":\"functions\"}}}]}]",
       "tools.functions.tools: missing"},
      {"[{\"role\":\"developer\",\"content\":[{\"type\":\"developer_content\","
       "\"tools\":{\"functions\":{\"tools\":[]}}}]}]",
       "tools.functions.name: missing"},
      {"[{\"role\":\"developer\",\"content\":[{\"type\":\"developer_content\","
       "\"tools\":{\"functions\":{\"name\":\"functions\",\"tools\":[{\"name\":\"f\"}]}}}]}]",
       "tools.functions.tools[0].description: missing"},
      {"[{\"role\":\"developer\",\"content\":[{\"type\":\"developer_content\","
       "\"tools\":{\"functions\":{\"name\":\"functions\",\"tools\":[5]}}}]}]",
       "tools.functions.tools[0]: expected a tool object"},
      {"[{\"role\":\"developer\",\"content\":[{\"type\":\"developer_content\","
       "\"instructions\":[]}]}]",
       "[0].content[0].instructions"},
      // Invalid UTF-8 and lone surrogates are not JSON strings.
      {"[{\"role\":\"user\",\"content\":\"\xff\"}]", "invalid JSON"},
      {"[{\"role\":\"user\",\"content\":\"\\ud800\"}]", "invalid JSON"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.json);
    absl::StatusOr<Conversation> conv = ConversationFromJsonText(c.json);
    ASSERT_FALSE(conv.ok());
    EXPECT_EQ(conv.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(conv.status().message()).find(c.names), std::string::npos)
        << conv.status();
  }
}

TEST(HarmonyJson, DeepDocumentsAreRejectedNotRecursedInto) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "[";
  for (int i = 0; i < 100000; ++i) deep += "]";
  absl::StatusOr<Conversation> conv = ConversationFromJsonText(deep);
  ASSERT_FALSE(conv.ok());
  EXPECT_NE(std::string(conv.status().message()).find("nested deeper"), std::string::npos)
      << conv.status();

  // A document built in memory is checked where the renderer would recurse.
  nlohmann::ordered_json schema = nlohmann::ordered_json::object();
  for (int i = 0; i < 200; ++i) schema = {{"type", "array"}, {"items", std::move(schema)}};
  absl::StatusOr<nlohmann::ordered_json> doc = ParseSerdeJson(
      R"({"messages":[{"role":"developer","content":[{"type":"developer_content","tools":)"
      R"({"functions":{"name":"functions","tools":[{"name":"f","description":"d"}]}}}]}]})");
  ASSERT_TRUE(doc.ok()) << doc.status();
  (*doc)["messages"][0]["content"][0]["tools"]["functions"]["tools"][0]["parameters"] = schema;
  conv = ConversationFromJson(*doc);
  ASSERT_FALSE(conv.ok());
  EXPECT_NE(std::string(conv.status().message()).find("tools[0].parameters"), std::string::npos)
      << conv.status();
}

// Objects with very many keys are refused while parsing (the ordered map inserts in linear
// time): a tool schema from any front end is bounded, not quadratic.
TEST(HarmonyJson, ObjectsWithTooManyKeysAreRefused) {
  auto object = [](int n) {
    std::string s = "{";
    for (int i = 0; i < n; ++i) s += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
    return s + "}";
  };
  EXPECT_TRUE(ParseSerdeJson(object(kSerdeMaxKeys)).ok());
  absl::StatusOr<nlohmann::ordered_json> big = ParseSerdeJson(object(kSerdeMaxKeys + 1));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(std::string(big.status().message()).find("more than 1024 keys"), std::string::npos)
      << big.status();
  // Duplicate keys do not count twice (the last value wins, as before).
  EXPECT_TRUE(ParseSerdeJson("{\"a\":1,\"a\":2}").ok());
}

}  // namespace
}  // namespace gptoss::harmony
