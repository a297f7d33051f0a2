#include "coordinator/tokenizer/tiktoken_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kernels/core/sha256.h"

namespace gptoss {
namespace {

// Far above any real tokenizer file (tokenizer.json for gpt-oss is 27 MB); keeps a wrong path
// (a checkpoint shard, /dev/zero) from exhausting memory.
constexpr int64_t kMaxTokenizerFileBytes = int64_t{512} << 20;

}  // namespace

absl::StatusOr<std::string> ReadTokenizerFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("tokenizer file ", path, " does not exist"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("cannot stat tokenizer file ", path, ": ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer file ", path, " is not a regular file"));
  }
  if (st.st_size > kMaxTokenizerFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer file ", path, " is ", st.st_size,
                                                   " bytes, more than any tokenizer"));
  }
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open tokenizer file ", path, ": ", std::strerror(errno)));
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  const size_t got = std::fread(data.data(), 1, data.size(), f.get());
  if (got != data.size() || std::ferror(f.get())) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read tokenizer file ", path));
  }
  return data;
}

absl::StatusOr<std::vector<std::string>> ParseTiktokenRanks(std::string_view contents) {
  // Ranks are dense, so none can reach the line count; bounding them first keeps a huge rank
  // from allocating gigabytes.
  const size_t max_rank = static_cast<size_t>(std::count(contents.begin(), contents.end(), '\n'));
  std::vector<std::string> tokens;
  std::vector<size_t> line_of_rank;  // 1-based line that defined each rank, 0 if none yet
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < contents.size()) {
    size_t eol = contents.find('\n', pos);
    if (eol == std::string_view::npos) eol = contents.size();
    std::string_view line = contents.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;  // like tiktoken's loader
    auto error = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat("tiktoken ranks line ", line_no, ": ", what));
    };
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      return error("expected `base64 rank`");
    }
    const std::string_view b64 = line.substr(0, space);
    const std::string_view rank_text = line.substr(space + 1);
    std::string token;
    // Canonical base64 only: absl accepts missing padding, so re-encode and compare.
    const absl::string_view b64_absl(b64.data(), b64.size());
    if (b64.empty() || !absl::Base64Unescape(b64_absl, &token) || token.empty() ||
        absl::Base64Escape(token) != b64_absl) {
      return error(absl::StrCat("'", absl::CHexEscape(b64_absl.substr(0, 64)),
                                "' is not canonical base64 of a non-empty token"));
    }
    uint32_t rank = 0;
    const bool digits = !rank_text.empty() && rank_text.size() <= 9 &&
                        std::all_of(rank_text.begin(), rank_text.end(), absl::ascii_isdigit);
    if (!digits ||
        !absl::SimpleAtoi(absl::string_view(rank_text.data(), rank_text.size()), &rank)) {
      return error(absl::StrCat("rank '", absl::CHexEscape(std::string(rank_text.substr(0, 32))),
                                "' is not a decimal number below 10^9"));
    }
    if (rank > max_rank) {
      return error(absl::StrCat("rank ", rank, " is larger than the number of lines allows"));
    }
    if (rank >= line_of_rank.size()) {
      line_of_rank.resize(rank + 1, 0);
      tokens.resize(rank + 1);
    }
    if (line_of_rank[rank] != 0) {
      return error(absl::StrCat("rank ", rank, " was already given on line ", line_of_rank[rank]));
    }
    line_of_rank[rank] = line_no;
    tokens[rank] = std::move(token);
  }
  if (tokens.empty()) return absl::InvalidArgumentError("tiktoken ranks file has no tokens");
  for (size_t r = 0; r < line_of_rank.size(); ++r) {
    if (line_of_rank[r] == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tiktoken ranks: rank ", r, " is missing (ranks must be 0..",
                       tokens.size() - 1, " without gaps, as they are the token ids)"));
    }
  }
  return tokens;
}

std::string SerializeTiktokenRanks(const std::vector<std::string>& tokens) {
  std::string out;
  out.reserve(tokens.size() * 18);
  for (size_t r = 0; r < tokens.size(); ++r) {
    absl::StrAppend(&out, absl::Base64Escape(tokens[r]), " ", r, "\n");
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> LoadTiktokenRanks(const std::string& path,
                                                           std::string_view expected_sha256) {
  absl::StatusOr<std::string> contents = ReadTokenizerFile(path);
  if (!contents.ok()) return contents.status();
  if (!expected_sha256.empty()) {
    const std::string sha = Sha256Hex(*contents);
    if (sha != expected_sha256) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokenizer file ", path, " has sha256 ", sha, ", expected ", std::string(expected_sha256),
          " (the official o200k_base.tiktoken); the file is corrupt, truncated or another "
          "vocabulary"));
    }
  }
  absl::StatusOr<std::vector<std::string>> ranks = ParseTiktokenRanks(*contents);
  if (!ranks.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", ranks.status().message()));
  }
  return ranks;
}

}  // namespace gptoss
