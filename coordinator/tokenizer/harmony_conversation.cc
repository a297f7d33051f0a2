#include "coordinator/tokenizer/harmony_conversation.h"

#include <utility>

namespace gptoss::harmony {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kUser:
      return "user";
    case Role::kAssistant:
      return "assistant";
    case Role::kSystem:
      return "system";
    case Role::kDeveloper:
      return "developer";
    case Role::kTool:
      return "tool";
  }
  return "user";
}

std::optional<Role> RoleFromName(std::string_view name) {
  for (Role r : {Role::kUser, Role::kAssistant, Role::kSystem, Role::kDeveloper, Role::kTool}) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

std::string_view ReasoningEffortName(ReasoningEffort effort) {
  switch (effort) {
    case ReasoningEffort::kLow:
      return "low";
    case ReasoningEffort::kMedium:
      return "medium";
    case ReasoningEffort::kHigh:
      return "high";
  }
  return "medium";
}

SystemContent SystemContent::Default() {
  SystemContent s;
  s.model_identity = "You are ChatGPT, a large language model trained by OpenAI.";
  s.reasoning_effort = ReasoningEffort::kMedium;
  s.knowledge_cutoff = "2024-06";
  s.channel_config = ChannelConfig{{"analysis", "commentary", "final"}, true};
  return s;
}

Message Message::Text(Role role, std::string text) {
  Message m;
  m.author.role = role;
  m.content.push_back(TextContent{std::move(text)});
  return m;
}

std::string Message::TextOf() const {
  std::string out;
  for (const Content& c : content) {
    if (const auto* t = std::get_if<TextContent>(&c)) out += t->text;
  }
  return out;
}

bool operator==(const ToolDescription& a, const ToolDescription& b) {
  return a.name == b.name && a.description == b.description && a.parameters == b.parameters;
}
bool operator==(const ToolNamespace& a, const ToolNamespace& b) {
  return a.name == b.name && a.description == b.description && a.tools == b.tools;
}
bool operator==(const ChannelConfig& a, const ChannelConfig& b) {
  return a.valid_channels == b.valid_channels && a.channel_required == b.channel_required;
}
bool operator==(const SystemContent& a, const SystemContent& b) {
  return a.model_identity == b.model_identity && a.reasoning_effort == b.reasoning_effort &&
         a.tools == b.tools && a.conversation_start_date == b.conversation_start_date &&
         a.knowledge_cutoff == b.knowledge_cutoff && a.channel_config == b.channel_config;
}
bool operator==(const DeveloperContent& a, const DeveloperContent& b) {
  return a.instructions == b.instructions && a.tools == b.tools;
}
bool operator==(const TextContent& a, const TextContent& b) { return a.text == b.text; }
bool operator==(const Author& a, const Author& b) { return a.role == b.role && a.name == b.name; }
bool operator==(const Message& a, const Message& b) {
  return a.author == b.author && a.recipient == b.recipient && a.content == b.content &&
         a.channel == b.channel && a.content_type == b.content_type;
}

}  // namespace gptoss::harmony
