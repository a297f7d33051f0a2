// Pre-tokenizer: splits text into the pieces that BPE encodes independently, with a PCRE2 (JIT)
// regex. For o200k that is tiktoken's o200k_base pat_str, adjusted so that PCRE2 10.42
// (Unicode 14) classifies characters exactly like tiktoken's Rust regex (Unicode 16); see
// bpe_unicode16_delta.h.
// Contract:
//  - The pieces, in order, concatenate to the input exactly; none is empty.
//  - Valid UTF-8 is split exactly like tiktoken's find_iter over the pattern.
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

// tiktoken_ext/openai_public.py o200k_base pat_str, verbatim (Rust regex syntax). HF
// tokenizer.json files carry it in their Split pre-tokenizer.
extern const std::string_view kO200kPatStr;

class Pretokenizer {
 public:
  // The o200k pattern in PCRE2 syntax with the Unicode 16 adjustments.
  static std::string O200kPcre2Pattern();
  static absl::StatusOr<std::unique_ptr<Pretokenizer>> CreateO200k();
  // Any PCRE2 pattern that cannot match the empty string (compiled UTF | UCP).
  static absl::StatusOr<std::unique_ptr<Pretokenizer>> Create(const std::string& pattern);
  ~Pretokenizer();

  void Split(std::string_view text, absl::FunctionRef<void(std::string_view)> on_piece) const;

 private:
  struct Code;
  explicit Pretokenizer(std::unique_ptr<Code> code);
  void SplitValid(std::string_view run, absl::FunctionRef<void(std::string_view)> on_piece) const;

  std::unique_ptr<Code> code_;
};

}  // namespace gptoss
