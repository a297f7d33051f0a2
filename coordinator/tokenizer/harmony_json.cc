#include "coordinator/tokenizer/harmony_json.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/tokenizer/harmony_serde_json.h"
#include "kernels/core/status.h"

namespace gptoss::harmony {
namespace {

using Json = nlohmann::ordered_json;

const char* TypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number";
    default:
      return "unsupported value";
  }
}

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("conversation JSON: ", path, ": ", what));
}

absl::Status WrongType(const std::string& path, const std::string& expected, const Json& got) {
  return Bad(path, absl::StrCat("expected ", expected, ", got ", TypeName(got)));
}

std::string Field(const std::string& path, const std::string& key) {
  return path.empty() ? key : absl::StrCat(path, ".", key);
}

// Field lookup on an object known to be an object; nullptr when missing.
const Json* Find(const Json& obj, const char* key) {
  auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

absl::StatusOr<std::string> RequiredString(const Json& obj, const std::string& path,
                                           const char* key) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return Bad(Field(path, key), "missing required field");
  if (!v->is_string()) return WrongType(Field(path, key), "a string", *v);
  return v->get<std::string>();
}

// serde's Option<String>: missing or null → absent.
absl::StatusOr<std::optional<std::string>> OptionalString(const Json& obj, const std::string& path,
                                                          const char* key) {
  const Json* v = Find(obj, key);
  if (v == nullptr || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) return WrongType(Field(path, key), "a string or null", *v);
  return std::optional<std::string>(v->get<std::string>());
}

// Depth of nested arrays/objects, computed without recursion (the document may be hostile).
int NestingDepth(const Json& root) {
  int max_depth = 0;
  std::vector<std::pair<const Json*, int>> stack = {{&root, 1}};
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (!node->is_structured()) continue;
    max_depth = std::max(max_depth, depth);
    if (depth > kSerdeMaxDepth) return depth;
    for (const Json& child : *node) stack.push_back({&child, depth + 1});
  }
  return max_depth;
}

absl::StatusOr<ToolDescription> ToolFromJson(const Json& j, const std::string& path) {
  if (!j.is_object()) return WrongType(path, "a tool object", j);
  ToolDescription tool;
  GPTOSS_ASSIGN_OR_RETURN(tool.name, RequiredString(j, path, "name"));
  GPTOSS_ASSIGN_OR_RETURN(tool.description, RequiredString(j, path, "description"));
  if (const Json* p = Find(j, "parameters"); p != nullptr && !p->is_null()) {
    // Documents read from text are already limited; built ones are checked here because the
    // renderer recurses into the schema.
    if (NestingDepth(*p) > kSerdeMaxDepth) {
      return Bad(Field(path, "parameters"),
                 absl::StrCat("JSON Schema nested deeper than ", kSerdeMaxDepth, " levels"));
    }
    tool.parameters = *p;
  }
  return tool;
}

absl::StatusOr<ToolNamespace> NamespaceFromJson(const Json& j, const std::string& path) {
  if (!j.is_object()) return WrongType(path, "a tool namespace object", j);
  ToolNamespace ns;
  GPTOSS_ASSIGN_OR_RETURN(ns.name, RequiredString(j, path, "name"));
  GPTOSS_ASSIGN_OR_RETURN(ns.description, OptionalString(j, path, "description"));
  const Json* tools = Find(j, "tools");
  if (tools == nullptr) return Bad(Field(path, "tools"), "missing required field");
  if (!tools->is_array()) return WrongType(Field(path, "tools"), "an array", *tools);
  for (size_t i = 0; i < tools->size(); ++i) {
    GPTOSS_ASSIGN_OR_RETURN(ToolDescription tool,
                     ToolFromJson((*tools)[i], absl::StrCat(path, ".tools[", i, "]")));
    ns.tools.push_back(std::move(tool));
  }
  return ns;
}

absl::StatusOr<std::optional<ToolNamespaces>> NamespacesFromJson(const Json& obj,
                                                                 const std::string& path) {
  const Json* tools = Find(obj, "tools");
  if (tools == nullptr || tools->is_null()) return std::optional<ToolNamespaces>();
  if (!tools->is_object()) return WrongType(Field(path, "tools"), "an object or null", *tools);
  ToolNamespaces out;
  for (const auto& [key, value] : tools->items()) {
    GPTOSS_ASSIGN_OR_RETURN(ToolNamespace ns, NamespaceFromJson(value, Field(path, "tools." + key)));
    out[key] = std::move(ns);
  }
  return std::optional<ToolNamespaces>(std::move(out));
}

absl::StatusOr<std::optional<ReasoningEffort>> EffortFromJson(const Json& obj,
                                                              const std::string& path) {
  const Json* v = Find(obj, "reasoning_effort");
  if (v == nullptr || v->is_null()) return std::optional<ReasoningEffort>();
  const std::string field = Field(path, "reasoning_effort");
  if (!v->is_string()) return WrongType(field, "\"low\", \"medium\" or \"high\"", *v);
  const std::string s = v->get<std::string>();
  // harmony serialises the enum variant names ("Low"); lowercase is accepted too.
  if (s == "Low" || s == "low") return std::optional(ReasoningEffort::kLow);
  if (s == "Medium" || s == "medium") return std::optional(ReasoningEffort::kMedium);
  if (s == "High" || s == "high") return std::optional(ReasoningEffort::kHigh);
  return Bad(field, absl::StrCat("expected \"low\", \"medium\" or \"high\", got \"", s, "\""));
}

absl::StatusOr<SystemContent> SystemFromJson(const Json& j, const std::string& path) {
  SystemContent s;
  GPTOSS_ASSIGN_OR_RETURN(s.model_identity, OptionalString(j, path, "model_identity"));
  GPTOSS_ASSIGN_OR_RETURN(s.reasoning_effort, EffortFromJson(j, path));
  GPTOSS_ASSIGN_OR_RETURN(s.tools, NamespacesFromJson(j, path));
  GPTOSS_ASSIGN_OR_RETURN(s.conversation_start_date, OptionalString(j, path, "conversation_start_date"));
  GPTOSS_ASSIGN_OR_RETURN(s.knowledge_cutoff, OptionalString(j, path, "knowledge_cutoff"));
  if (const Json* cc = Find(j, "channel_config"); cc != nullptr && !cc->is_null()) {
    const std::string cpath = Field(path, "channel_config");
    if (!cc->is_object()) return WrongType(cpath, "an object or null", *cc);
    ChannelConfig config;
    const Json* valid = Find(*cc, "valid_channels");
    if (valid == nullptr) return Bad(Field(cpath, "valid_channels"), "missing required field");
    if (!valid->is_array()) return WrongType(Field(cpath, "valid_channels"), "an array", *valid);
    for (size_t i = 0; i < valid->size(); ++i) {
      const Json& c = (*valid)[i];
      if (!c.is_string()) {
        return WrongType(absl::StrCat(cpath, ".valid_channels[", i, "]"), "a string", c);
      }
      config.valid_channels.push_back(c.get<std::string>());
    }
    const Json* required = Find(*cc, "channel_required");
    if (required == nullptr) {
      return Bad(Field(cpath, "channel_required"), "missing required field");
    }
    if (!required->is_boolean()) {
      return WrongType(Field(cpath, "channel_required"), "a boolean", *required);
    }
    config.channel_required = required->get<bool>();
    s.channel_config = std::move(config);
  }
  return s;
}

absl::StatusOr<Content> ContentFromJson(const Json& j, const std::string& path) {
  if (!j.is_object()) return WrongType(path, "a content object", j);
  GPTOSS_ASSIGN_OR_RETURN(std::string type, RequiredString(j, path, "type"));
  if (type == "text") {
    GPTOSS_ASSIGN_OR_RETURN(std::string text, RequiredString(j, path, "text"));
    return Content(TextContent{std::move(text)});
  }
  if (type == "system_content") {
    GPTOSS_ASSIGN_OR_RETURN(SystemContent s, SystemFromJson(j, path));
    return Content(std::move(s));
  }
  if (type == "developer_content") {
    DeveloperContent d;
    GPTOSS_ASSIGN_OR_RETURN(d.instructions, OptionalString(j, path, "instructions"));
    GPTOSS_ASSIGN_OR_RETURN(d.tools, NamespacesFromJson(j, path));
    return Content(std::move(d));
  }
  return Bad(Field(path, "type"),
             absl::StrCat("expected \"text\", \"system_content\" or \"developer_content\", got \"",
                          type, "\""));
}

absl::StatusOr<Message> MessageAt(const Json& j, const std::string& path) {
  if (!j.is_object()) return WrongType(path, "a message object", j);
  Message m;
  GPTOSS_ASSIGN_OR_RETURN(std::string role, RequiredString(j, path, "role"));
  std::optional<Role> parsed = RoleFromName(role);
  if (!parsed.has_value()) {
    return Bad(Field(path, "role"),
               absl::StrCat("expected one of system, developer, user, assistant, tool; got \"",
                            role, "\""));
  }
  m.author.role = *parsed;
  GPTOSS_ASSIGN_OR_RETURN(m.author.name, OptionalString(j, path, "name"));
  GPTOSS_ASSIGN_OR_RETURN(m.recipient, OptionalString(j, path, "recipient"));
  GPTOSS_ASSIGN_OR_RETURN(m.channel, OptionalString(j, path, "channel"));
  GPTOSS_ASSIGN_OR_RETURN(m.content_type, OptionalString(j, path, "content_type"));
  const Json* content = Find(j, "content");
  const std::string cpath = Field(path, "content");
  if (content == nullptr) return Bad(cpath, "missing required field");
  if (content->is_string()) {
    m.content.push_back(TextContent{content->get<std::string>()});
  } else if (content->is_array()) {
    for (size_t i = 0; i < content->size(); ++i) {
      GPTOSS_ASSIGN_OR_RETURN(Content c, ContentFromJson((*content)[i], absl::StrCat(cpath, "[", i, "]")));
      m.content.push_back(std::move(c));
    }
  } else {
    return WrongType(cpath, "a string or an array of contents", *content);
  }
  return m;
}

nlohmann::ordered_json NamespacesToJson(const ToolNamespaces& namespaces) {
  Json out = Json::object();
  for (const auto& [key, ns] : namespaces) {
    Json tools = Json::array();
    for (const ToolDescription& t : ns.tools) {
      Json tj = {{"name", t.name}, {"description", t.description}};
      tj["parameters"] = t.parameters.has_value() ? *t.parameters : Json(nullptr);
      tools.push_back(std::move(tj));
    }
    Json nj = {{"name", ns.name}};
    nj["description"] = ns.description.has_value() ? Json(*ns.description) : Json(nullptr);
    nj["tools"] = std::move(tools);
    out[key] = std::move(nj);
  }
  return out;
}

Json OptionalToJson(const std::optional<std::string>& s) {
  return s.has_value() ? Json(*s) : Json(nullptr);
}

Json ContentToJson(const Content& content) {
  if (const auto* t = std::get_if<TextContent>(&content)) {
    return Json{{"type", "text"}, {"text", t->text}};
  }
  if (const auto* s = std::get_if<SystemContent>(&content)) {
    Json j = {{"type", "system_content"}};
    j["model_identity"] = OptionalToJson(s->model_identity);
    static constexpr const char* kEffort[] = {"Low", "Medium", "High"};
    j["reasoning_effort"] = s->reasoning_effort.has_value()
                                ? Json(kEffort[static_cast<int>(*s->reasoning_effort)])
                                : Json(nullptr);
    j["tools"] = s->tools.has_value() ? NamespacesToJson(*s->tools) : Json(nullptr);
    j["conversation_start_date"] = OptionalToJson(s->conversation_start_date);
    j["knowledge_cutoff"] = OptionalToJson(s->knowledge_cutoff);
    if (s->channel_config.has_value()) {
      j["channel_config"] = {{"valid_channels", s->channel_config->valid_channels},
                             {"channel_required", s->channel_config->channel_required}};
    } else {
      j["channel_config"] = nullptr;
    }
    return j;
  }
  const auto& d = std::get<DeveloperContent>(content);
  Json j = {{"type", "developer_content"}};
  j["instructions"] = OptionalToJson(d.instructions);
  j["tools"] = d.tools.has_value() ? NamespacesToJson(*d.tools) : Json(nullptr);
  return j;
}

}  // namespace

absl::StatusOr<Conversation> ConversationFromJsonText(std::string_view json_text) {
  GPTOSS_ASSIGN_OR_RETURN(Json j, ParseSerdeJson(json_text));
  return ConversationFromJson(j);
}

absl::StatusOr<Conversation> ConversationFromJson(const nlohmann::ordered_json& json) {
  const Json* messages = &json;
  std::string path;
  if (json.is_object()) {
    messages = Find(json, "messages");
    if (messages == nullptr) return Bad("messages", "missing required field");
    path = "messages";
  } else if (!json.is_array()) {
    return WrongType("(document)", "an object with \"messages\" or an array of messages", json);
  }
  if (!messages->is_array()) return WrongType("messages", "an array", *messages);
  Conversation conversation;
  for (size_t i = 0; i < messages->size(); ++i) {
    GPTOSS_ASSIGN_OR_RETURN(Message m, MessageAt((*messages)[i], absl::StrCat(path, "[", i, "]")));
    conversation.messages.push_back(std::move(m));
  }
  return conversation;
}

absl::StatusOr<Message> MessageFromJson(const nlohmann::ordered_json& json) {
  return MessageAt(json, "message");
}

nlohmann::ordered_json MessageToJson(const Message& message) {
  Json j = {{"role", std::string(RoleName(message.author.role))}};
  if (message.author.name.has_value()) j["name"] = *message.author.name;
  if (message.recipient.has_value()) j["recipient"] = *message.recipient;
  if (message.content.size() == 1 && std::holds_alternative<TextContent>(message.content[0])) {
    j["content"] = std::get<TextContent>(message.content[0]).text;
  } else {
    Json contents = Json::array();
    for (const Content& c : message.content) contents.push_back(ContentToJson(c));
    j["content"] = std::move(contents);
  }
  if (message.channel.has_value()) j["channel"] = *message.channel;
  if (message.content_type.has_value()) j["content_type"] = *message.content_type;
  return j;
}

nlohmann::ordered_json ConversationToJson(const Conversation& conversation) {
  Json messages = Json::array();
  for (const Message& m : conversation.messages) messages.push_back(MessageToJson(m));
  return Json{{"messages", std::move(messages)}};
}

}  // namespace gptoss::harmony
