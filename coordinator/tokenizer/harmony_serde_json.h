// JSON read and printed the way Rust's serde_json (1.0.140, features: preserve_order, no
// float_roundtrip) does it inside openai-harmony, so JSON Schema defaults render identically.
// Contract:
//  - ParseSerdeJson(): nlohmann's grammar (RFC 8259, UTF-8 checked, no exceptions), plus
//    serde_json's value semantics: numbers become u64 / i64 / f64 exactly as serde_json's
//    parser computes them (digits beyond u64 are truncated and scaled by a power of ten, "-0"
//    is -0.0, out-of-range numbers are errors); duplicate keys keep their first position and
//    the last value; nesting deeper than serde_json's recursion limit (127) is an error, and so
//    is an object with more than kSerdeMaxKeys keys.
//    Errors are InvalidArgument naming the byte offset.
//  - SerdeJson(): serde_json's Display: compact, object keys in insertion order, strings with
//    serde's escapes, integers as is, floats in ryu's shortest form (1e20, 1.25e-7, 3.0, 0.0001).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace gptoss::harmony {

inline constexpr int kSerdeMaxDepth = 127;
// Keys per object (not a serde_json limit: ours, because the ordered map inserts in linear time).
inline constexpr int kSerdeMaxKeys = 1024;

absl::StatusOr<nlohmann::ordered_json> ParseSerdeJson(std::string_view text);

std::string SerdeJson(const nlohmann::ordered_json& value);

}  // namespace gptoss::harmony
