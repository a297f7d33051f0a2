// UTF-8 well-formedness, per Unicode Table 3-7 (no overlongs, no surrogates, nothing above
// U+10FFFF). Used by the pre-tokenizer (PCRE2 may only see valid UTF-8) and by everything that
// must hand valid UTF-8 to clients (streaming detokenizer, CLI JSON output).
// Contract: ill-formed input is replaced "per maximal subpart" (Unicode §3.9, the practice of
// Python's errors="replace" and WHATWG): each maximal subpart becomes one U+FFFD.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gptoss::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

enum class Scan {
  kValid,      // `length` bytes form one well-formed sequence
  kInvalid,    // `length` bytes (1..3) are a maximal ill-formed subpart
  kTruncated,  // all `length` bytes (1..3) are a valid prefix, but `s` ends before it completes
};
struct ScanResult {
  Scan kind;
  size_t length;
};
// Examines the sequence at the start of a non-empty `s`.
ScanResult ScanOne(std::string_view s);

// Length of the longest prefix of `s` that is valid UTF-8 (an ASCII fast path makes it cheap).
size_t ValidPrefixLength(std::string_view s);
inline bool IsValid(std::string_view s) { return ValidPrefixLength(s) == s.size(); }

// `s` with every maximal ill-formed subpart (including a truncated tail) replaced by U+FFFD.
std::string ToValid(std::string_view s);

}  // namespace gptoss::utf8
