#include "coordinator/openai/harmony_request.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "coordinator/tokenizer/harmony_serde_json.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "kernels/core/status.h"

namespace gptoss::openai {
namespace {

absl::Status Bad(const std::string& param, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(param, ": ", what));
}

}  // namespace

const std::vector<absl::string_view> kIgnoredFields = {
    "user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key",
    "prompt_cache_retention", "parallel_tool_calls", "verbosity", "include", "truncation",
    "max_tool_calls"};

namespace {

absl::StatusOr<v1::ReasoningEffort> Effort(const std::string& effort, const std::string& param) {
  if (effort == "low" || effort == "minimal") return v1::REASONING_EFFORT_LOW;
  if (effort == "medium") return v1::REASONING_EFFORT_MEDIUM;
  if (effort == "high") return v1::REASONING_EFFORT_HIGH;
  return Bad(param, absl::StrCat("'", effort, "' is not one of low, medium, high"));
}

// `tools`: chat completions nest the function ({"type": "function", "function": {...}}), the
// Responses API does not ({"type": "function", "name": ...}).
absl::Status ReadTools(const Fields& f, bool nested, v1::ChatRequest* chat) {
  const Json* tools = f.Get("tools");
  if (!tools) return absl::OkStatus();
  if (!tools->is_array()) return f.Bad("tools", "must be an array");
  for (size_t i = 0; i < tools->size(); ++i) {
    const std::string at = absl::StrCat("tools[", i, "]");
    if (!(*tools)[i].is_object()) return Bad(at, "must be an object");
    Fields tool((*tools)[i], at + ".");
    GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> type, tool.String("type"));
    if (type != "function")
      return Bad(at + ".type", absl::StrCat("'", type.value_or(""),
                                            "' is not supported (function tools only)"));
    const Json* fn = &(*tools)[i];
    std::string prefix = at + ".";
    if (nested) {
      fn = tool.Get("function");
      if (!fn || !fn->is_object()) return Bad(at + ".function", "required (an object)");
      prefix = at + ".function.";
    }
    Fields function(*fn, prefix);
    GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> name, function.String("name"));
    if (!name) return function.Bad("name", "required");
    GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> description, function.String("description"));
    v1::FunctionTool* out = chat->add_tools();
    out->set_name(*name);
    out->set_description(description.value_or(""));
    if (const Json* params = function.Get("parameters")) {
      if (!params->is_object()) return function.Bad("parameters", "must be a JSON Schema object");
      out->set_parameters_json(harmony::SerdeJson(*params));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ToolChoice> ReadToolChoice(const Fields& f, bool nested,
                                          const v1::ChatRequest& chat) {
  ToolChoice choice;
  const Json* v = f.Get("tool_choice");
  if (!v) return choice;
  if (v->is_string()) {
    const std::string s = v->get<std::string>();
    if (s == "auto") return choice;
    if (s == "none") {
      choice.mode = ToolChoice::Mode::kNone;
      return choice;
    }
    if (s != "required") return f.Bad("tool_choice", absl::StrCat("'", s, "' is not supported"));
    if (chat.tools_size() == 0) return f.Bad("tool_choice", "'required' needs tools");
    choice.mode = ToolChoice::Mode::kRequired;
    return choice;
  }
  if (!v->is_object()) return f.Bad("tool_choice", "must be a string or an object");
  Fields obj(*v, "tool_choice.");
  GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> type, obj.String("type"));
  if (type != "function")
    return obj.Bad("type", absl::StrCat("'", type.value_or(""), "' is not supported"));
  std::optional<std::string> name;
  if (nested) {
    const Json* fn = obj.Get("function");
    if (!fn || !fn->is_object()) return obj.Bad("function", "required (an object)");
    GPTOSS_ASSIGN_OR_RETURN(name, Fields(*fn, "tool_choice.function.").String("name"));
  } else {
    GPTOSS_ASSIGN_OR_RETURN(name, obj.String("name"));
  }
  if (!name) return f.Bad("tool_choice", "names no function");
  bool found = false;
  for (const v1::FunctionTool& t : chat.tools()) found = found || t.name() == *name;
  if (!found) return f.Bad("tool_choice", absl::StrCat("no tool named '", *name, "'"));
  choice.mode = ToolChoice::Mode::kNamed;
  choice.name = *name;
  return choice;
}

// Conversation building shared by both endpoints.
class Conversation {
 public:
  explicit Conversation(v1::ChatRequest* chat) : chat_(chat) {}

  // System and developer messages before the conversation become the instructions; a later one
  // stays where it is, as a developer message (vLLM does the same for gpt-oss).
  absl::Status Instructions(const std::string& text, const std::string& param) {
    (void)param;
    if (seen_conversation_) {
      Add(v1::ROLE_DEVELOPER, v1::CHANNEL_UNSPECIFIED, text);
      return absl::OkStatus();
    }
    if (!instructions_.empty()) instructions_ += "\n\n";
    instructions_ += text;
    return absl::OkStatus();
  }
  void User(std::string text) { Add(v1::ROLE_USER, v1::CHANNEL_UNSPECIFIED, std::move(text)); }
  void Reasoning(std::string text) {
    if (!text.empty()) Add(v1::ROLE_ASSISTANT, v1::CHANNEL_ANALYSIS, std::move(text));
  }
  void AssistantText(std::string text, bool preamble) {
    Add(v1::ROLE_ASSISTANT, preamble ? v1::CHANNEL_COMMENTARY : v1::CHANNEL_FINAL,
        std::move(text));
  }
  void Call(const std::string& id, const std::string& name, std::string arguments) {
    v1::ChatMessage* m = Add(v1::ROLE_ASSISTANT, v1::CHANNEL_COMMENTARY, std::move(arguments));
    m->set_recipient("functions." + name);
    m->set_content_type("<|constrain|>json");
    call_names_[id] = name;
  }
  absl::Status Output(const std::string& id, std::string text, const std::string& param) {
    auto it = call_names_.find(id);
    if (it == call_names_.end())
      return Bad(param, absl::StrCat("no earlier tool call has the id '", id, "'"));
    v1::ChatMessage* m = Add(v1::ROLE_TOOL, v1::CHANNEL_COMMENTARY, std::move(text));
    m->set_name("functions." + it->second);
    return absl::OkStatus();
  }
  // Puts the instructions first (a developer message).
  void Finish() {
    if (instructions_.empty()) return;
    v1::ChatMessage developer;
    developer.set_role(v1::ROLE_DEVELOPER);
    developer.set_content(instructions_);
    chat_->mutable_messages()->Add(std::move(developer));
    auto* messages = chat_->mutable_messages();
    for (int i = messages->size() - 1; i > 0; --i) messages->SwapElements(i, i - 1);
  }
  bool empty() const { return chat_->messages_size() == 0; }

 private:
  v1::ChatMessage* Add(v1::Role role, v1::Channel channel, std::string content) {
    seen_conversation_ = true;
    v1::ChatMessage* m = chat_->add_messages();
    m->set_role(role);
    m->set_channel(channel);
    m->set_content(std::move(content));
    return m;
  }

  v1::ChatRequest* chat_;
  std::string instructions_;
  bool seen_conversation_ = false;
  std::map<std::string, std::string> call_names_;  // tool call id → function name
};

absl::Status ReadChatMessages(const Fields& f, Conversation& conversation) {
  const Json* messages = f.Get("messages");
  if (!messages || !messages->is_array() || messages->empty())
    return f.Bad("messages", "required: a non-empty array");
  for (size_t i = 0; i < messages->size(); ++i) {
    const std::string at = absl::StrCat("messages[", i, "]");
    const Json& m = (*messages)[i];
    if (!m.is_object()) return Bad(at, "must be an object");
    Fields mf(m, at + ".");
    GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> role, mf.String("role"));
    if (!role) return mf.Bad("role", "required");
    const Json* content = mf.Get("content");
    GPTOSS_ASSIGN_OR_RETURN(std::string text,
                            ContentText(content ? *content : Json(), at + ".content",
                                        {"text", "input_text", "output_text"}));
    if (*role == "system" || *role == "developer") {
      GPTOSS_RETURN_IF_ERROR(conversation.Instructions(text, at + ".role"));
    } else if (*role == "user") {
      conversation.User(std::move(text));
    } else if (*role == "assistant") {
      GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> reasoning, mf.String("reasoning_content"));
      if (!reasoning) {
        GPTOSS_ASSIGN_OR_RETURN(reasoning, mf.String("reasoning"));
      }
      conversation.Reasoning(reasoning.value_or(""));
      const Json* calls = mf.Get("tool_calls");
      if (calls && !calls->is_array()) return mf.Bad("tool_calls", "must be an array");
      const bool has_calls = calls && !calls->empty();
      if (!text.empty() || !has_calls) conversation.AssistantText(std::move(text), has_calls);
      for (size_t j = 0; has_calls && j < calls->size(); ++j) {
        const std::string cat = absl::StrCat(at, ".tool_calls[", j, "]");
        if (!(*calls)[j].is_object()) return Bad(cat, "must be an object");
        Fields call((*calls)[j], cat + ".");
        GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> id, call.String("id"));
        const Json* fn = call.Get("function");
        if (!fn || !fn->is_object()) return call.Bad("function", "required (an object)");
        Fields function(*fn, cat + ".function.");
        GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> name, function.String("name"));
        if (!name) return function.Bad("name", "required");
        GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> arguments, function.String("arguments"));
        conversation.Call(id.value_or(""), *name, arguments.value_or("{}"));
      }
    } else if (*role == "tool") {
      GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> id, mf.String("tool_call_id"));
      if (!id) return mf.Bad("tool_call_id", "required for tool messages");
      GPTOSS_RETURN_IF_ERROR(conversation.Output(*id, std::move(text), at + ".tool_call_id"));
    } else {
      return mf.Bad("role", absl::StrCat("'", *role,
                                         "' is not one of system, developer, user, assistant, tool"));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadResponsesInput(const Fields& f, Conversation& conversation) {
  const Json* input = f.Get("input");
  if (!input) return f.Bad("input", "required");
  if (input->is_string()) {
    conversation.User(input->get<std::string>());
    return absl::OkStatus();
  }
  if (!input->is_array() || input->empty())
    return f.Bad("input", "must be a string or a non-empty array of items");
  for (size_t i = 0; i < input->size(); ++i) {
    const std::string at = absl::StrCat("input[", i, "]");
    const Json& item = (*input)[i];
    if (!item.is_object()) return Bad(at, "must be an object");
    Fields it(item, at + ".");
    GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> type, it.String("type"));
    const std::string kind = type.value_or("message");
    if (kind == "message") {
      GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> role, it.String("role"));
      if (!role) return it.Bad("role", "required");
      const Json* content = it.Get("content");
      GPTOSS_ASSIGN_OR_RETURN(std::string text,
                              ContentText(content ? *content : Json(), at + ".content",
                                          {"input_text", "output_text", "text"}));
      if (*role == "system" || *role == "developer") {
        GPTOSS_RETURN_IF_ERROR(conversation.Instructions(text, at + ".role"));
      } else if (*role == "user") {
        conversation.User(std::move(text));
      } else if (*role == "assistant") {
        conversation.AssistantText(std::move(text), false);
      } else {
        return it.Bad("role", absl::StrCat("'", *role, "' is not one of system, developer, user, "
                                                       "assistant"));
      }
    } else if (kind == "function_call") {
      GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> call_id, it.String("call_id"));
      GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> name, it.String("name"));
      GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> arguments, it.String("arguments"));
      if (!call_id) return it.Bad("call_id", "required");
      if (!name) return it.Bad("name", "required");
      conversation.Call(*call_id, *name, arguments.value_or("{}"));
    } else if (kind == "function_call_output") {
      GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> call_id, it.String("call_id"));
      if (!call_id) return it.Bad("call_id", "required");
      const Json* output = it.Get("output");
      GPTOSS_ASSIGN_OR_RETURN(std::string text, ContentText(output ? *output : Json(),
                                                            at + ".output", {"input_text"}));
      GPTOSS_RETURN_IF_ERROR(conversation.Output(*call_id, std::move(text), at + ".call_id"));
    } else if (kind == "reasoning") {
      std::string text;
      for (const char* key : {"content", "summary"}) {
        const Json* parts = it.Get(key);
        if (!parts) continue;
        GPTOSS_ASSIGN_OR_RETURN(std::string part,
                                ContentText(*parts, absl::StrCat(at, ".", key),
                                            {"reasoning_text", "summary_text"}));
        if (text.empty()) text = std::move(part);
      }
      conversation.Reasoning(std::move(text));
    } else {
      return it.Bad("type", absl::StrCat("'", kind, "' is not supported"));
    }
  }
  return absl::OkStatus();
}

// OpenAI's bounds on the echoed hints: metadata at most 16 string pairs (keys up to 64 bytes,
// values up to 512), user up to 256 bytes. Checked although ignored: /v1/responses echoes them.
absl::Status CheckHints(const Fields& f) {
  if (const Json* metadata = f.Get("metadata")) {
    if (!metadata->is_object() || metadata->size() > 16)
      return f.Bad("metadata", "must be an object of at most 16 string pairs");
    for (auto it = metadata->begin(); it != metadata->end(); ++it)
      if (it.key().size() > 64 || !it.value().is_string() ||
          it.value().get<std::string>().size() > 512)
        return f.Bad("metadata", "keys of at most 64 bytes, string values of at most 512");
  }
  GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> user, f.String("user"));
  if (user && user->size() > 256) return f.Bad("user", "at most 256 bytes");
  return absl::OkStatus();
}

absl::Status RejectIf(bool condition, const Fields& f, const std::string& name,
                      absl::string_view what) {
  return condition ? f.Bad(name, what) : absl::OkStatus();
}

}  // namespace

absl::Status ReadSampling(const Fields& f, v1::SamplingParams* s) {
  constexpr double kAny = 1e300;
  GPTOSS_ASSIGN_OR_RETURN(std::optional<double> temperature, f.Number("temperature", -kAny, kAny));
  if (temperature) s->set_temperature(static_cast<float>(*temperature));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<double> top_p, f.Number("top_p", -kAny, kAny));
  if (top_p) s->set_top_p(static_cast<float>(*top_p));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> top_k, f.Int("top_k", 0, 1 << 30));
  if (top_k) s->set_top_k(static_cast<uint32_t>(*top_k));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<double> min_p, f.Number("min_p", -kAny, kAny));
  if (min_p) s->set_min_p(static_cast<float>(*min_p));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<double> presence, f.Number("presence_penalty", -kAny, kAny));
  if (presence) s->set_presence_penalty(static_cast<float>(*presence));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<double> frequency,
                          f.Number("frequency_penalty", -kAny, kAny));
  if (frequency) s->set_frequency_penalty(static_cast<float>(*frequency));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<double> repetition,
                          f.Number("repetition_penalty", -kAny, kAny));
  if (repetition) s->set_repetition_penalty(static_cast<float>(*repetition));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> seed,
                          f.Int("seed", INT64_MIN, INT64_MAX));
  if (seed) s->set_seed(static_cast<uint64_t>(*seed));
  return absl::OkStatus();
}

absl::StatusOr<HarmonyRequest> ParseChatCompletionRequest(const Json& body) {
  Fields f(body);
  std::vector<absl::string_view> known = {
      "model", "messages", "stream", "stream_options", "temperature", "top_p", "top_k", "min_p",
      "n", "max_tokens", "max_completion_tokens", "stop", "presence_penalty", "frequency_penalty",
      "repetition_penalty", "logit_bias", "logprobs", "top_logprobs", "seed", "tools",
      "tool_choice", "response_format", "reasoning_effort", "include_reasoning", "functions",
      "function_call", "modalities", "audio", "prediction", "web_search_options"};
  known.insert(known.end(), kIgnoredFields.begin(), kIgnoredFields.end());
  GPTOSS_RETURN_IF_ERROR(f.OnlyKnown(known));
  GPTOSS_RETURN_IF_ERROR(CheckHints(f));
  HarmonyRequest r;
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> n, f.Int("n", 1, 1 << 20));
  GPTOSS_RETURN_IF_ERROR(RejectIf(n && *n != 1, f, "n", "only n = 1 is supported"));
  for (const char* unsupported : {"logit_bias", "audio", "prediction", "web_search_options",
                                  "functions", "function_call"}) {
    const Json* v = f.Get(unsupported);
    GPTOSS_RETURN_IF_ERROR(RejectIf(v && !(v->is_object() && v->empty()) &&
                                        !(v->is_array() && v->empty()),
                                    f, unsupported, "not supported"));
  }
  if (const Json* modalities = f.Get("modalities")) {
    GPTOSS_RETURN_IF_ERROR(RejectIf(*modalities != Json::array({"text"}), f, "modalities",
                                    "only [\"text\"] is supported"));
  }
  if (const Json* format = f.Get("response_format")) {
    GPTOSS_RETURN_IF_ERROR(RejectIf(!format->is_object() || format->value("type", "") != "text",
                                    f, "response_format",
                                    "only {\"type\": \"text\"} is supported (no structured output)"));
  }
  GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> stream, f.Bool("stream"));
  r.stream = stream.value_or(false);
  if (const Json* options = f.Get("stream_options")) {
    if (!options->is_object()) return f.Bad("stream_options", "must be an object");
    Fields so(*options, "stream_options.");
    GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> usage, so.Bool("include_usage"));
    r.include_usage = usage.value_or(false);
  }
  GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> include_reasoning, f.Bool("include_reasoning"));
  r.include_reasoning = include_reasoning.value_or(true);

  v1::ChatRequest& chat = r.chat;
  chat.set_include_analysis(true);
  Conversation conversation(&chat);
  GPTOSS_RETURN_IF_ERROR(ReadChatMessages(f, conversation));
  conversation.Finish();
  GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> effort, f.String("reasoning_effort"));
  if (effort) {
    GPTOSS_ASSIGN_OR_RETURN(v1::ReasoningEffort e, Effort(*effort, "reasoning_effort"));
    chat.set_reasoning_effort(e);
  }
  GPTOSS_RETURN_IF_ERROR(ReadTools(f, /*nested=*/true, &chat));
  GPTOSS_ASSIGN_OR_RETURN(r.tool_choice, ReadToolChoice(f, /*nested=*/true, chat));
  if (r.tool_choice.mode == ToolChoice::Mode::kNone) chat.clear_tools();
  GPTOSS_RETURN_IF_ERROR(ReadSampling(f, chat.mutable_sampling()));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> max_tokens, f.Int("max_tokens", 1, UINT32_MAX));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> max_completion,
                          f.Int("max_completion_tokens", 1, UINT32_MAX));
  if (max_completion) max_tokens = max_completion;  // the newer name wins
  if (max_tokens) chat.mutable_stop()->set_max_tokens(static_cast<uint32_t>(*max_tokens));
  GPTOSS_ASSIGN_OR_RETURN(std::vector<std::string> stops, f.StringOrStrings("stop"));
  for (std::string& s : stops) chat.mutable_stop()->add_stop(std::move(s));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> logprobs, f.Bool("logprobs"));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> top_logprobs, f.Int("top_logprobs", 0, 20));
  GPTOSS_RETURN_IF_ERROR(RejectIf(top_logprobs && *top_logprobs > 0 && !logprobs.value_or(false),
                                  f, "top_logprobs", "needs logprobs: true"));
  chat.mutable_logprobs()->set_enabled(logprobs.value_or(false));
  chat.mutable_logprobs()->set_top_logprobs(static_cast<uint32_t>(top_logprobs.value_or(0)));
  r.top_logprobs = static_cast<int>(top_logprobs.value_or(0));
  return r;
}

absl::StatusOr<HarmonyRequest> ParseResponsesRequest(const Json& body) {
  Fields f(body);
  std::vector<absl::string_view> known = {
      "model", "input", "instructions", "reasoning", "tools", "tool_choice", "max_output_tokens",
      "temperature", "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty",
      "repetition_penalty", "seed", "stream", "stream_options", "previous_response_id",
      "background", "text", "top_logprobs", "conversation", "prompt"};
  known.insert(known.end(), kIgnoredFields.begin(), kIgnoredFields.end());
  GPTOSS_RETURN_IF_ERROR(f.OnlyKnown(known));
  GPTOSS_RETURN_IF_ERROR(CheckHints(f));
  HarmonyRequest r;
  GPTOSS_RETURN_IF_ERROR(RejectIf(f.Has("previous_response_id"), f, "previous_response_id",
                                  "not supported: this server stores no responses (send the "
                                  "whole conversation in input)"));
  GPTOSS_RETURN_IF_ERROR(RejectIf(f.Has("conversation"), f, "conversation",
                                  "not supported: this server stores no conversations"));
  GPTOSS_RETURN_IF_ERROR(RejectIf(f.Has("prompt"), f, "prompt", "stored prompts are not supported"));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> background, f.Bool("background"));
  GPTOSS_RETURN_IF_ERROR(RejectIf(background.value_or(false), f, "background",
                                  "background mode is not supported"));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> top_logprobs, f.Int("top_logprobs", 0, 20));
  GPTOSS_RETURN_IF_ERROR(
      RejectIf(top_logprobs.value_or(0) > 0, f, "top_logprobs", "not supported by /v1/responses"));
  if (const Json* text = f.Get("text")) {
    const Json* format = text->is_object() && text->contains("format") ? &(*text)["format"] : nullptr;
    GPTOSS_RETURN_IF_ERROR(RejectIf(
        !text->is_object() || (format && (!format->is_object() || format->value("type", "") != "text")),
        f, "text.format", "only {\"type\": \"text\"} is supported (no structured output)"));
  }
  GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> stream, f.Bool("stream"));
  r.stream = stream.value_or(false);
  r.include_usage = true;

  v1::ChatRequest& chat = r.chat;
  chat.set_include_analysis(true);
  Conversation conversation(&chat);
  GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> instructions, f.String("instructions"));
  if (instructions) {
    GPTOSS_RETURN_IF_ERROR(conversation.Instructions(*instructions, "instructions"));
  }
  GPTOSS_RETURN_IF_ERROR(ReadResponsesInput(f, conversation));
  conversation.Finish();
  if (const Json* reasoning = f.Get("reasoning")) {
    if (!reasoning->is_object()) return f.Bad("reasoning", "must be an object");
    GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> effort,
                            Fields(*reasoning, "reasoning.").String("effort"));
    if (effort) {
      GPTOSS_ASSIGN_OR_RETURN(v1::ReasoningEffort e, Effort(*effort, "reasoning.effort"));
      chat.set_reasoning_effort(e);
    }
  }
  GPTOSS_RETURN_IF_ERROR(ReadTools(f, /*nested=*/false, &chat));
  GPTOSS_ASSIGN_OR_RETURN(r.tool_choice, ReadToolChoice(f, /*nested=*/false, chat));
  if (r.tool_choice.mode == ToolChoice::Mode::kNone) chat.clear_tools();
  GPTOSS_RETURN_IF_ERROR(ReadSampling(f, chat.mutable_sampling()));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> max_tokens,
                          f.Int("max_output_tokens", 1, UINT32_MAX));
  if (max_tokens) chat.mutable_stop()->set_max_tokens(static_cast<uint32_t>(*max_tokens));
  return r;
}

std::vector<int> ToolChoicePrefill(const ToolChoice& choice, const Tokenizer& tokenizer) {
  if (choice.mode != ToolChoice::Mode::kRequired && choice.mode != ToolChoice::Mode::kNamed)
    return {};
  // The header the model writes for a call ("<|channel|>commentary to=functions.NAME"), as far
  // as it is forced: for "required" up to the namespace, so that the model's own tokenization of
  // ".name" follows (o200k splits "functions.get" as "functions" + ".get").
  std::vector<int> ids = {harmony::kChannelToken};
  const std::string text = choice.mode == ToolChoice::Mode::kNamed
                               ? "commentary to=functions." + choice.name
                               : std::string("commentary to=functions");
  std::vector<int> encoded = tokenizer.Encode(text);
  ids.insert(ids.end(), encoded.begin(), encoded.end());
  return ids;
}

absl::Status ToOpenAiParams(const absl::Status& status, const std::string& max_tokens_param) {
  if (status.code() != absl::StatusCode::kInvalidArgument) return status;
  static const std::vector<std::pair<std::string, std::string>> kRenames = {
      {"sampling.", ""}, {"stop.stop_token_ids", "stop"}, {"stop.stop", "stop"},
      {"logprobs.", ""}, {"current_date", "current_date"}};
  std::string message(status.message());
  if (message.starts_with("stop.max_tokens"))
    return absl::InvalidArgumentError(max_tokens_param + message.substr(15));
  for (const auto& [from, to] : kRenames)
    if (message.starts_with(from))
      return absl::InvalidArgumentError(to + message.substr(from.size()));
  return status;
}

}  // namespace gptoss::openai
