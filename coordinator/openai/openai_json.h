// The JSON side of the OpenAI-compatible HTTP API: request bodies read with bounds, typed field
// access whose errors name the parameter, the error shape, and the one absl::Status → HTTP status
// mapping of the tree.
// Contract:
//  - ParseBody(): a JSON object (harmony's reader: UTF-8 checked, nesting bounded), else
//    InvalidArgument "request body: ...".
//  - Field getters return InvalidArgument "<param>: <what>" for a wrong type or range; a JSON
//    null is the same as an absent field (the SDKs send null for "not given").
//  - ErrorJson() is OpenAI's shape: {"error": {"message", "type", "param", "code"}}; `param` is the
//    leading field path of an InvalidArgument message, if it has one.
//  - Dump(): compact JSON; bytes that are not valid UTF-8 (never expected from the engine's
//    UTF-8-safe text) become U+FFFD instead of failing the response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace gptoss::openai {

using Json = nlohmann::ordered_json;

absl::StatusOr<Json> ParseBody(std::string_view body);

// The HTTP status of an error (400, 401, 403, 404, 408, 413, 429, 499, 500, 501, 503, 504).
unsigned HttpStatusOf(const absl::Status& status);
// OpenAI's error type for a status ("invalid_request_error", "authentication_error", ...).
std::string ErrorTypeOf(const absl::Status& status);
Json ErrorJson(const absl::Status& status);
// (content type, body) of an error the HTTP server itself answers (HttpServer::Options).
std::pair<std::string, std::string> ErrorBody(unsigned status, const std::string& message);

std::string Dump(const Json& value);

// Typed access to the fields of a request object.
class Fields {
 public:
  // `prefix` is prepended to every parameter name in errors ("messages[2].").
  explicit Fields(const Json& object, std::string prefix = "")
      : object_(object), prefix_(std::move(prefix)) {}

  bool Has(const std::string& name) const;  // present and not null
  const Json* Get(const std::string& name) const;  // null when absent or null
  std::string Param(const std::string& name) const { return prefix_ + name; }
  absl::Status Bad(const std::string& name, absl::string_view what) const;

  absl::StatusOr<std::optional<std::string>> String(const std::string& name) const;
  absl::StatusOr<std::optional<bool>> Bool(const std::string& name) const;
  absl::StatusOr<std::optional<double>> Number(const std::string& name, double lo,
                                               double hi) const;
  absl::StatusOr<std::optional<int64_t>> Int(const std::string& name, int64_t lo,
                                             int64_t hi) const;
  // A string, or an array of strings (OpenAI's `stop`).
  absl::StatusOr<std::vector<std::string>> StringOrStrings(const std::string& name) const;
  // Every key of the object is in `known` (OpenAI answers an unknown one with 400).
  absl::Status OnlyKnown(const std::vector<absl::string_view>& known) const;

 private:
  const Json& object_;
  const std::string prefix_;
};

// Text of a message `content`: a string, or an array of parts whose type is in `text_types`
// (their "text" fields joined). Other part types are InvalidArgument naming `param`.
absl::StatusOr<std::string> ContentText(const Json& content, const std::string& param,
                                        const std::vector<absl::string_view>& text_types);

// A random id with `prefix` ("chatcmpl-", "call_"): 24 hex digits.
std::string RandomId(absl::string_view prefix);
// Seconds since the epoch.
int64_t UnixNow();

}  // namespace gptoss::openai
