// ChatRequest (inference.proto) → harmony Conversation → prompt token ids.
// The conversation is what openai-harmony's documented chat layout builds:
//  1. a system message: SystemContent::Default() (identity, knowledge cutoff, the three
//     channels) with the request's reasoning effort and "Current date" (the request's
//     current_date or today's UTC date); a ROLE_SYSTEM message's content replaces the model
//     identity text;
//  2. a developer message when there are instructions (the first ROLE_DEVELOPER message, if it
//     comes before the conversation) or function tools (under the "functions" namespace);
//  3. the remaining messages in order; assistant messages default to the "final" channel. A
//     developer message after the first one (or after the conversation started) is rendered
//     where it stands, as a plain developer message.
// Contract: every malformed message or tool is InvalidArgument naming the field
// ("messages[2].name: required for tool messages", "tools[0].parameters_json: ..."), checked
// before rendering; harmony's own JSON Schema checks (depth) apply to each tool.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/tokenizer/harmony_conversation.h"
#include "proto/gptoss/v1/inference.pb.h"

namespace gptoss {

// `today` is "YYYY-MM-DD", used when the request has no current_date.
absl::StatusOr<harmony::Conversation> ConversationFromChatRequest(const v1::ChatRequest& request,
                                                                  const std::string& today);

// Today's UTC date as "YYYY-MM-DD".
std::string TodayUtc();

// harmony channel name ("analysis", ...) → wire enum; CHANNEL_UNSPECIFIED for others.
v1::Channel ChannelFromName(const std::string& name);
// The inverse: "analysis", "commentary" or "final"; null for any other value.
const char* ChannelName(v1::Channel channel);

}  // namespace gptoss
