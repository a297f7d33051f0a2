#include "coordinator/tokenizer/harmony_serde_json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gptoss::harmony {
namespace {

using Json = nlohmann::ordered_json;

// The number tokens of a syntactically valid JSON text, in document order (the order in which
// the SAX parser reports them), so each number can be re-read from its own digits.
std::vector<std::string_view> NumberTokens(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
      ++i;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      const size_t start = i;
      while (i < text.size() &&
             std::string_view("0123456789+-.eE").find(text[i]) != std::string_view::npos) {
        ++i;
      }
      out.push_back(text.substr(start, i - start));
    } else {
      ++i;
    }
  }
  return out;
}

const std::vector<double>& Pow10() {
  // serde_json's POW10 table holds the correctly rounded 1e0..1e308; strtod gives exactly that.
  static const std::vector<double> table = [] {
    std::vector<double> t;
    for (int i = 0; i <= 308; ++i) t.push_back(std::strtod(absl::StrCat("1e", i).c_str(), nullptr));
    return t;
  }();
  return table;
}

// serde_json's f64_from_parts (no float_roundtrip): significand × 10^exponent in at most a few
// rounded steps; nullopt where serde reports NumberOutOfRange.
std::optional<double> FromParts(bool positive, uint64_t significand, int64_t exponent) {
  double f = static_cast<double>(significand);
  while (true) {
    const uint64_t mag =
        exponent < 0 ? static_cast<uint64_t>(-exponent) : static_cast<uint64_t>(exponent);
    if (mag <= 308) {
      if (exponent >= 0) {
        f *= Pow10()[mag];
        if (std::isinf(f)) return std::nullopt;
      } else {
        f /= Pow10()[mag];
      }
      break;
    }
    if (f == 0.0) break;
    if (exponent >= 0) return std::nullopt;
    f /= 1e308;
    exponent += 308;
  }
  return positive ? f : -f;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Re-reads one JSON number token the way serde_json's parser does.
std::optional<Json> SerdeNumber(std::string_view s) {
  size_t i = 0;
  const bool positive = !(i < s.size() && s[i] == '-');
  if (!positive) ++i;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  auto overflows = [&](uint64_t sig, char c) {
    return sig > (kMax - static_cast<uint64_t>(c - '0')) / 10;
  };
  uint64_t significand = 0;
  int64_t exponent = 0;
  bool is_float = false;
  // Integer part; past u64 the remaining digits only scale (parse_long_integer).
  while (i < s.size() && IsDigit(s[i])) {
    if (is_float || overflows(significand, s[i])) {
      is_float = true;
      ++exponent;
    } else {
      significand = significand * 10 + static_cast<uint64_t>(s[i] - '0');
    }
    ++i;
  }
  if (i < s.size() && s[i] == '.') {
    is_float = true;
    ++i;
    bool overflowed = false;
    while (i < s.size() && IsDigit(s[i])) {
      // After an overflow the remaining fraction digits are ignored (parse_decimal_overflow).
      if (!overflowed && overflows(significand, s[i])) overflowed = true;
      if (!overflowed) {
        significand = significand * 10 + static_cast<uint64_t>(s[i] - '0');
        --exponent;
      }
      ++i;
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    is_float = true;
    ++i;
    bool positive_exp = true;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) positive_exp = s[i++] == '+';
    int64_t exp = 0;
    while (i < s.size() && IsDigit(s[i])) {
      exp = exp * 10 + (s[i] - '0');
      if (exp > std::numeric_limits<int32_t>::max()) {
        // parse_exponent_overflow: ±0, or out of range for a non-zero significand going up.
        if (significand != 0 && positive_exp) return std::nullopt;
        return Json(positive ? 0.0 : -0.0);
      }
      ++i;
    }
    // serde adds with i32 saturation.
    exponent = std::clamp<int64_t>(positive_exp ? exponent + exp : exponent - exp,
                                   std::numeric_limits<int32_t>::min(),
                                   std::numeric_limits<int32_t>::max());
  }
  if (is_float) {
    std::optional<double> f = FromParts(positive, significand, exponent);
    if (!f.has_value()) return std::nullopt;
    return Json(*f);
  }
  if (positive) return Json(significand);
  // "-0" and magnitudes beyond i64 become floats.
  if (significand == 0 ||
      significand > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
    return Json(-static_cast<double>(significand));
  }
  return Json(static_cast<int64_t>(0 - significand));
}

// Builds the DOM from SAX events, re-reading numbers from their text.
class SerdeDomBuilder {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  explicit SerdeDomBuilder(std::vector<std::string_view> numbers) : numbers_(std::move(numbers)) {}

  bool null() { return Add(Json(nullptr)) != nullptr; }
  bool boolean(bool v) { return Add(Json(v)) != nullptr; }
  bool number_integer(number_integer_t) { return Number(); }
  bool number_unsigned(number_unsigned_t) { return Number(); }
  bool number_float(number_float_t, const string_t&) { return Number(); }
  bool string(string_t& v) { return Add(Json(std::move(v))) != nullptr; }
  bool binary(binary_t&) { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t) { return Open(Json::object()); }
  bool key(string_t& k) {
    // The ordered map finds each key by a linear search, so an object of N keys costs N^2: a
    // few MB of one object's keys would hold a thread for minutes. Bounded instead.
    if (!stack_.empty() && stack_.back()->size() >= static_cast<size_t>(kSerdeMaxKeys))
      return Fail(absl::StrCat("an object with more than ", kSerdeMaxKeys, " keys"));
    key_ = std::move(k);
    return true;
  }
  bool end_object() { return Close(); }
  bool start_array(std::size_t) { return Open(Json::array()); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& ex) {
    if (error_.empty()) {
      error_ =
          absl::StrCat("at byte ", position, " near '", last_token.substr(0, 40), "': ", ex.what());
    }
    return false;
  }

  Json& root() { return root_; }
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    return false;
  }
  Json* Add(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(value));
      return &top.back();
    }
    // Duplicate keys: first position, last value (serde_json's IndexMap::insert).
    Json& slot = top[key_];
    slot = std::move(value);
    return &slot;
  }
  bool Open(Json container) {
    if (stack_.size() + 1 > static_cast<size_t>(kSerdeMaxDepth)) {
      return Fail(absl::StrCat("nested deeper than ", kSerdeMaxDepth, " levels"));
    }
    Json* added = Add(std::move(container));
    stack_.push_back(added);
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }
  bool Number() {
    if (next_number_ >= numbers_.size()) return Fail("internal: number tokens out of step");
    const std::string_view text = numbers_[next_number_++];
    std::optional<Json> value = SerdeNumber(text);
    if (!value.has_value()) {
      return Fail(absl::StrCat("number ", std::string(text.substr(0, 40)), " is out of range"));
    }
    return Add(*std::move(value)) != nullptr;
  }

  std::vector<std::string_view> numbers_;
  size_t next_number_ = 0;
  Json root_;
  std::vector<Json*> stack_;
  std::string key_;
  std::string error_;
};

void AppendEscaped(std::string& out, const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// ryu's layout (format64) around the shortest round-trip digits, which std::to_chars also
// produces: plain decimals for 1e-5 <= |v| < 1e16, scientific ("1e20", "1.5e-7") otherwise.
void AppendFloat(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";  // serde_json writes non-finite floats as null
    return;
  }
  if (std::signbit(v)) {
    out += '-';
    v = -v;
  }
  if (v == 0) {
    out += "0.0";
    return;
  }
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  const std::string_view sci(buf, res.ptr - buf);  // "d.ddde+XX" or "de-XX"
  const size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits += c;
  }
  int exp10 = 0;
  const size_t exp_start = e_pos + 1 + (sci[e_pos + 1] == '+' ? 1 : 0);
  std::from_chars(sci.data() + exp_start, sci.data() + sci.size(), exp10);
  const int length = static_cast<int>(digits.size());
  const int kk = exp10 + 1;   // 10^(kk-1) <= v < 10^kk
  const int k = kk - length;  // exponent of the last digit
  if (k >= 0 && kk <= 16) {
    out += digits;
    out.append(k, '0');
    out += ".0";
  } else if (kk > 0 && kk <= 16) {
    out += digits.substr(0, kk);
    out += '.';
    out += digits.substr(kk);
  } else if (kk > -5 && kk <= 0) {
    out += "0.";
    out.append(-kk, '0');
    out += digits;
  } else {
    out += digits[0];
    if (length > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += std::to_string(kk - 1);
  }
}

void AppendSerde(std::string& out, const Json& v) {
  switch (v.type()) {
    case Json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out += std::to_string(v.get<uint64_t>());
      return;
    case Json::value_t::number_float:
      AppendFloat(out, v.get<double>());
      return;
    case Json::value_t::string:
      AppendEscaped(out, v.get_ref<const std::string&>());
      return;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const Json& e : v) {
        if (!first) out += ',';
        first = false;
        AppendSerde(out, e);
      }
      out += ']';
      return;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : v.items()) {
        if (!first) out += ',';
        first = false;
        AppendEscaped(out, key);
        out += ':';
        AppendSerde(out, value);
      }
      out += '}';
      return;
    }
    default:
      out += "null";
  }
}

}  // namespace

absl::StatusOr<nlohmann::ordered_json> ParseSerdeJson(std::string_view text) {
  SerdeDomBuilder builder(NumberTokens(text));
  const bool ok = Json::sax_parse(text.begin(), text.end(), &builder);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON ", builder.error().empty() ? "document" : builder.error()));
  }
  return std::move(builder.root());
}

std::string SerdeJson(const nlohmann::ordered_json& value) {
  std::string out;
  AppendSerde(out, value);
  return out;
}

}  // namespace gptoss::harmony
