// JSON <-> harmony conversation model.
// Contract:
//  - The format is openai-harmony's own (the serde shape of its Rust Conversation/Message), so
//    documents and fixtures are shared with the oracle:
//      {"messages": [{"role": "system"|"developer"|"user"|"assistant"|"tool",
//                     "name": str?, "recipient": str?, "channel": str?, "content_type": str?,
//                     "content": str | [{"type": "text", "text": str}
//                                     | {"type": "system_content", "model_identity": str?,
//                                        "reasoning_effort": "low"|"medium"|"high"?,
//                                        "conversation_start_date": str?,
//                                        "knowledge_cutoff": str?,
//                                        "channel_config": {"valid_channels": [str],
//                                                           "channel_required": bool}?,
//                                        "tools": {key: namespace}?}
//                                     | {"type": "developer_content", "instructions": str?,
//                                        "tools": {key: namespace}?}]}]}
//      namespace = {"name": str, "description": str?, "tools": [{"name": str,
//                   "description": str, "parameters": <JSON Schema>?}]}
//    A missing or null optional field is absent (no defaults are filled in). Unknown fields are
//    ignored, as serde does. reasoning_effort also accepts harmony's spelling "Low"/"Medium"/
//    "High". A bare top-level array is accepted as the message list.
//  - Every malformed document gives InvalidArgument naming the field path, e.g.
//    "messages[1].content[0].channel_config.valid_channels[2]: expected a string, got number".
//  - Text is read with serde_json's semantics (harmony_serde_json.h): numbers get the exact
//    values harmony sees, documents nested deeper than 127 levels are rejected (harmony's parser
//    does the same; the renderer recurses into schemas).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "coordinator/tokenizer/harmony_conversation.h"
#include "nlohmann/json.hpp"

namespace gptoss::harmony {

absl::StatusOr<Conversation> ConversationFromJsonText(std::string_view json_text);
absl::StatusOr<Conversation> ConversationFromJson(const nlohmann::ordered_json& json);
absl::StatusOr<Message> MessageFromJson(const nlohmann::ordered_json& json);

// Serialises in the same shape (the one openai-harmony emits: optional fields omitted, a single
// text content written as a plain string).
nlohmann::ordered_json MessageToJson(const Message& message);
nlohmann::ordered_json ConversationToJson(const Conversation& conversation);

}  // namespace gptoss::harmony
