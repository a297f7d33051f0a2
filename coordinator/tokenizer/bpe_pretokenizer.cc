#include "coordinator/tokenizer/bpe_pretokenizer.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "coordinator/tokenizer/bpe_unicode16_delta.h"
#include "coordinator/tokenizer/utf8.h"
#include "kernels/core/status.h"

namespace gptoss {

const std::string_view kO200kPatStr =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n/]*)"
    R"(|\s*[\r\n]+)"
    R"(|\s+(?!\S))"
    R"(|\s+)";

namespace {

// Limits for one match. The JIT stack grows on demand up to kJitStackMax; the o200k pattern
// needs little (its repeats are single character classes), this is head room.
constexpr size_t kJitStackStart = 32 * 1024;
constexpr size_t kJitStackMax = 8 * 1024 * 1024;

// Per-thread match scratch. Pattern independent (one ovector pair, no captures needed), so one
// per thread serves every Pretokenizer.
struct Scratch {
  pcre2_match_data* match_data = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  pcre2_match_context* context = nullptr;
  Scratch() {
    match_data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr);
    if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~Scratch() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_data_free(match_data);
  }
  bool ok() const { return match_data && context && jit_stack; }
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// One bit per code point: set for the Unicode 16 additions and for U+180E.
const std::vector<uint64_t>& StandInBitmap() {
  static const std::vector<uint64_t>* const kBits = [] {
    auto* bits = new std::vector<uint64_t>(0x110000 / 64, 0);
    auto set = [&](uint32_t cp) { (*bits)[cp >> 6] |= uint64_t{1} << (cp & 63); };
    for (const unicode16::Addition& a : unicode16::kAdditions) {
      for (uint32_t cp = a.first; cp <= a.last; ++cp) set(cp);
    }
    set(unicode16::kPcre2OnlySpace);
    return bits;
  }();
  return *kBits;
}

void EncodeUtf8(uint32_t cp, char* out) {  // cp >= U+0800
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out[0] = static_cast<char>(0xF0 | (cp >> 18));
    out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The stand-in for a flagged code point of UTF-8 length `length` (3 or 4).
uint32_t StandIn(uint32_t cp, size_t length) {
  if (cp == unicode16::kPcre2OnlySpace) return unicode16::kNonSpaceStandIn;
  const auto* it =
      std::upper_bound(std::begin(unicode16::kAdditions), std::end(unicode16::kAdditions), cp,
                       [](uint32_t c, const unicode16::Addition& a) { return c < a.first; });
  const auto kind = static_cast<size_t>((it - 1)->kind);
  return length == 3 ? unicode16::kStandIn3[kind] : unicode16::kStandIn4[kind];
}

// `run` (valid UTF-8) with every flagged character replaced by its stand-in, or nullopt if it
// has none (the common case: one pass that skips ASCII eight bytes at a time and decodes only
// 3- and 4-byte sequences, the only lengths the flagged code points have).
std::optional<std::string> Unicode16Shadow(std::string_view run) {
  const std::vector<uint64_t>& bits = StandInBitmap();
  const auto* p = reinterpret_cast<const uint8_t*>(run.data());
  const size_t n = run.size();
  std::optional<std::string> shadow;
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, p + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const uint8_t b = p[i];
    if (b < 0xE0) {  // ASCII, a continuation byte, or a 2-byte lead: nothing to replace
      ++i;
      continue;
    }
    const size_t length = b < 0xF0 ? 3 : 4;
    const uint32_t cp = length == 3
                            ? (b & 0x0Fu) << 12 | (p[i + 1] & 0x3Fu) << 6 | (p[i + 2] & 0x3Fu)
                            : (b & 0x07u) << 18 | (p[i + 1] & 0x3Fu) << 12 |
                                  (p[i + 2] & 0x3Fu) << 6 | (p[i + 3] & 0x3Fu);
    if ((bits[cp >> 6] >> (cp & 63)) & 1) {
      if (!shadow) shadow.emplace(run);
      EncodeUtf8(StandIn(cp, length), shadow->data() + i);
    }
    i += length;
  }
  return shadow;
}

}  // namespace

struct Pretokenizer::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

Pretokenizer::Pretokenizer(std::unique_ptr<Code> code, bool unicode16)
    : code_(std::move(code)), unicode16_(unicode16) {}
Pretokenizer::~Pretokenizer() = default;

absl::StatusOr<std::unique_ptr<Pretokenizer>> Pretokenizer::CreateO200k() {
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<Pretokenizer> p, Create(std::string(kO200kPatStr)));
  p->unicode16_ = true;
  return p;
}

absl::StatusOr<std::unique_ptr<Pretokenizer>> Pretokenizer::Create(const std::string& pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // ANCHORED: every valid character starts a match of the o200k pattern, so the next piece
  // always begins where the previous one ended; anchoring skips PCRE2's search loop. (JIT
  // ignores ANCHORED passed at match time, so it is a compile option.)
  auto code = std::make_unique<Code>();
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &error, &offset, nullptr);
  if (code->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(
        absl::StrCat("pre-tokenizer regex does not compile at offset ", offset, ": ",
                     reinterpret_cast<char*>(message)));
  }
  // Without JIT (e.g. an architecture PCRE2 cannot JIT for) the interpreter gives the same pieces.
  code->jit = pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE) == 0;
  return std::unique_ptr<Pretokenizer>(new Pretokenizer(std::move(code), /*unicode16=*/false));
}

void Pretokenizer::Split(std::string_view text,
                         absl::FunctionRef<void(std::string_view)> on_piece) const {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t valid = utf8::ValidPrefixLength(text.substr(pos));
    if (valid > 0) {
      SplitValid(text.substr(pos, valid), on_piece);
      pos += valid;
      continue;
    }
    size_t end = pos;  // a stretch of ill-formed bytes, up to the next well-formed character
    do {
      end += utf8::ScanOne(text.substr(end)).length;
    } while (end < text.size() && utf8::ScanOne(text.substr(end)).kind != utf8::Scan::kValid);
    on_piece(text.substr(pos, end - pos));
    pos = end;
  }
}

void Pretokenizer::SplitValid(std::string_view run,
                              absl::FunctionRef<void(std::string_view)> on_piece) const {
  if (unicode16_) {
    const std::optional<std::string> shadow = Unicode16Shadow(run);
    if (shadow) return Match(*shadow, run, on_piece);
  }
  Match(run, run, on_piece);
}

void Pretokenizer::Match(std::string_view subject_text, std::string_view run,
                         absl::FunctionRef<void(std::string_view)> on_piece) const {
  Scratch& scratch = ThreadScratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(subject_text.data());
  size_t pos = 0;
  while (pos < run.size()) {
    int rc = PCRE2_ERROR_NOMATCH;
    if (scratch.ok()) {
      rc = code_->jit ? pcre2_jit_match(code_->code, subject, run.size(), pos, 0,
                                        scratch.match_data, scratch.context)
                      : PCRE2_ERROR_JIT_BADOPTION;
      if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        // JIT stack exhausted or no JIT: the interpreter (heap-based) gives the same match.
        rc = pcre2_match(code_->code, subject, run.size(), pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                         scratch.match_data, scratch.context);
      }
    }
    size_t end = pos;
    if (rc > 0) end = pcre2_get_ovector_pointer(scratch.match_data)[1];
    if (end <= pos || end > run.size()) {
      // Unreachable for the o200k pattern on valid UTF-8 (every character starts a match), and a
      // custom pattern may not match everything: take one character so nothing is lost or looped.
      end = pos + utf8::ScanOne(run.substr(pos)).length;
    }
    on_piece(run.substr(pos, end - pos));
    pos = end;
  }
}

}  // namespace gptoss
