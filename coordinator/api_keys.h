// ApiKeys: the bearer tokens of the public API (--api-key-file), shared by every front end.
// Contract:
//  - The file holds one key per line; blank lines and lines starting with '#' are skipped;
//    surrounding whitespace is trimmed. A key is 16..1024 printable ASCII characters without
//    spaces; at most 10000 keys. Errors name the file and line (never the key).
//  - Without a file every call is allowed. With one, a call must carry
//    `authorization: Bearer <key>`; anything else is UNAUTHENTICATED with a message that says
//    what is missing and nothing about the keys. Keys are compared in constant time.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace gptoss {

class ApiKeys {
 public:
  ApiKeys() = default;  // no keys: open
  static absl::StatusOr<ApiKeys> Load(const std::string& path);
  static absl::StatusOr<ApiKeys> FromText(absl::string_view text, const std::string& source);

  bool enabled() const { return !keys_.empty(); }
  // `authorization` is the header's value ("Bearer <key>"), empty when absent.
  absl::Status Check(absl::string_view authorization) const;
  absl::Status Check(const grpc::ServerContextBase& context) const;

 private:
  std::vector<std::string> keys_;
};

}  // namespace gptoss
