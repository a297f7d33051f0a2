// StreamingDetokenizer (declared in tokenizer.h).
#include "coordinator/tokenizer/tokenizer.h"
#include "coordinator/tokenizer/utf8.h"

namespace gptoss {

absl::StatusOr<std::string> StreamingDetokenizer::Push(int id) {
  absl::StatusOr<std::string_view> bytes = tokenizer_->TokenBytes(id);
  if (!bytes.ok()) return bytes.status();
  pending_.append(*bytes);
  // Emit everything up to an incomplete-but-so-far-valid tail, which the next token may
  // complete. Ill-formed bytes become U+FFFD as soon as they are known to be ill-formed, exactly
  // as utf8::ToValid would replace them in the whole stream.
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const std::string_view rest = std::string_view(pending_).substr(pos);
    const size_t valid = utf8::ValidPrefixLength(rest);
    out.append(rest.substr(0, valid));
    pos += valid;
    if (pos == pending_.size()) break;
    const utf8::ScanResult r = utf8::ScanOne(rest.substr(valid));
    if (r.kind == utf8::Scan::kTruncated) break;  // hold back
    out.append(utf8::kReplacement);
    pos += r.length;
  }
  pending_.erase(0, pos);
  return out;
}

std::string StreamingDetokenizer::Flush() {
  std::string out = utf8::ToValid(pending_);
  pending_.clear();
  return out;
}

}  // namespace gptoss
