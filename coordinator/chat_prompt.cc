#include "coordinator/chat_prompt.h"

#include <cctype>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "coordinator/tokenizer/harmony_json.h"
#include "coordinator/tokenizer/harmony_serde_json.h"
#include "kernels/core/status.h"

namespace gptoss {
namespace {

using harmony::Message;
using harmony::Role;

constexpr size_t kMaxNameBytes = 128;
constexpr size_t kMaxToolNameBytes = 64;

absl::Status Bad(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

std::string MessageField(int i, absl::string_view field) {
  return absl::StrCat("messages[", i, "].", field);
}

bool IsDate(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (int i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// Names and recipients are rendered inside a harmony header: one word, no whitespace.
bool IsHeaderWord(const std::string& s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  for (unsigned char c : s)
    if (std::isspace(c) || c == '<' || c == '>') return false;
  return true;
}

bool IsToolName(const std::string& s) {
  if (s.empty() || s.size() > kMaxToolNameBytes) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '_' && c != '-') return false;
  return true;
}


absl::StatusOr<harmony::ReasoningEffort> Effort(v1::ReasoningEffort e) {
  switch (e) {
    case v1::REASONING_EFFORT_UNSPECIFIED:
    case v1::REASONING_EFFORT_MEDIUM:
      return harmony::ReasoningEffort::kMedium;
    case v1::REASONING_EFFORT_LOW:
      return harmony::ReasoningEffort::kLow;
    case v1::REASONING_EFFORT_HIGH:
      return harmony::ReasoningEffort::kHigh;
    default:
      return Bad("reasoning_effort", absl::StrCat("unknown value ", static_cast<int>(e)));
  }
}

// One function tool, validated by harmony's own loader (names the JSON Schema problem).
absl::StatusOr<harmony::ToolDescription> ToolFrom(const v1::FunctionTool& tool, int i) {
  const std::string field = absl::StrCat("tools[", i, "]");
  if (!IsToolName(tool.name()))
    return Bad(field + ".name",
               absl::StrCat("'", tool.name(), "' does not match [A-Za-z0-9_-]{1,64}"));
  nlohmann::ordered_json spec = {{"name", tool.name()}, {"description", tool.description()}};
  if (!tool.parameters_json().empty()) {
    // harmony's own reader: serde's number semantics, and nesting bounded while parsing (the
    // copies below recurse, so a hostile 100000-deep document must never get that far).
    absl::StatusOr<nlohmann::ordered_json> params =
        harmony::ParseSerdeJson(tool.parameters_json());
    if (!params.ok())
      return Bad(field + ".parameters_json",
                 absl::StrCat("not valid JSON: ", params.status().message()));
    if (!params->is_object()) return Bad(field + ".parameters_json", "not a JSON object");
    spec["parameters"] = std::move(*params);
  }
  nlohmann::ordered_json developer = {
      {"role", "developer"},
      {"content", nlohmann::ordered_json::array(
                      {{{"type", "developer_content"},
                        {"tools", {{"functions", {{"name", "functions"}, {"tools", {spec}}}}}}}})}};
  absl::StatusOr<Message> parsed = harmony::MessageFromJson(developer);
  if (!parsed.ok()) return Bad(field + ".parameters_json", parsed.status().message());
  const auto& content = std::get<harmony::DeveloperContent>(parsed->content.at(0));
  return content.tools->at("functions").tools.at(0);
}

}  // namespace

const char* ChannelName(v1::Channel c) {
  switch (c) {
    case v1::CHANNEL_ANALYSIS:
      return "analysis";
    case v1::CHANNEL_COMMENTARY:
      return "commentary";
    case v1::CHANNEL_FINAL:
      return "final";
    default:
      return nullptr;
  }
}

std::string TodayUtc() { return absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()); }

v1::Channel ChannelFromName(const std::string& name) {
  if (name == "analysis") return v1::CHANNEL_ANALYSIS;
  if (name == "commentary") return v1::CHANNEL_COMMENTARY;
  if (name == "final") return v1::CHANNEL_FINAL;
  return v1::CHANNEL_UNSPECIFIED;
}

absl::StatusOr<harmony::Conversation> ConversationFromChatRequest(const v1::ChatRequest& request,
                                                                  const std::string& today) {
  if (request.messages_size() == 0) return Bad("messages", "at least one message is required");
  const std::string& date = request.current_date().empty() ? today : request.current_date();
  if (!request.current_date().empty() && !IsDate(request.current_date()))
    return Bad("current_date", absl::StrCat("'", request.current_date(), "' is not YYYY-MM-DD"));

  harmony::SystemContent system = harmony::SystemContent::Default();
  GPTOSS_ASSIGN_OR_RETURN(system.reasoning_effort, Effort(request.reasoning_effort()));
  system.conversation_start_date = date;
  std::optional<std::string> instructions;
  std::vector<Message> rest;
  bool seen_conversation = false;  // a user/assistant/tool message came already

  for (int i = 0; i < request.messages_size(); ++i) {
    const v1::ChatMessage& m = request.messages(i);
    const v1::Role role = m.role();
    if (role != v1::ROLE_TOOL && !m.name().empty())
      return Bad(MessageField(i, "name"), "only tool messages have a name");
    if (role != v1::ROLE_ASSISTANT && !m.recipient().empty())
      return Bad(MessageField(i, "recipient"), "only assistant messages have a recipient");
    if (role != v1::ROLE_ASSISTANT && !m.content_type().empty())
      return Bad(MessageField(i, "content_type"), "only assistant messages have a content type");
    const bool channel_allowed = role == v1::ROLE_ASSISTANT || role == v1::ROLE_TOOL;
    if (!channel_allowed && m.channel() != v1::CHANNEL_UNSPECIFIED)
      return Bad(MessageField(i, "channel"), "only assistant and tool messages have a channel");
    if (channel_allowed && m.channel() != v1::CHANNEL_UNSPECIFIED && !ChannelName(m.channel()))
      return Bad(MessageField(i, "channel"),
                 absl::StrCat("unknown value ", static_cast<int>(m.channel())));

    switch (role) {
      case v1::ROLE_SYSTEM:
        if (i != 0)
          return Bad(MessageField(i, "role"), "a system message must be the first message");
        system.model_identity = m.content();
        break;
      case v1::ROLE_DEVELOPER:
        // The first one, before the conversation, carries the instructions (and the tools are
        // added to it); any later one is a plain developer message where it stands, as
        // openai-harmony renders Message.from_role_and_content(Role.DEVELOPER, text).
        if (!instructions && !seen_conversation) {
          instructions = m.content();
        } else {
          rest.push_back(Message::Text(Role::kDeveloper, m.content()));
        }
        break;
      case v1::ROLE_USER:
        seen_conversation = true;
        rest.push_back(Message::Text(Role::kUser, m.content()));
        break;
      case v1::ROLE_ASSISTANT: {
        seen_conversation = true;
        Message msg = Message::Text(Role::kAssistant, m.content());
        msg.channel = ChannelName(m.channel()) ? ChannelName(m.channel()) : "final";
        if (!m.recipient().empty()) {
          if (!IsHeaderWord(m.recipient()))
            return Bad(MessageField(i, "recipient"),
                       absl::StrCat("'", m.recipient(), "' is not a tool name"));
          msg.recipient = m.recipient();
        }
        if (!m.content_type().empty()) {
          if (!IsHeaderWord(m.content_type()) && m.content_type() != "<|constrain|>json")
            return Bad(MessageField(i, "content_type"),
                       absl::StrCat("'", m.content_type(), "' is not a content type"));
          msg.content_type = m.content_type();
        }
        rest.push_back(std::move(msg));
        break;
      }
      case v1::ROLE_TOOL: {
        seen_conversation = true;
        if (m.name().empty()) return Bad(MessageField(i, "name"), "required for tool messages");
        if (!IsHeaderWord(m.name()))
          return Bad(MessageField(i, "name"), absl::StrCat("'", m.name(), "' is not a tool name"));
        Message msg = Message::Text(Role::kTool, m.content());
        msg.author.name = m.name();
        msg.channel = ChannelName(m.channel()) ? ChannelName(m.channel()) : "commentary";
        rest.push_back(std::move(msg));
        break;
      }
      default:
        return Bad(MessageField(i, "role"), role == v1::ROLE_UNSPECIFIED
                                                ? std::string("unspecified")
                                                : absl::StrCat("unknown value ", role));
    }
  }

  std::vector<harmony::ToolDescription> tools;
  std::set<std::string> names;
  for (int i = 0; i < request.tools_size(); ++i) {
    GPTOSS_ASSIGN_OR_RETURN(harmony::ToolDescription tool, ToolFrom(request.tools(i), i));
    if (!names.insert(tool.name).second)
      return Bad(absl::StrCat("tools[", i, "].name"),
                 absl::StrCat("'", tool.name, "' is not unique"));
    tools.push_back(std::move(tool));
  }

  harmony::Conversation conversation;
  Message system_message;
  system_message.author.role = Role::kSystem;
  system_message.content.push_back(std::move(system));
  conversation.messages.push_back(std::move(system_message));
  if (instructions || !tools.empty()) {
    harmony::DeveloperContent developer;
    if (instructions) developer.instructions = *instructions;
    if (!tools.empty()) {
      harmony::ToolNamespace functions;
      functions.name = "functions";
      functions.tools = std::move(tools);
      developer.tools = harmony::ToolNamespaces{{"functions", std::move(functions)}};
    }
    Message developer_message;
    developer_message.author.role = Role::kDeveloper;
    developer_message.content.push_back(std::move(developer));
    conversation.messages.push_back(std::move(developer_message));
  }
  for (Message& m : rest) conversation.messages.push_back(std::move(m));
  return conversation;
}

}  // namespace gptoss
