// Harmony streaming parser: completion token ids, fed one at a time, → messages with content
// deltas, and tool calls.
// Contract:
//  - On well-formed output it behaves exactly like openai-harmony 0.0.8's StreamableParser
//    (strict mode): same state, current role/channel/recipient/content type, same
//    last_content_delta after every token (including its UTF-8 handling: bytes of a split
//    character are held back, an invalid sequence becomes U+FFFD), same messages after EOS.
//  - Where harmony would throw or silently take a special token as text, this parser reports
//    an error on that token (ParserStep::error, also kept in errors()) and recovers at the next
//    <|start|>: it never crashes, never aborts, and never puts the text of a special token
//    into content. Malformed cases: a token other than <|start|> where a message must start;
//    a header that does not parse (unknown role, empty channel, extra words, invalid UTF-8);
//    a channel outside ParserOptions::valid_channels; a special token other than <|channel|>/
//    <|constrain|> in a header, or other than <|end|>/<|return|>/<|call|> in content; an id
//    outside the vocabulary; a header longer than max_header_tokens; EOS inside a header. A
//    message interrupted inside its content is closed with the content so far (as harmony does
//    at EOS); a <|start|> there also begins the next header at once.
//  - Not thread-safe; one parser per generated sequence. The Tokenizer must outlive it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/tokenizer/harmony_conversation.h"
#include "coordinator/tokenizer/tokenizer.h"

namespace gptoss::harmony {

enum class ParserState { kExpectStart, kHeader, kContent };
std::string_view ParserStateName(ParserState state);  // "ExpectStart", "Header", "Content"

struct ParserOptions {
  // Channels a message may name; a message on another channel is reported and skipped. Empty
  // accepts any channel (harmony's behaviour).
  std::vector<std::string> valid_channels = {"analysis", "commentary", "final"};
  // A header this long is runaway output, not a header.
  size_t max_header_tokens = 1024;
};

// What one token did.
struct ParserStep {
  std::optional<std::string> content_delta;  // harmony's last_content_delta after this token
  bool header_done = false;          // a header was parsed: current_*() describe the new message
  bool message_done = false;         // messages().back() was completed by this token
  std::optional<std::string> error;  // malformed output; the parser resyncs at <|start|>
};

// A parsed message header ("assistant to=functions.f<|channel|>commentary <|constrain|>json").
struct MessageHeader {
  Author author;
  std::optional<std::string> recipient;
  std::optional<std::string> channel;
  std::optional<std::string> content_type;
};
// harmony's header grammar: the channel is cut out after "<|channel|>" (up to whitespace or
// '<'); the rest splits on ASCII whitespace into [role] [to=recipient|recipient] [content type].
// Without `role`, the first word is the role; an unknown first word followed by more words (or
// starting with "to=") is a tool author whose name is that word. Anything left over is an error.
absl::StatusOr<MessageHeader> ParseMessageHeader(std::string_view text, std::optional<Role> role);

// A message the assistant addressed to a tool (assistant author, recipient other than "all").
struct ToolCall {
  std::string recipient;       // "functions.get_weather", "browser.search", "python"
  std::string namespace_name;  // text before the first '.': "functions"
  std::string name;            // text after the first '.' ("get_weather"); whole recipient if none
  std::string arguments;       // the message content (JSON for function tools)
  std::optional<std::string> channel;
  std::optional<std::string> content_type;  // "<|constrain|>json", "json", "code", ...
  bool arguments_are_json = false;          // whether `arguments` parses as JSON
};
std::optional<ToolCall> AsToolCall(const Message& message);

class HarmonyStreamParser {
 public:
  // `start_role`: the role of the first message when the prompt already ended with
  // "<|start|>{role}" (the usual case: assistant); nullopt when the completion starts with
  // <|start|>.
  HarmonyStreamParser(const Tokenizer* tokenizer, std::optional<Role> start_role,
                      ParserOptions options = {});

  ParserStep Process(int token);
  // End of the completion (stop token already fed, or max tokens): closes an open message.
  ParserStep ProcessEos();

  ParserState state() const { return state_; }
  std::optional<Role> current_role() const;
  std::optional<std::string> current_channel() const;
  std::optional<std::string> current_recipient() const;
  std::optional<std::string> current_content_type() const;
  const std::string& current_content() const { return content_; }  // "" outside content
  const std::optional<std::string>& last_content_delta() const { return last_delta_; }
  const std::vector<Message>& messages() const { return messages_; }
  const std::vector<std::string>& errors() const { return errors_; }
  std::vector<ToolCall> tool_calls() const;

 private:
  void StartHeader(std::optional<Role> role);
  void OnHeaderToken(int token, ParserStep& step);
  void OnContentToken(int token, ParserStep& step);
  void AppendContentBytes(std::string_view bytes);
  void CloseMessage(ParserStep& step);
  // Reports `what` and ignores tokens until the next <|start|>.
  void Fail(std::string what, ParserStep& step);
  std::string TokenName(int token) const;

  const Tokenizer* tokenizer_;
  ParserOptions options_;
  ParserState state_;
  bool resyncing_ = false;         // in kExpectStart after an error: skip quietly to <|start|>
  std::optional<Role> next_role_;  // role given for the first header
  std::vector<int> header_tokens_;
  MessageHeader header_;
  std::string content_;        // decoded content of the open message
  std::string pending_bytes_;  // bytes not yet decodable as UTF-8
  std::optional<std::string> last_delta_;
  std::vector<Message> messages_;
  std::vector<std::string> errors_;
  size_t tokens_seen_ = 0;
};

}  // namespace gptoss::harmony
