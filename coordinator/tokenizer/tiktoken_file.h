// The tiktoken ranks format: one `base64(token bytes) SP rank` per line (o200k_base.tiktoken).
// Contract: the parser checks the format only (canonical base64, decimal ranks, every rank
// 0..N-1 exactly once) and returns the token bytes indexed by rank; errors name the line.
// Token-level checks (duplicate bytes, byte coverage) are BytePairEncoder::Create's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gptoss {

// Whole file; NotFound if it does not exist, InvalidArgument if unreadable or not a file.
absl::StatusOr<std::string> ReadTokenizerFile(const std::string& path);

absl::StatusOr<std::vector<std::string>> ParseTiktokenRanks(std::string_view contents);

// The canonical file text for `tokens` (rank = index), i.e. what tiktoken's dump writes; its
// sha256 identifies a vocabulary independently of the file format it came in.
std::string SerializeTiktokenRanks(const std::vector<std::string>& tokens);

// Reads `path`, checks that its sha256 is `expected_sha256` (lower-case hex), and parses it.
absl::StatusOr<std::vector<std::string>> LoadTiktokenRanks(const std::string& path,
                                                           std::string_view expected_sha256);

}  // namespace gptoss
