#include "coordinator/tokenizer/bpe_pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "coordinator/tokenizer/bpe_unicode16_delta.h"
#include "coordinator/tokenizer/utf8.h"

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

}  // namespace

struct Pretokenizer::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

Pretokenizer::Pretokenizer(std::unique_ptr<Code> code) : code_(std::move(code)) {}
Pretokenizer::~Pretokenizer() = default;

std::string Pretokenizer::O200kPcre2Pattern() {
  // Same alternatives as kO200kPatStr; each class gains the code points that Unicode 16 assigned
  // after PCRE2's Unicode 14, and \s/\S become Unicode White_Space (Rust's meaning) instead of
  // PCRE2's \s (which adds U+180E). (?!\S) is spelled (?![^WS]).
  const std::string ws(unicode16::kWhiteSpace);
  const std::string not_letter_number =
      absl::StrCat(R"(\p{L}\p{N})", std::string(unicode16::kAddLetterOrNumber));
  const std::string upper = absl::StrCat(R"([\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M})",
                                         std::string(unicode16::kAddUpperClass), "]");
  const std::string lower = absl::StrCat(R"([\p{Ll}\p{Lm}\p{Lo}\p{M})",
                                         std::string(unicode16::kAddLowerClass), "]");
  const std::string lead = absl::StrCat(R"([^\r\n)", not_letter_number, "]?");
  const std::string contraction = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)?)";
  return absl::StrCat(
      lead, upper, "*", lower, "+", contraction,                            //
      "|", lead, upper, "+", lower, "*", contraction,                       //
      "|", R"([\p{N})", std::string(unicode16::kAddNumber), "]{1,3}",                    //
      "| ?[^", ws, not_letter_number, R"(]+[\r\n/]*)",                      //
      "|[", ws, R"(]*[\r\n]+)",                                             //
      "|[", ws, "]+(?![^", ws, "])",                                        //
      "|[", ws, "]+");
}

absl::StatusOr<std::unique_ptr<Pretokenizer>> Pretokenizer::CreateO200k() {
  return Create(O200kPcre2Pattern());
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
    return absl::InvalidArgumentError(absl::StrCat("pre-tokenizer regex does not compile at offset ",
                                                   offset, ": ", reinterpret_cast<char*>(message)));
  }
  // Without JIT (e.g. an architecture PCRE2 cannot JIT for) the interpreter gives the same pieces.
  code->jit = pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE) == 0;
  return std::unique_ptr<Pretokenizer>(new Pretokenizer(std::move(code)));
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
  Scratch& scratch = ThreadScratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(run.data());
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
