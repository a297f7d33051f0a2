#include "coordinator/openai/openai_json.h"

#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/tokenizer/harmony_serde_json.h"

namespace gptoss::openai {

absl::StatusOr<Json> ParseBody(std::string_view body) {
  absl::StatusOr<Json> parsed = harmony::ParseSerdeJson(body);
  if (!parsed.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("request body: not valid JSON (", parsed.status().message(), ")"));
  if (!parsed->is_object())
    return absl::InvalidArgumentError("request body: not a JSON object");
  return parsed;
}

unsigned HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;  // the client closed the request (nginx's convention)
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string ErrorTypeOf(const absl::Status& status) {
  switch (HttpStatusOf(status)) {
    case 400:
    case 404:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "service_unavailable_error";
    default:
      return "server_error";
  }
}

Json ErrorJson(const absl::Status& status) {
  const std::string message(status.message());
  Json param = nullptr;
  const size_t colon = message.find(": ");
  if (status.code() == absl::StatusCode::kInvalidArgument && colon != std::string::npos &&
      colon > 0 && message.substr(0, colon).find(' ') == std::string::npos)
    param = message.substr(0, colon);
  Json code = nullptr;
  if (status.code() == absl::StatusCode::kNotFound && message.starts_with("model '"))
    code = "model_not_found";
  if (status.code() == absl::StatusCode::kUnauthenticated) code = "invalid_api_key";
  return Json{{"error",
               {{"message", message.empty() ? "error" : message},
                {"type", ErrorTypeOf(status)},
                {"param", param},
                {"code", code}}}};
}

std::pair<std::string, std::string> ErrorBody(unsigned status, const std::string& message) {
  const Json body = {{"error",
                      {{"message", message},
                       {"type", status == 413 || status == 431 || status == 400
                                    ? "invalid_request_error"
                                    : "server_error"},
                       {"param", nullptr},
                       {"code", nullptr}}}};
  return {"application/json", Dump(body)};
}

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool Fields::Has(const std::string& name) const { return Get(name) != nullptr; }

const Json* Fields::Get(const std::string& name) const {
  auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status Fields::Bad(const std::string& name, absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(Param(name), ": ", what));
}

absl::StatusOr<std::optional<std::string>> Fields::String(const std::string& name) const {
  const Json* v = Get(name);
  if (!v) return std::nullopt;
  if (!v->is_string()) return Bad(name, "must be a string");
  return v->get<std::string>();
}

absl::StatusOr<std::optional<bool>> Fields::Bool(const std::string& name) const {
  const Json* v = Get(name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return Bad(name, "must be a boolean");
  return v->get<bool>();
}

absl::StatusOr<std::optional<double>> Fields::Number(const std::string& name, double lo,
                                                     double hi) const {
  const Json* v = Get(name);
  if (!v) return std::nullopt;
  if (!v->is_number()) return Bad(name, "must be a number");
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) return Bad(name, absl::StrCat(x, " not in [", lo, ", ", hi, "]"));
  return x;
}

absl::StatusOr<std::optional<int64_t>> Fields::Int(const std::string& name, int64_t lo,
                                                   int64_t hi) const {
  const Json* v = Get(name);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo)
      return Bad(name, absl::StrCat(u, " not in [", lo, ", ", hi, "]"));
    return static_cast<int64_t>(u);
  }
  if (!v->is_number_integer()) return Bad(name, "must be an integer");
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) return Bad(name, absl::StrCat(x, " not in [", lo, ", ", hi, "]"));
  return x;
}

absl::StatusOr<std::vector<std::string>> Fields::StringOrStrings(const std::string& name) const {
  const Json* v = Get(name);
  std::vector<std::string> out;
  if (!v) return out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
    return out;
  }
  if (!v->is_array()) return Bad(name, "must be a string or an array of strings");
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string())
      return Bad(absl::StrCat(name, "[", i, "]"), "must be a string");
    out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

absl::Status Fields::OnlyKnown(const std::vector<absl::string_view>& known) const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    bool found = false;
    for (absl::string_view k : known) found = found || k == it.key();
    if (!found)
      return absl::InvalidArgumentError(
          absl::StrCat(Param(it.key()), ": unrecognized request argument"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ContentText(const Json& content, const std::string& param,
                                        const std::vector<absl::string_view>& text_types) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    return absl::InvalidArgumentError(
        absl::StrCat(param, ": must be a string or an array of content parts"));
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string at = absl::StrCat(param, "[", i, "]");
    if (!part.is_object())
      return absl::InvalidArgumentError(absl::StrCat(at, ": must be an object"));
    auto type = part.find("type");
    if (type == part.end() || !type->is_string())
      return absl::InvalidArgumentError(absl::StrCat(at, ".type: required"));
    bool ok = false;
    for (absl::string_view t : text_types) ok = ok || t == type->get<std::string>();
    if (!ok)
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".type: '", type->get<std::string>(), "' is not supported (",
                       absl::StrJoin(text_types, ", "), " only: this model reads text)"));
    auto t = part.find("text");
    if (t == part.end() || !t->is_string())
      return absl::InvalidArgumentError(absl::StrCat(at, ".text: must be a string"));
    text += t->get<std::string>();
  }
  return text;
}

std::string RandomId(absl::string_view prefix) {
  // Seeded once per thread; std::random_device may throw where no entropy source can be opened
  // (out of descriptors): the clock and the thread then seed it instead.
  thread_local std::mt19937_64 rng([] {
    try {
      return static_cast<uint64_t>(std::random_device{}()) << 32 ^ std::random_device{}();
    } catch (const std::exception&) {
      return static_cast<uint64_t>(
                 std::chrono::steady_clock::now().time_since_epoch().count()) ^
             std::hash<std::thread::id>()(std::this_thread::get_id());
    }
  }());
  const uint64_t a = rng(), b = rng();
  std::string hex = absl::StrCat(absl::Hex(a, absl::kZeroPad16), absl::Hex(b, absl::kZeroPad16));
  return absl::StrCat(prefix, hex.substr(0, 24));
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace gptoss::openai
