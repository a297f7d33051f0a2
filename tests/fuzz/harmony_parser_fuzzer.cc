// libFuzzer target for the harmony streaming parser (and its header grammar).
//
// Input byte 0 picks the mode: bits 0-1 the start role (none, assistant, user, tool), bit 2 an
// empty channel whitelist, bit 3 "header mode" (the rest is raw header text for
// ParseMessageHeader). Otherwise the rest is a token stream: a byte < 0x40 picks a special or
// out-of-vocabulary id, < 0x80 a header-ish ordinary token, else it and the next two bytes pick
// any ordinary token. Ordinary tokens containing '<' or '|' are replaced, so "<|" can only
// reach content through a special token, which the parser must never let happen.
//
// Invariants (abort on violation): every delta and message is valid UTF-8 and free of "<|";
// the deltas of a message are a prefix of its final text; each step adds exactly the messages
// and errors it reports; EOS leaves no message open.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/tokenizer/harmony_parser.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "coordinator/tokenizer/utf8.h"

namespace {

using gptoss::Tokenizer;
using namespace gptoss::harmony;

const Tokenizer* g_tokenizer = nullptr;
std::vector<int> g_special;  // specials and ids outside the vocabulary
std::vector<int> g_words;    // ordinary tokens that build headers
int g_safe_token = 0;        // stands in for ordinary tokens containing '<' or '|'

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

bool Clean(std::string_view s) { return s.find("<|") == std::string_view::npos; }

bool SafeOrdinary(int id) {
  auto bytes = g_tokenizer->TokenBytes(id);
  return bytes.ok() && !g_tokenizer->IsSpecial(id) &&
         bytes->find_first_of("<|") == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto t = Tokenizer::LoadTiktoken(std::string(GPTOSS_SOURCE_DIR) +
                                   "/coordinator/tokenizer/assets/o200k_base.tiktoken");
  if (!t.ok()) {
    std::fprintf(stderr, "cannot load tokenizer: %s\n", std::string(t.status().message()).c_str());
    std::abort();
  }
  g_tokenizer = t->release();
  for (int id = 199998; id <= 200019; ++id) g_special.push_back(id);
  for (int id : {200100, 201087, -1, 201088, 1 << 30}) g_special.push_back(id);
  for (const char* w : {"assistant",
                        "user",
                        "system",
                        "developer",
                        "tool",
                        " to=",
                        "to=",
                        "functions",
                        ".",
                        "get_weather",
                        "=",
                        "analysis",
                        "final",
                        "commentary",
                        " json",
                        " code",
                        " ",
                        "  ",
                        "\n",
                        "\t",
                        "\r",
                        "\f",
                        "\v",
                        "\xC2\xA0",
                        "\xE3\x80\x80",
                        "\xC3\xA9",
                        "hello",
                        "{\"a\":1}",
                        "browser.search"}) {
    for (int id : g_tokenizer->Encode(w)) {
      if (SafeOrdinary(id)) g_words.push_back(id);
    }
  }
  g_words.push_back(9552);  // " \xF0\x9F": a character that the next token may not finish
  g_safe_token = g_tokenizer->Encode("x").at(0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  static constexpr std::optional<Role> kRoles[] = {std::nullopt, Role::kAssistant, Role::kUser,
                                                   Role::kTool};
  const std::optional<Role> role = kRoles[mode & 3];

  if (mode & 8) {  // header grammar on arbitrary bytes
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    auto header = ParseMessageHeader(text, role);
    if (header.ok()) {
      Check(gptoss::utf8::IsValid(header->channel.value_or("")), "header channel UTF-8");
      Check(gptoss::utf8::IsValid(header->recipient.value_or("")), "header recipient UTF-8");
    }
    return 0;
  }

  ParserOptions options;
  if (mode & 4) options.valid_channels.clear();
  HarmonyStreamParser parser(g_tokenizer, role, options);
  std::string deltas;  // of the open message
  size_t i = 1;
  while (i < size) {
    const uint8_t c = data[i++];
    int token;
    if (c < 0x40) {
      token = g_special[c % g_special.size()];
    } else if (c < 0x80) {
      token = g_words[c % g_words.size()];
    } else {
      uint32_t v = c & 0x7F;
      if (i < size) v = (v << 8) | data[i++];
      if (i < size) v = (v << 8) | data[i++];
      token = static_cast<int>(v % 199998);
      if (!SafeOrdinary(token)) token = g_safe_token;
    }
    const size_t messages_before = parser.messages().size();
    const size_t errors_before = parser.errors().size();
    const ParserStep step = parser.Process(token);
    Check(parser.messages().size() == messages_before + (step.message_done ? 1 : 0),
          "message count");
    Check(parser.errors().size() == errors_before + (step.error ? 1 : 0), "error count");
    if (step.message_done) {
      const std::string text = parser.messages().back().TextOf();
      Check(text.compare(0, deltas.size(), deltas) == 0, "deltas are a prefix of the message");
      Check(gptoss::utf8::IsValid(text) && Clean(text), "message text");
      deltas.clear();
    }
    if (step.content_delta.has_value()) {
      Check(parser.state() == ParserState::kContent, "delta outside content");
      Check(gptoss::utf8::IsValid(*step.content_delta) && Clean(*step.content_delta), "delta");
      deltas += *step.content_delta;
      Check(parser.current_content() == deltas, "current content");
    }
    if (parser.state() != ParserState::kContent) {
      Check(!parser.current_channel() && !parser.current_recipient(), "header outside content");
    }
  }
  const size_t messages_before = parser.messages().size();
  const ParserStep eos = parser.ProcessEos();
  Check(parser.state() != ParserState::kContent, "EOS left a message open");
  Check(parser.messages().size() == messages_before + (eos.message_done ? 1 : 0), "EOS count");
  if (eos.message_done) {
    Check(parser.messages().back().TextOf().compare(0, deltas.size(), deltas) == 0,
          "deltas are a prefix of the message closed by EOS");
  }
  for (const Message& m : parser.messages()) {
    Check(Clean(m.TextOf()) && gptoss::utf8::IsValid(m.TextOf()), "final messages");
  }
  return 0;
}
