// Harmony conversation model: the messages the renderer turns into prompt tokens and the streaming
// parser produces from completion tokens.
// Contract:
//  - Mirrors openai-harmony 0.0.8's Rust types (src/chat.rs) field for field, so a conversation
//    means exactly what it means to the oracle. Every optional field is std::optional: an absent
//    field renders nothing. Defaults exist only where harmony's builders have them
//    (SystemContent::Default()); a JSON document that omits a field gets no default.
//  - Tool namespaces are keyed maps ordered by key bytes (Rust BTreeMap), and the renderer walks
//    them in that order. The key is what "functions" detection looks at; the namespace's `name`
//    is what gets rendered.
//  - JSON Schema parameters are kept as ordered JSON: harmony renders properties in document
//    order (serde_json "preserve_order").
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nlohmann/json.hpp"

namespace gptoss::harmony {

enum class Role { kUser, kAssistant, kSystem, kDeveloper, kTool };

// "user", "assistant", "system", "developer", "tool".
std::string_view RoleName(Role role);
// Exact (case-sensitive) inverse of RoleName; nullopt for anything else.
std::optional<Role> RoleFromName(std::string_view name);

enum class ReasoningEffort { kLow, kMedium, kHigh };
std::string_view ReasoningEffortName(ReasoningEffort effort);  // "low", "medium", "high"

struct ToolDescription {
  std::string name;
  std::string description;
  std::optional<nlohmann::ordered_json> parameters;  // JSON Schema; absent → `() => any`
};

struct ToolNamespace {
  std::string name;
  std::optional<std::string> description;
  std::vector<ToolDescription> tools;  // empty: the description is rendered as plain text
};

// Keyed like harmony's BTreeMap<String, ToolNamespaceConfig>: std::string orders by bytes.
using ToolNamespaces = std::map<std::string, ToolNamespace>;

struct ChannelConfig {
  std::vector<std::string> valid_channels;  // empty: the channel line is not rendered
  bool channel_required = false;
};

struct SystemContent {
  std::optional<std::string> model_identity;
  std::optional<ReasoningEffort> reasoning_effort;
  // Built-in tools (browser, python): the JSON document carries the whole namespace, as
  // openai-harmony's ToolNamespaceConfig.browser()/.python() serialise it.
  std::optional<ToolNamespaces> tools;
  std::optional<std::string> conversation_start_date;  // rendered as "Current date: ..."
  std::optional<std::string> knowledge_cutoff;
  std::optional<ChannelConfig> channel_config;

  // harmony's SystemContent.new(): ChatGPT identity, medium effort, cutoff 2024-06, channels
  // analysis/commentary/final required.
  static SystemContent Default();
};

struct DeveloperContent {
  std::optional<std::string> instructions;
  std::optional<ToolNamespaces> tools;  // function tools live under the key "functions"
};

struct TextContent {
  std::string text;
};

using Content = std::variant<TextContent, SystemContent, DeveloperContent>;

struct Author {
  Role role = Role::kUser;
  std::optional<std::string> name;  // for role kTool the name is the tool ("functions.x")
};

struct Message {
  Author author;
  std::optional<std::string> recipient;  // "functions.x" for a tool call; "all" is not rendered
  std::vector<Content> content;
  std::optional<std::string> channel;       // "analysis", "commentary", "final", ...
  std::optional<std::string> content_type;  // "json", "<|constrain|>json", "code", ...

  static Message Text(Role role, std::string text);
  // The concatenated text of the TextContent parts (what the parser produces: one part).
  std::string TextOf() const;
};

struct Conversation {
  std::vector<Message> messages;
};

bool operator==(const ToolDescription& a, const ToolDescription& b);
bool operator==(const ToolNamespace& a, const ToolNamespace& b);
bool operator==(const ChannelConfig& a, const ChannelConfig& b);
bool operator==(const SystemContent& a, const SystemContent& b);
bool operator==(const DeveloperContent& a, const DeveloperContent& b);
bool operator==(const TextContent& a, const TextContent& b);
bool operator==(const Author& a, const Author& b);
bool operator==(const Message& a, const Message& b);

}  // namespace gptoss::harmony
