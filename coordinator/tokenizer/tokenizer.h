// Tokenizer: o200k_harmony (o200k_base ranks + harmony special tokens 199998..201087).
// Contract:
//  - Encode() treats its input as ordinary text: it never produces special tokens, so a literal
//    "<|start|>" typed by a user is text. Special tokens are only inserted by the harmony
//    renderer via SpecialTokenId(). For valid UTF-8 the ids are exactly tiktoken's
//    (o200k_harmony, encode_ordinary). Ill-formed UTF-8 never fails: each maximal stretch of
//    ill-formed bytes is encoded as a piece of its own, so Decode(Encode(x)) == x for all bytes.
//  - Decode() returns raw bytes (possibly partial UTF-8 at the ends); unknown ids are errors.
//  - Loading validates the file (sha256 of the ranks file, format, rank coverage; for
//    tokenizer.json the structure, the o200k regex, the vocabulary hash and the special ids)
//    and returns InvalidArgument/NotFound naming the problem.
//  - All methods are const and thread-safe (one Tokenizer serves every request thread).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gptoss {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Official ranks file (`base64 rank` per line); its sha256 must match o200k_base.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTiktoken(const std::string& path);
  // Hugging Face tokenizer.json as shipped in the openai/gpt-oss-* model directories.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizerJson(const std::string& path);
  // Dispatches on the path: a directory → its tokenizer.json; *.json → HF format; otherwise
  // tiktoken ranks. An empty path means $GPTOSS_TOKENIZER if set, else the first that exists of
  // <dir of the executable>/../share/gptoss/o200k_base.tiktoken (installed) and the copy
  // committed in this repository (coordinator/tokenizer/assets/).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path = "");

  virtual std::vector<int> Encode(std::string_view text) const = 0;
  virtual absl::StatusOr<std::string> Decode(std::span<const int> ids) const = 0;
  // Bytes of one token (special tokens give their literal text, e.g. "<|start|>").
  virtual absl::StatusOr<std::string_view> TokenBytes(int id) const = 0;
  virtual bool IsSpecial(int id) const = 0;
  // "<|start|>" → 200006; NotFound for names that are not special tokens. Like tiktoken, also
  // accepts "<|reserved_200018|>" for 200018, whose text is "<|endofprompt|>".
  virtual absl::StatusOr<int> SpecialTokenId(std::string_view name) const = 0;
  virtual int vocab_size() const = 0;  // 201088 for o200k_harmony
  // Length of the longest special-token literal (aliases included).
  virtual size_t MaxSpecialTokenBytes() const = 0;
};

// Text in which special-token literals ("<|start|>") become their ids and everything else is
// encoded as ordinary text. Linear in the text: a literal is looked up only within
// MaxSpecialTokenBytes() of its "<|", so hostile input ("<|" repeated) costs no more than text.
std::vector<int> EncodeWithSpecials(const Tokenizer& tokenizer, std::string_view text);

// Turns a stream of ids into UTF-8 text pieces that never split a code point and never lose
// bytes: incomplete sequences are held back until completed; Flush() returns what is left
// (invalid bytes are emitted as U+FFFD). Precisely: every piece is valid UTF-8, and the pieces
// plus Flush() equal utf8::ToValid(Decode(all ids)) (one U+FFFD per maximal ill-formed
// subpart, as soon as it is known to be ill-formed). Push(unknown id) is an error that changes
// nothing.
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer* tokenizer) : tokenizer_(tokenizer) {}
  absl::StatusOr<std::string> Push(int id);
  std::string Flush();

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

}  // namespace gptoss
