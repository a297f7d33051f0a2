// Tokenizer::Load*: file discovery and the o200k_harmony checks shared by both formats.
#include "coordinator/tokenizer/tokenizer.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/tokenizer/bpe_pretokenizer.h"
#include "coordinator/tokenizer/bpe_tokenizer.h"
#include "coordinator/tokenizer/hf_tokenizer_json.h"
#include "kernels/core/files.h"
#include "kernels/core/sha256.h"
#include "coordinator/tokenizer/tiktoken_file.h"
#include "kernels/core/status.h"

#ifndef GPTOSS_TOKENIZER_SOURCE_ASSET
#error "GPTOSS_TOKENIZER_SOURCE_ASSET must name the repository's o200k_base.tiktoken"
#endif

namespace gptoss {
namespace {

constexpr char kRanksFileName[] = "o200k_base.tiktoken";

// Where to look when no path is given, in order: $GPTOSS_TOKENIZER, an installed copy next to
// the binary (<prefix>/bin/x -> <prefix>/share/gptoss/), the copy in the source tree.
std::vector<std::string> DefaultCandidates() {
  std::vector<std::string> candidates;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(
        (exe.parent_path().parent_path() / "share" / "gptoss" / kRanksFileName).string());
  }
  candidates.push_back(GPTOSS_TOKENIZER_SOURCE_ASSET);
  return candidates;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadTiktoken(const std::string& path) {
  GPTOSS_ASSIGN_OR_RETURN(std::vector<std::string> ranks, LoadTiktokenRanks(path, kO200kBaseSha256));
  return BpeTokenizer::CreateO200kHarmony(ranks);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadHfTokenizerJson(const std::string& path) {
  GPTOSS_ASSIGN_OR_RETURN(std::string text, ReadTokenizerFile(path));
  absl::StatusOr<HfTokenizerJson> parsed = ParseHfTokenizerJson(text);
  if (!parsed.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not o200k_harmony: ", what));
  };
  // Exactly tiktoken's regex (we run an equivalent PCRE2 form of it, see bpe_pretokenizer.h).
  if (parsed->split_pattern != kO200kPatStr) return bad("the Split regex is not the o200k pattern");
  // The vocabulary must be o200k_base byte for byte: hash it in the tiktoken file format.
  const std::string sha = Sha256Hex(SerializeTiktokenRanks(parsed->ranks));
  if (sha != kO200kBaseSha256) {
    return bad(absl::StrCat("model.vocab (", parsed->ranks.size(),
                            " tokens) differs from o200k_base"
                            " (its ranks file would have sha256 ",
                            sha, ")"));
  }
  const std::vector<SpecialToken>& expected = O200kHarmonySpecialTokens();
  if (parsed->added_tokens.size() != expected.size()) {
    return bad(absl::StrCat("added_tokens has ", parsed->added_tokens.size(),
                            " special tokens, expected ", expected.size()));
  }
  for (const SpecialToken& t : parsed->added_tokens) {
    const int slot = t.id - kO200kBaseRanks;
    if (slot < 0 || slot >= static_cast<int>(expected.size()) || expected[slot].name != t.name) {
      return bad(absl::StrCat("added token ", t.name, " has id ", t.id));
    }
  }
  return BpeTokenizer::CreateO200kHarmony(parsed->ranks);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  std::string chosen = path;
  if (chosen.empty()) {
    const char* env = std::getenv("GPTOSS_TOKENIZER");
    if (env != nullptr && env[0] != '\0') {
      chosen = env;
    } else {
      const std::vector<std::string> candidates = DefaultCandidates();
      for (const std::string& c : candidates) {
        if (PathExists(c)) {
          chosen = c;
          break;
        }
      }
      if (chosen.empty()) {
        return absl::NotFoundError(absl::StrCat("no tokenizer given and none found at ",
                                                absl::StrJoin(candidates, ", "),
                                                "; pass a path or set GPTOSS_TOKENIZER"));
      }
    }
  }
  if (IsDirectory(chosen)) {  // a model directory
    const std::string json_path = (std::filesystem::path(chosen) / "tokenizer.json").string();
    if (!PathExists(json_path)) {
      return absl::NotFoundError(absl::StrCat("directory ", chosen, " has no tokenizer.json"));
    }
    chosen = json_path;
  }
  if (chosen.size() >= 5 && chosen.compare(chosen.size() - 5, 5, ".json") == 0)
    return LoadHfTokenizerJson(chosen);
  return LoadTiktoken(chosen);
}

std::vector<int> EncodeWithSpecials(const Tokenizer& tokenizer, std::string_view text) {
  const size_t max_literal = tokenizer.MaxSpecialTokenBytes();
  std::vector<int> ids;
  auto encode_plain = [&](std::string_view plain) {
    const std::vector<int> part = tokenizer.Encode(plain);
    ids.insert(ids.end(), part.begin(), part.end());
  };
  size_t plain_start = 0, at = 0;
  while ((at = text.find("<|", at)) != std::string_view::npos) {
    // Only the window a literal can span is searched: the scan stays linear.
    const std::string_view window = text.substr(at, max_literal);
    const size_t end = window.find("|>", 2);
    absl::StatusOr<int> special = end == std::string_view::npos
                                      ? absl::NotFoundError("")
                                      : tokenizer.SpecialTokenId(window.substr(0, end + 2));
    if (!special.ok()) {
      at += 2;
      continue;
    }
    encode_plain(text.substr(plain_start, at - plain_start));
    ids.push_back(*special);
    plain_start = at = at + end + 2;
  }
  encode_plain(text.substr(plain_start));
  return ids;
}

}  // namespace gptoss
