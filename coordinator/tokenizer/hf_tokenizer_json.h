// Hugging Face tokenizer.json, as shipped in openai/gpt-oss-* (a tiktoken vocabulary converted by
// transformers' TikTokenConverter): model.vocab maps GPT-2 "byte-level" strings to ids,
// added_tokens holds the special tokens, and a Split pre-tokenizer carries the regex.
// Contract: parses and checks the structure only, naming the offending field; the caller decides
// whether the contents are o200k_harmony. merges are not read: with tiktoken vocabularies the
// merge order is the rank order, which is what BytePairEncoder uses.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/tokenizer/bpe_tokenizer.h"

namespace gptoss {

struct HfTokenizerJson {
  std::vector<std::string> ranks;          // token bytes by id, ids 0..N-1 of model.vocab
  std::vector<SpecialToken> added_tokens;  // in file order
  std::string split_pattern;               // the Split pre-tokenizer's Regex
};

absl::StatusOr<HfTokenizerJson> ParseHfTokenizerJson(std::string_view text);

}  // namespace gptoss
