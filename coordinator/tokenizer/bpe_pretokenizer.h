// Pre-tokenizer: splits text into the pieces that BPE encodes independently, with a PCRE2 (JIT)
// regex. For o200k that is tiktoken's o200k_base pat_str, verbatim.
// Contract:
//  - The pieces, in order, concatenate to the input exactly; none is empty.
//  - Valid UTF-8 is split exactly like tiktoken's find_iter over the pattern. tiktoken's Rust
//    regex uses Unicode 16 tables; Debian 12's PCRE2 10.42 has Unicode 14 and a \s that also
//    matches U+180E. For o200k, a run that contains such a character is matched as a copy in
//    which each one is replaced by a stand-in of the same kind and UTF-8 length that PCRE2
//    classifies as tiktoken does (bpe_unicode16_delta.h); pieces are cut from the original.
//  - Ill-formed UTF-8 (which a regex cannot match) splits the text: each maximal stretch of
//    ill-formed bytes is one piece, and the valid runs around it are split as separate texts.
//  - Split is thread-safe: match scratch space is per thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace gptoss {

// tiktoken_ext/openai_public.py o200k_base pat_str, verbatim. HF tokenizer.json files carry it
// in their Split pre-tokenizer.
extern const std::string_view kO200kPatStr;

class Pretokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Pretokenizer>> CreateO200k();
  // Any PCRE2 pattern (compiled UTF | UCP), used as is. A position where it does not match
  // becomes a one-character piece.
  static absl::StatusOr<std::unique_ptr<Pretokenizer>> Create(const std::string& pattern);
  ~Pretokenizer();

  void Split(std::string_view text, absl::FunctionRef<void(std::string_view)> on_piece) const;

 private:
  struct Code;
  Pretokenizer(std::unique_ptr<Code> code, bool unicode16);
  void SplitValid(std::string_view run, absl::FunctionRef<void(std::string_view)> on_piece) const;
  // Matches `subject` (same length as `run`), reporting pieces as slices of `run`.
  void Match(std::string_view subject, std::string_view run,
             absl::FunctionRef<void(std::string_view)> on_piece) const;

  std::unique_ptr<Code> code_;
  bool unicode16_;  // apply the Unicode 16 stand-ins
};

}  // namespace gptoss
