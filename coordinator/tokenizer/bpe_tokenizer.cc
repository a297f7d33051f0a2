#include "coordinator/tokenizer/bpe_tokenizer.h"

#include <algorithm>

#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {

const std::vector<SpecialToken>& O200kHarmonySpecialTokens() {
  static const std::vector<SpecialToken>* const kTokens = [] {
    auto* tokens = new std::vector<SpecialToken>();
    const std::pair<int, const char*> named[] = {
        {199998, "<|startoftext|>"}, {199999, "<|endoftext|>"}, {200002, "<|return|>"},
        {200003, "<|constrain|>"},   {200005, "<|channel|>"},   {200006, "<|start|>"},
        {200007, "<|end|>"},         {200008, "<|message|>"},   {200012, "<|call|>"},
        {200018, "<|endofprompt|>"},
    };
    for (int id = kO200kBaseRanks; id < kO200kHarmonyVocabSize; ++id) {
      std::string name = absl::StrCat("<|reserved_", id, "|>");
      for (const auto& [named_id, named_name] : named) {
        if (named_id == id) name = named_name;
      }
      tokens->push_back({std::move(name), id});
    }
    return tokens;
  }();
  return *kTokens;
}

const std::vector<SpecialToken>& O200kHarmonyAliases() {
  static const std::vector<SpecialToken>* const kAliases =
      new std::vector<SpecialToken>{{"<|reserved_200018|>", 200018}};
  return *kAliases;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> BpeTokenizer::Create(
    std::unique_ptr<BytePairEncoder> bpe, std::unique_ptr<Pretokenizer> pretokenizer,
    std::vector<SpecialToken> specials, const std::vector<SpecialToken>& aliases) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  const int first = bpe->size();
  t->special_names_.resize(specials.size());
  for (SpecialToken& s : specials) {
    const int slot = s.id - first;
    if (slot < 0 || slot >= static_cast<int>(specials.size()) || !t->special_names_[slot].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token ", s.name, " has id ", s.id, "; special ids must be ", first,
                       "..", first + static_cast<int>(specials.size()) - 1, ", each used once"));
    }
    if (s.name.empty())
      return absl::InvalidArgumentError(absl::StrCat("special token ", s.id, " has no name"));
    if (!t->special_ids_.emplace(s.name, s.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token name ", s.name, " is used twice"));
    }
    t->special_names_[slot] = std::move(s.name);
  }
  for (const SpecialToken& a : aliases) {
    if (a.id < first || a.id >= first + static_cast<int>(specials.size()) ||
        !t->special_ids_.emplace(a.name, a.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("bad special token alias ", a.name));
    }
  }
  for (const auto& [name, id] : t->special_ids_)
    t->max_special_bytes_ = std::max(t->max_special_bytes_, name.size());
  t->bpe_ = std::move(bpe);
  t->pretokenizer_ = std::move(pretokenizer);
  return std::unique_ptr<Tokenizer>(std::move(t));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> BpeTokenizer::CreateO200kHarmony(
    const std::vector<std::string>& ranks) {
  if (ranks.size() != kO200kBaseRanks) {
    return absl::InvalidArgumentError(
        absl::StrCat("o200k_base has ", kO200kBaseRanks, " ranks, got ", ranks.size()));
  }
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<BytePairEncoder> bpe, BytePairEncoder::Create(ranks));
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<Pretokenizer> pretokenizer, Pretokenizer::CreateO200k());
  return Create(std::move(bpe), std::move(pretokenizer), O200kHarmonySpecialTokens(),
                O200kHarmonyAliases());
}

std::vector<int> BpeTokenizer::Encode(std::string_view text) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 4 + 1);
  // Pieces are encoded in batches so that their vocabulary lookups overlap (see EncodePieces).
  constexpr size_t kBatch = 64;
  std::string_view batch[kBatch];
  size_t n = 0;
  pretokenizer_->Split(text, [&](std::string_view piece) {
    batch[n++] = piece;
    if (n == kBatch) {
      bpe_->EncodePieces(std::span(batch, n), &ids);
      n = 0;
    }
  });
  bpe_->EncodePieces(std::span(batch, n), &ids);
  return ids;
}

absl::StatusOr<std::string> BpeTokenizer::Decode(std::span<const int> ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto bytes = TokenBytes(ids[i]);
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("id #", i, ": ", bytes.status().message()));
    }
    out.append(*bytes);
  }
  return out;
}

absl::StatusOr<std::string_view> BpeTokenizer::TokenBytes(int id) const {
  if (id >= 0 && id < bpe_->size()) return bpe_->Token(static_cast<uint32_t>(id));
  if (IsSpecial(id)) return std::string_view(special_names_[id - bpe_->size()]);
  return absl::InvalidArgumentError(
      absl::StrCat("token id ", id, " is out of range [0, ", vocab_size(), ")"));
}

absl::StatusOr<int> BpeTokenizer::SpecialTokenId(std::string_view name) const {
  auto it = special_ids_.find(absl::string_view(name.data(), name.size()));
  if (it == special_ids_.end()) {
    return absl::NotFoundError(absl::StrCat("'", std::string(name), "' is not a special token"));
  }
  return it->second;
}

}  // namespace gptoss
