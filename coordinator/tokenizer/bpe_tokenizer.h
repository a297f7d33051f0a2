// BpeTokenizer: the one Tokenizer implementation, pre-tokenizer + byte-pair encoder + special
// tokens. Both file formats (tiktoken ranks, HF tokenizer.json) end up here, through
// CreateO200kHarmony, so they behave identically.
// Contract: ids [0, ranks) are BPE tokens (id == rank); ids [ranks, vocab_size) are special
// tokens, which Encode never produces; vocab_size() == ranks + number of specials.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "coordinator/tokenizer/bpe.h"
#include "coordinator/tokenizer/bpe_pretokenizer.h"
#include "coordinator/tokenizer/tokenizer.h"

namespace gptoss {

struct SpecialToken {
  std::string name;
  int id;
  bool operator==(const SpecialToken&) const = default;
};

inline constexpr int kO200kBaseRanks = 199998;
inline constexpr int kO200kHarmonyVocabSize = 201088;
// The hash tiktoken and openai-harmony pin for o200k_base.tiktoken.
inline constexpr std::string_view kO200kBaseSha256 =
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d";

// The 1090 o200k_harmony special tokens, ids 199998..201087 in order (tiktoken_ext
// openai_public.o200k_harmony). 200018 is "<|endofprompt|>": tiktoken also maps
// "<|reserved_200018|>" to it (a second name for the same id, see kO200kHarmonyAliases), and
// gpt-oss's tokenizer.json names it <|endofprompt|>.
const std::vector<SpecialToken>& O200kHarmonySpecialTokens();
const std::vector<SpecialToken>& O200kHarmonyAliases();

class BpeTokenizer final : public Tokenizer {
 public:
  // `specials` must have the ids bpe->size() .. bpe->size() + specials.size() - 1, each once,
  // with distinct names; `aliases` are extra names for ids in `specials`.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(
      std::unique_ptr<BytePairEncoder> bpe, std::unique_ptr<Pretokenizer> pretokenizer,
      std::vector<SpecialToken> specials, const std::vector<SpecialToken>& aliases);
  // o200k_harmony from the o200k_base token bytes by rank.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> CreateO200kHarmony(
      const std::vector<std::string>& ranks);

  std::vector<int> Encode(std::string_view text) const override;
  absl::StatusOr<std::string> Decode(std::span<const int> ids) const override;
  absl::StatusOr<std::string_view> TokenBytes(int id) const override;
  bool IsSpecial(int id) const override { return id >= bpe_->size() && id < vocab_size(); }
  absl::StatusOr<int> SpecialTokenId(std::string_view name) const override;
  int vocab_size() const override { return bpe_->size() + static_cast<int>(special_names_.size()); }
  size_t MaxSpecialTokenBytes() const override { return max_special_bytes_; }

 private:
  BpeTokenizer() = default;

  std::unique_ptr<BytePairEncoder> bpe_;
  std::unique_ptr<Pretokenizer> pretokenizer_;
  std::vector<std::string> special_names_;  // index id - bpe_->size()
  absl::flat_hash_map<std::string, int> special_ids_;
  size_t max_special_bytes_ = 0;
};

}  // namespace gptoss
