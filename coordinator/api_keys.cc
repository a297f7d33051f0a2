#include "coordinator/api_keys.h"


#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kernels/core/files.h"
#include "worker/common/internal_plane.h"

namespace gptoss {
namespace {

constexpr size_t kMinKeyBytes = 16;
constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kMaxKeys = 10000;
constexpr size_t kMaxFileBytes = 16 << 20;

}  // namespace

absl::StatusOr<ApiKeys> ApiKeys::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, kMaxFileBytes);
  if (!text.ok())
    return absl::Status(text.status().code(),
                        absl::StrCat("--api-key-file: ", text.status().message()));
  return FromText(*text, path);
}

absl::StatusOr<ApiKeys> ApiKeys::FromText(absl::string_view text, const std::string& source) {
  ApiKeys keys;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("--api-key-file: ", source, " line ", line_no, ": ", why));
    };
    if (line.size() < kMinKeyBytes || line.size() > kMaxKeyBytes)
      return bad(absl::StrCat("a key must be ", kMinKeyBytes, "..", kMaxKeyBytes, " characters"));
    for (unsigned char c : line)
      if (c < 0x21 || c > 0x7e) return bad("a key must be printable ASCII without spaces");
    if (keys.keys_.size() == kMaxKeys) return bad(absl::StrCat("more than ", kMaxKeys, " keys"));
    keys.keys_.emplace_back(line);
  }
  if (keys.keys_.empty())
    return absl::InvalidArgumentError(absl::StrCat("--api-key-file: ", source, " holds no key"));
  return keys;
}

absl::Status ApiKeys::Check(absl::string_view authorization) const {
  if (keys_.empty()) return absl::OkStatus();
  constexpr absl::string_view kBearer = "Bearer ";
  if (authorization.empty())
    return absl::UnauthenticatedError("an API key is required (authorization: Bearer <key>)");
  if (authorization.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer))
    return absl::UnauthenticatedError("the authorization header is not 'Bearer <key>'");
  const absl::string_view key = absl::StripAsciiWhitespace(authorization.substr(kBearer.size()));
  if (key.size() > kMaxKeyBytes) return absl::UnauthenticatedError("the API key is not valid");
  bool found = false;
  for (const std::string& k : keys_)
    found |= ConstantTimeEquals(std::string_view(key.data(), key.size()), k);  // no early exit
  if (!found) return absl::UnauthenticatedError("the API key is not valid");
  return absl::OkStatus();
}

absl::Status ApiKeys::Check(const grpc::ServerContextBase& context) const {
  if (keys_.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  if (metadata.count("authorization") > 1)
    return absl::UnauthenticatedError("more than one authorization header");
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return Check(absl::string_view());
  return Check(absl::string_view(it->second.data(), it->second.size()));
}

}  // namespace gptoss
