#include "coordinator/tokenizer/bpe_rank_table.h"

namespace gptoss {

void RankTable::Build(const char* blob, const uint32_t* offsets, uint32_t count) {
  blob_ = blob;
  offsets_ = offsets;
  size_t capacity = 16;
  while (capacity < 2 * static_cast<size_t>(count)) capacity *= 2;
  slots_.assign(capacity, Slot{0, kNoRank, 0});
  mask_ = capacity - 1;
  for (uint32_t r = 0; r < count; ++r) {
    const std::string_view key(blob + offsets[r], offsets[r + 1] - offsets[r]);
    const uint64_t head = LoadHead(key.data(), key.size());
    size_t i = Hash(head, key.data(), key.size()) & mask_;
    while (slots_[i].length != 0) i = (i + 1) & mask_;
    slots_[i] = Slot{head, r, static_cast<uint32_t>(key.size())};
  }
}

}  // namespace gptoss
