#include "coordinator/tokenizer/harmony_parser.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "coordinator/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace gptoss::harmony {
namespace {

constexpr std::string_view kChannelMarker = "<|channel|>";
constexpr std::string_view kConstrainMarker = "<|constrain|>";

// Rust's std::str::from_utf8 verdict: the valid prefix length, and the length of the invalid
// sequence that follows it (nullopt when the input merely ends inside a character). Rust, like
// utf8::ScanOne, measures invalid sequences as maximal subparts.
struct Utf8Verdict {
  size_t valid_up_to;
  bool ok;
  std::optional<size_t> error_len;
};

Utf8Verdict CheckUtf8(std::string_view s) {
  const size_t valid = utf8::ValidPrefixLength(s);
  if (valid == s.size()) return {valid, true, std::nullopt};
  const utf8::ScanResult r = utf8::ScanOne(s.substr(valid));
  if (r.kind == utf8::Scan::kTruncated) return {valid, false, std::nullopt};
  return {valid, false, r.length};
}

// Decodes the code point at s[i] of valid UTF-8 and advances i.
char32_t NextCodePoint(std::string_view s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  int width = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  char32_t cp = width == 1 ? c : width == 2 ? (c & 0x1F) : width == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < width; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += width;
  return cp;
}

// Rust's char::is_whitespace (Unicode White_Space).
bool IsWhiteSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Rust's str::trim on valid UTF-8.
std::string_view TrimWhiteSpace(std::string_view s) {
  size_t i = 0, first = s.size(), last = 0;
  while (i < s.size()) {
    const size_t at = i;
    if (!IsWhiteSpace(NextCodePoint(s, i))) {
      if (first == s.size()) first = at;
      last = i;
    }
  }
  return first == s.size() ? std::string_view() : s.substr(first, last - first);
}

// Rust's str::split_ascii_whitespace: space, \t, \n, \f, \r (not \v); empty pieces skipped.
std::vector<std::string> SplitAsciiWhitespace(std::string_view s) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r') {
      if (!cur.empty()) parts.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(std::move(cur));
  return parts;
}

// Model output quoted in an error message: valid UTF-8, and short.
std::string Quoted(std::string_view text) {
  constexpr size_t kMax = 120;
  if (text.size() <= kMax) return absl::StrCat("\"", utf8::ToValid(text), "\"");
  return absl::StrCat("\"", utf8::ToValid(text.substr(0, kMax)), "...\"");
}

}  // namespace

std::string_view ParserStateName(ParserState state) {
  switch (state) {
    case ParserState::kExpectStart:
      return "ExpectStart";
    case ParserState::kHeader:
      return "Header";
    case ParserState::kContent:
      return "Content";
  }
  return "ExpectStart";
}

absl::StatusOr<MessageHeader> ParseMessageHeader(std::string_view text, std::optional<Role> role) {
  if (!CheckUtf8(text).ok) return absl::InvalidArgumentError("header is not valid UTF-8");
  MessageHeader header;
  std::string rest(text);
  if (size_t at = rest.find(kChannelMarker); at != std::string::npos) {
    const std::string_view after = std::string_view(rest).substr(at + kChannelMarker.size());
    size_t end = 0;
    while (end < after.size()) {
      size_t next = end;
      const char32_t c = NextCodePoint(after, next);
      if (IsWhiteSpace(c) || c == U'<') break;
      end = next;
    }
    if (end == 0) return absl::InvalidArgumentError("<|channel|> without a channel name");
    header.channel = std::string(after.substr(0, end));
    rest = rest.substr(0, at) + std::string(after.substr(end));
  }
  rest = std::string(TrimWhiteSpace(rest));
  // "to=foo<|constrain|>json": the content type is its own word.
  if (rest.find(kConstrainMarker) != std::string::npos) {
    rest = std::string(
        TrimWhiteSpace(absl::StrReplaceAll(rest, {{"<|constrain|>", " <|constrain|>"}})));
  }
  std::vector<std::string> parts = SplitAsciiWhitespace(rest);

  std::optional<std::string> role_word;
  if (!role.has_value()) {
    if (parts.empty()) return absl::InvalidArgumentError("header has no role");
    role_word = parts[0];
    role = RoleFromName(parts[0]);
    if (!role.has_value()) {
      // An unknown first word with more words after it is a tool speaking ("functions.x
      // to=assistant"): the word is the tool's name.
      if (parts.size() > 1 || parts[0].starts_with("to=")) {
        parts.erase(parts.begin());
        role = Role::kTool;
      } else {
        return absl::InvalidArgumentError(absl::StrCat("unknown role ", Quoted(parts[0])));
      }
    }
  }
  if (!parts.empty() && parts[0] == RoleName(*role)) parts.erase(parts.begin());

  if (!parts.empty()) {
    const size_t num_parts = parts.size();
    std::string last = std::move(parts.back());
    parts.pop_back();
    if (last.starts_with("to=")) {
      header.recipient = last.substr(3);
    } else if (num_parts == 1) {
      header.recipient = std::move(last);  // a lone word is a recipient
    } else {
      header.content_type = std::move(last);
      std::string recipient = std::move(parts.back());
      parts.pop_back();
      header.recipient = recipient.starts_with("to=") ? recipient.substr(3) : recipient;
    }
  }
  if (!parts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected words in message header: ", Quoted(absl::StrJoin(parts, " "))));
  }
  header.author.role = *role;
  if (*role == Role::kTool) header.author.name = role_word;
  return header;
}

std::optional<ToolCall> AsToolCall(const Message& message) {
  if (message.author.role != Role::kAssistant || !message.recipient.has_value() ||
      *message.recipient == "all") {
    return std::nullopt;
  }
  ToolCall call;
  call.recipient = *message.recipient;
  const size_t dot = call.recipient.find('.');
  call.namespace_name = call.recipient.substr(0, dot);
  call.name = dot == std::string::npos ? call.recipient : call.recipient.substr(dot + 1);
  call.arguments = message.TextOf();
  call.channel = message.channel;
  call.content_type = message.content_type;
  call.arguments_are_json = nlohmann::json::accept(call.arguments);
  return call;
}

HarmonyStreamParser::HarmonyStreamParser(const Tokenizer* tokenizer, std::optional<Role> start_role,
                                         ParserOptions options)
    : tokenizer_(tokenizer),
      options_(std::move(options)),
      state_(start_role.has_value() ? ParserState::kHeader : ParserState::kExpectStart),
      next_role_(start_role) {}

std::optional<Role> HarmonyStreamParser::current_role() const {
  if (state_ == ParserState::kContent) return header_.author.role;
  return next_role_;
}
std::optional<std::string> HarmonyStreamParser::current_channel() const {
  if (state_ != ParserState::kContent) return std::nullopt;
  return header_.channel;
}
std::optional<std::string> HarmonyStreamParser::current_recipient() const {
  if (state_ != ParserState::kContent) return std::nullopt;
  return header_.recipient;
}
std::optional<std::string> HarmonyStreamParser::current_content_type() const {
  if (state_ != ParserState::kContent) return std::nullopt;
  return header_.content_type;
}

std::vector<ToolCall> HarmonyStreamParser::tool_calls() const {
  std::vector<ToolCall> calls;
  for (const Message& m : messages_) {
    if (std::optional<ToolCall> c = AsToolCall(m)) calls.push_back(std::move(*c));
  }
  return calls;
}

std::string HarmonyStreamParser::TokenName(int token) const {
  if (tokenizer_ != nullptr && tokenizer_->IsSpecial(token)) {
    absl::StatusOr<std::string_view> bytes = tokenizer_->TokenBytes(token);
    if (bytes.ok()) return absl::StrCat(std::string(*bytes), " (", token, ")");
  }
  return absl::StrCat("token ", token);
}

void HarmonyStreamParser::StartHeader(std::optional<Role> role) {
  state_ = ParserState::kHeader;
  resyncing_ = false;
  next_role_ = role;
  header_tokens_.clear();
}

void HarmonyStreamParser::Fail(std::string what, ParserStep& step) {
  std::string message = absl::StrCat("token #", tokens_seen_, ": ", what);
  errors_.push_back(message);
  step.error = std::move(message);
  state_ = ParserState::kExpectStart;
  resyncing_ = true;
  next_role_.reset();
  header_tokens_.clear();
}

ParserStep HarmonyStreamParser::Process(int token) {
  ParserStep step;
  ++tokens_seen_;
  const bool in_vocab = tokenizer_ != nullptr && token >= 0 && token < tokenizer_->vocab_size();
  switch (state_) {
    case ParserState::kExpectStart:
      if (token == kStartToken) {
        StartHeader(std::nullopt);
      } else if (!resyncing_) {
        Fail(absl::StrCat("expected <|start|>, got ", TokenName(token)), step);
      }
      break;
    case ParserState::kHeader:
      if (!in_vocab) {
        Fail(absl::StrCat("token id ", token, " is outside the vocabulary"), step);
      } else {
        OnHeaderToken(token, step);
      }
      break;
    case ParserState::kContent:
      if (!in_vocab) {
        CloseMessage(step);
        Fail(absl::StrCat("token id ", token, " is outside the vocabulary"), step);
      } else {
        OnContentToken(token, step);
      }
      break;
  }
  step.content_delta = last_delta_;
  return step;
}

void HarmonyStreamParser::OnHeaderToken(int token, ParserStep& step) {
  if (token == kMessageToken) {
    std::string text;
    for (int t : header_tokens_) {
      absl::StatusOr<std::string_view> bytes = tokenizer_->TokenBytes(t);
      if (bytes.ok()) text.append(*bytes);
    }
    absl::StatusOr<MessageHeader> header = ParseMessageHeader(text, next_role_);
    if (!header.ok()) {
      Fail(absl::StrCat("bad message header ", Quoted(text), ": ", header.status().message()),
           step);
      return;
    }
    if (header->channel.has_value() && !options_.valid_channels.empty() &&
        std::find(options_.valid_channels.begin(), options_.valid_channels.end(),
                  *header->channel) == options_.valid_channels.end()) {
      Fail(absl::StrCat("unknown channel ", Quoted(*header->channel)), step);
      return;
    }
    header_ = *std::move(header);
    next_role_.reset();
    header_tokens_.clear();
    content_.clear();
    pending_bytes_.clear();
    state_ = ParserState::kContent;
    step.header_done = true;
    return;
  }
  if (token == kStartToken) {
    // A new message begins before this header ended: report it and parse the new header.
    Fail(absl::StrCat("<|start|> inside a message header"), step);
    StartHeader(std::nullopt);
    return;
  }
  if (tokenizer_->IsSpecial(token) && token != kChannelToken && token != kConstrainToken) {
    Fail(absl::StrCat("unexpected ", TokenName(token), " in a message header"), step);
    return;
  }
  if (header_tokens_.size() >= options_.max_header_tokens) {
    Fail(absl::StrCat("message header longer than ", options_.max_header_tokens, " tokens"), step);
    return;
  }
  header_tokens_.push_back(token);
}

void HarmonyStreamParser::OnContentToken(int token, ParserStep& step) {
  if (token == kEndToken || token == kReturnToken || token == kCallToken) {
    CloseMessage(step);
    return;
  }
  if (tokenizer_->IsSpecial(token)) {
    // Never let a special token's text into content: close what we have, then resync.
    CloseMessage(step);
    if (token == kStartToken) {
      Fail("<|start|> inside message content (message closed early)", step);
      StartHeader(std::nullopt);
    } else {
      Fail(absl::StrCat("unexpected ", TokenName(token), " in message content"), step);
    }
    return;
  }
  absl::StatusOr<std::string_view> bytes = tokenizer_->TokenBytes(token);
  if (!bytes.ok()) {
    CloseMessage(step);
    Fail(absl::StrCat("undecodable token ", token, ": ", bytes.status().message()), step);
    return;
  }
  AppendContentBytes(*bytes);
}

// harmony's incremental UTF-8 handling: emit the longest valid prefix; an invalid sequence
// becomes one U+FFFD (one per token); bytes of an unfinished character wait for the next token.
void HarmonyStreamParser::AppendContentBytes(std::string_view bytes) {
  pending_bytes_.append(bytes);
  const Utf8Verdict v = CheckUtf8(pending_bytes_);
  if (v.ok) {
    content_ += pending_bytes_;
    last_delta_ = std::move(pending_bytes_);
    pending_bytes_.clear();
    return;
  }
  std::string delta = pending_bytes_.substr(0, v.valid_up_to);
  pending_bytes_.erase(0, v.valid_up_to);
  if (v.error_len.has_value()) {
    delta.append(utf8::kReplacement);
    pending_bytes_.erase(0, *v.error_len);
  }
  content_ += delta;
  if (delta.empty()) {
    last_delta_.reset();
  } else {
    last_delta_ = std::move(delta);
  }
}

void HarmonyStreamParser::CloseMessage(ParserStep& step) {
  Message m;
  m.author = header_.author;
  m.recipient = header_.recipient;
  m.channel = header_.channel;
  m.content_type = header_.content_type;
  // Bytes still waiting for the rest of a character are flushed lossily, as harmony does.
  m.content.push_back(TextContent{content_ + utf8::ToValid(pending_bytes_)});
  messages_.push_back(std::move(m));
  content_.clear();
  pending_bytes_.clear();
  last_delta_.reset();
  state_ = ParserState::kExpectStart;
  resyncing_ = false;
  step.message_done = true;
}

ParserStep HarmonyStreamParser::ProcessEos() {
  ParserStep step;
  switch (state_) {
    case ParserState::kExpectStart:
      break;  // normal: the last message ended with its stop token
    case ParserState::kHeader:
      Fail("completion ended inside a message header", step);
      resyncing_ = false;
      break;
    case ParserState::kContent:
      CloseMessage(step);
      break;
  }
  step.content_delta = last_delta_;
  return step;
}

}  // namespace gptoss::harmony
