#include "coordinator/tokenizer/harmony_renderer.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/tokenizer/harmony_schema.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "kernels/core/status.h"

namespace gptoss::harmony {
namespace {

constexpr std::string_view kConstrainMarker = "<|constrain|>";

std::string SystemText(const SystemContent& sys, bool has_function_tools) {
  std::vector<std::string> sections;
  std::vector<std::string> top;
  if (sys.model_identity.has_value()) top.push_back(*sys.model_identity);
  if (sys.knowledge_cutoff.has_value()) {
    top.push_back(absl::StrCat("Knowledge cutoff: ", *sys.knowledge_cutoff));
  }
  if (sys.conversation_start_date.has_value()) {
    top.push_back(absl::StrCat("Current date: ", *sys.conversation_start_date));
  }
  if (!top.empty()) sections.push_back(absl::StrJoin(top, "\n"));
  if (sys.reasoning_effort.has_value()) {
    sections.push_back(
        absl::StrCat("Reasoning: ", std::string(ReasoningEffortName(*sys.reasoning_effort))));
  }
  if (sys.tools.has_value() && !sys.tools->empty()) {
    sections.push_back(RenderToolsSection(*sys.tools));
  }
  if (sys.channel_config.has_value() && !sys.channel_config->valid_channels.empty()) {
    std::string channels = absl::StrCat(
        "# Valid channels: ", absl::StrJoin(sys.channel_config->valid_channels, ", "), ".");
    if (sys.channel_config->channel_required) {
      channels += " Channel must be included for every message.";
    }
    if (has_function_tools) {
      channels += "\nCalls to these tools must go to the commentary channel: 'functions'.";
    }
    sections.push_back(std::move(channels));
  }
  return absl::StrJoin(sections, "\n\n");
}

std::string DeveloperText(const DeveloperContent& dev) {
  std::vector<std::string> sections;
  if (dev.instructions.has_value()) {
    sections.push_back("# Instructions");
    sections.push_back(*dev.instructions);
  }
  if (dev.tools.has_value() && !dev.tools->empty()) {
    sections.push_back(RenderToolsSection(*dev.tools));
  }
  return absl::StrJoin(sections, "\n\n");
}

// harmony looks for function tools by the namespace key "functions", in developer content only.
bool HasFunctionTools(const Conversation& conversation) {
  for (const Message& m : conversation.messages) {
    for (const Content& c : m.content) {
      const auto* dev = std::get_if<DeveloperContent>(&c);
      if (dev == nullptr || !dev->tools.has_value()) continue;
      auto it = dev->tools->find("functions");
      if (it != dev->tools->end() && !it->second.tools.empty()) return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<HarmonyRenderer> HarmonyRenderer::Create(const Tokenizer* tokenizer) {
  if (tokenizer == nullptr) return absl::InvalidArgumentError("harmony renderer: null tokenizer");
  const std::pair<const char*, int> kExpected[] = {{"<|start|>", kStartToken},
                                                   {"<|message|>", kMessageToken},
                                                   {"<|end|>", kEndToken},
                                                   {"<|return|>", kReturnToken},
                                                   {"<|call|>", kCallToken},
                                                   {"<|channel|>", kChannelToken},
                                                   {"<|constrain|>", kConstrainToken},
                                                   {"<|endoftext|>", kEndOfTextToken}};
  for (const auto& [name, id] : kExpected) {
    absl::StatusOr<int> got = tokenizer->SpecialTokenId(name);
    if (!got.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "harmony renderer: tokenizer lacks special token ", name, ": ", got.status().message()));
    }
    if (*got != id) {
      return absl::InvalidArgumentError(absl::StrCat("harmony renderer: tokenizer maps ", name,
                                                     " to ", *got, ", o200k_harmony uses ", id));
    }
  }
  return HarmonyRenderer(tokenizer);
}

void HarmonyRenderer::AppendText(std::string_view text, std::vector<int>& out) const {
  if (text.empty()) return;
  std::vector<int> ids = tokenizer_->Encode(text);
  out.insert(out.end(), ids.begin(), ids.end());
}

absl::Status HarmonyRenderer::AppendMessage(const Message& message, bool has_function_tools,
                                            std::vector<int>& out) const {
  const Role role = message.author.role;
  out.push_back(kStartToken);
  if (role == Role::kTool) {
    // Tool results are authored by the tool itself: the header is its name, not "tool".
    if (!message.author.name.has_value()) {
      return absl::InvalidArgumentError("tool message without a name (the tool that answered)");
    }
    AppendText(*message.author.name, out);
  } else {
    AppendText(RoleName(role), out);
    if (message.author.name.has_value()) AppendText(absl::StrCat(":", *message.author.name), out);
  }
  if (message.recipient.has_value() && *message.recipient != "all") {
    AppendText(absl::StrCat(" to=", *message.recipient), out);
  }
  if (message.channel.has_value()) {
    out.push_back(kChannelToken);
    AppendText(*message.channel, out);
  }
  if (message.content_type.has_value()) {
    const std::string& ct = *message.content_type;
    if (ct.starts_with(kConstrainMarker)) {
      // "<|constrain|>json": a space, the special token, then the rest as text.
      AppendText(" ", out);
      out.push_back(kConstrainToken);
      AppendText(std::string_view(ct).substr(kConstrainMarker.size()), out);
    } else {
      AppendText(absl::StrCat(" ", ct), out);
    }
  }
  out.push_back(kMessageToken);
  for (const Content& content : message.content) {
    if (const auto* text = std::get_if<TextContent>(&content)) {
      AppendText(text->text, out);
    } else if (const auto* sys = std::get_if<SystemContent>(&content)) {
      if (role != Role::kSystem) {
        return absl::InvalidArgumentError(
            absl::StrCat("system content may only appear in system messages, found in a ",
                         std::string(RoleName(role)), " message"));
      }
      AppendText(SystemText(*sys, has_function_tools), out);
    } else {
      if (role != Role::kDeveloper) {
        return absl::InvalidArgumentError(
            absl::StrCat("developer content may only appear in developer messages, found in a ",
                         std::string(RoleName(role)), " message"));
      }
      AppendText(DeveloperText(std::get<DeveloperContent>(content)), out);
    }
  }
  // An assistant message addressed to someone is a tool call: it ends in <|call|> (even for
  // the recipient "all", which the header leaves out).
  out.push_back(role == Role::kAssistant && message.recipient.has_value() ? kCallToken : kEndToken);
  return absl::OkStatus();
}

absl::Status HarmonyRenderer::AppendConversation(const Conversation& conversation,
                                                 RenderOptions options,
                                                 std::vector<int>& out) const {
  const std::vector<Message>& messages = conversation.messages;
  const bool has_function_tools = HasFunctionTools(conversation);
  bool last_assistant_is_final = false;
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->author.role == Role::kAssistant) {
      last_assistant_is_final = it->channel == "final";
      break;
    }
  }
  size_t first_final = messages.size();
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].channel == "final") {
      first_final = i;
      break;
    }
  }
  const bool drop_analysis = options.auto_drop_analysis && last_assistant_is_final;
  for (size_t i = 0; i < messages.size(); ++i) {
    // gpt-oss quirk (harmony auto_drop_analysis): chain of thought before the first final
    // answer is dropped once the conversation's last assistant turn is a final answer.
    if (drop_analysis && i < first_final && messages[i].channel == "analysis") continue;
    absl::Status s = AppendMessage(messages[i], has_function_tools, out);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i, "]: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int>> HarmonyRenderer::RenderForCompletion(
    const Conversation& conversation, Role next_role, RenderOptions options) const {
  std::vector<int> out;
  GPTOSS_RETURN_IF_ERROR(AppendConversation(conversation, options, out));
  out.push_back(kStartToken);
  AppendText(RoleName(next_role), out);
  return out;
}

absl::StatusOr<std::vector<int>> HarmonyRenderer::RenderConversation(
    const Conversation& conversation, RenderOptions options) const {
  std::vector<int> out;
  GPTOSS_RETURN_IF_ERROR(AppendConversation(conversation, options, out));
  return out;
}

absl::StatusOr<std::vector<int>> HarmonyRenderer::RenderForTraining(
    const Conversation& conversation, RenderOptions options) const {
  GPTOSS_ASSIGN_OR_RETURN(std::vector<int> out, RenderConversation(conversation, options));
  if (!conversation.messages.empty()) {
    const Message& last = conversation.messages.back();
    if (last.author.role == Role::kAssistant && last.channel == "final" && !out.empty()) {
      out.back() = kReturnToken;
    }
  }
  return out;
}

absl::StatusOr<std::vector<int>> HarmonyRenderer::RenderMessage(const Message& message,
                                                                bool has_function_tools) const {
  std::vector<int> out;
  GPTOSS_RETURN_IF_ERROR(AppendMessage(message, has_function_tools, out));
  return out;
}

}  // namespace gptoss::harmony
