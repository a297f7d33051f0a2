// Harmony renderer: conversation → prompt token ids for gpt-oss.
// Contract:
//  - Token for token identical to openai-harmony 0.0.8 (HarmonyGptOss encoding):
//    RenderForCompletion == render_conversation_for_completion(conv, role, config),
//    RenderConversation == render_conversation, RenderForTraining ==
//    render_conversation_for_training, RenderMessage == render. Text pieces are encoded one by
//    one, exactly where harmony splits them (role, ":name", " to=recipient", channel, content
//    type, each content), never across a special token.
//  - Analysis dropping (auto_drop_analysis, on by default as in harmony's Python API): when the
//    last assistant message is on the "final" channel, every "analysis" message before the
//    first message on the "final" channel (of any role) is left out. Later analysis, e.g. of
//    an ongoing tool-call turn, is kept.
//  - Errors are InvalidArgument naming the message: system content outside a system message,
//    developer content outside a developer message, a tool message without a name.
//  - Thread-safe (const); holds a non-owning Tokenizer that must outlive it.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/tokenizer/harmony_conversation.h"
#include "coordinator/tokenizer/tokenizer.h"

namespace gptoss::harmony {

struct RenderOptions {
  bool auto_drop_analysis = true;
};

class HarmonyRenderer {
 public:
  // Fails if the tokenizer's harmony special tokens are missing or not at the o200k_harmony ids
  // (harmony_tokens.h).
  static absl::StatusOr<HarmonyRenderer> Create(const Tokenizer* tokenizer);

  // The conversation, then "<|start|>" + next role: the prompt to sample the next turn from.
  absl::StatusOr<std::vector<int>> RenderForCompletion(const Conversation& conversation,
                                                       Role next_role = Role::kAssistant,
                                                       RenderOptions options = {}) const;
  absl::StatusOr<std::vector<int>> RenderConversation(const Conversation& conversation,
                                                      RenderOptions options = {}) const;
  // As RenderConversation, but a trailing assistant "final" message ends in <|return|>.
  absl::StatusOr<std::vector<int>> RenderForTraining(const Conversation& conversation,
                                                     RenderOptions options = {}) const;
  // One message: <|start|>header<|message|>content<|end|> (or <|call|> for assistant messages
  // with a recipient). `has_function_tools` adds the "Calls to these tools must go to the
  // commentary channel" line to a system message, as the conversation-level render does when a
  // developer message declares function tools.
  absl::StatusOr<std::vector<int>> RenderMessage(const Message& message,
                                                 bool has_function_tools = false) const;

 private:
  explicit HarmonyRenderer(const Tokenizer* tokenizer) : tokenizer_(tokenizer) {}
  absl::Status AppendMessage(const Message& message, bool has_function_tools,
                             std::vector<int>& out) const;
  absl::Status AppendConversation(const Conversation& conversation, RenderOptions options,
                                  std::vector<int>& out) const;
  void AppendText(std::string_view text, std::vector<int>& out) const;

  const Tokenizer* tokenizer_;
};

}  // namespace gptoss::harmony
