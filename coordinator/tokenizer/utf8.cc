#include "coordinator/tokenizer/utf8.h"

#include <cstdint>
#include <cstring>

namespace gptoss::utf8 {

ScanResult ScanOne(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  const uint8_t b0 = p[0];
  if (b0 < 0x80) return {Scan::kValid, 1};
  // Table 3-7: the lead byte fixes the length and the allowed range of the *second* byte; later
  // bytes are always 80..BF. C0, C1 and F5..FF never start a sequence.
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Scan::kInvalid, 1};
  }
  for (size_t i = 1; i < need; ++i) {
    if (i >= n) return {Scan::kTruncated, i};
    const uint8_t b = p[i];
    const bool ok = (i == 1) ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return {Scan::kInvalid, i};
  }
  return {Scan::kValid, need};
}

size_t ValidPrefixLength(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    // Eight ASCII bytes at a time: the common case for code and most prose.
    while (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if (word & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const ScanResult r = ScanOne(s.substr(i));
    if (r.kind != Scan::kValid) return i;
    i += r.length;
  }
  return n;
}

std::string ToValid(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t valid = ValidPrefixLength(s.substr(i));
    out.append(s.substr(i, valid));
    i += valid;
    if (i == s.size()) break;
    out.append(kReplacement);
    i += ScanOne(s.substr(i)).length;  // kInvalid or kTruncated: one U+FFFD per maximal subpart
  }
  return out;
}

}  // namespace gptoss::utf8
