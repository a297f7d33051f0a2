#include "coordinator/scheduler/kv_block_manager.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {

KvBlockManager::KvBlockManager(const KvGeometry& geometry)
    : geometry_(geometry),
      full_(geometry.has_full_layers ? geometry.num_full_blocks : 0),
      sliding_(geometry.has_sliding_layers ? geometry.num_sliding_blocks : 0) {}

absl::Status KvBlockManager::ReleaseOutOfWindow(Sequence& seq) {
  if (!geometry_.windowed()) return absl::OkStatus();
  // The next step's first new token is at num_computed.
  const int first_needed = std::min(geometry_.FirstNeededBlock(seq.num_computed),
                                    static_cast<int>(seq.sliding_blocks.size()));
  for (int b = seq.sliding_released; b < first_needed; ++b) {
    if (seq.sliding_blocks[b] >= 0) GPTOSS_RETURN_IF_ERROR(sliding_.Free(seq.sliding_blocks[b]));
    seq.sliding_blocks[b] = -1;
  }
  seq.sliding_released = std::max(seq.sliding_released, first_needed);
  return absl::OkStatus();
}

int KvBlockManager::MaxAllocatable(const Sequence& seq, int want) const {
  const int bs = geometry_.block_size;
  int64_t limit = want;
  // A pool can extend the sequence's table up to (entries it has + free blocks) * bs tokens.
  if (geometry_.has_full_layers) {
    const int64_t end = (static_cast<int64_t>(seq.full_blocks.size()) + full_.num_free()) * bs;
    limit = std::min(limit, end - seq.num_computed);
  }
  if (geometry_.has_sliding_layers) {
    const int64_t end =
        (static_cast<int64_t>(seq.sliding_blocks.size()) + sliding_.num_free()) * bs;
    limit = std::min(limit, end - seq.num_computed);
  }
  return static_cast<int>(std::max<int64_t>(0, limit));
}

absl::Status KvBlockManager::Allocate(Sequence& seq, int n) {
  if (n <= 0) return absl::InvalidArgumentError(absl::StrCat("allocate ", n, " tokens"));
  const int blocks = BlocksFor(seq.num_computed + n);
  const int need_full = geometry_.has_full_layers
                            ? std::max(0, blocks - static_cast<int>(seq.full_blocks.size()))
                            : 0;
  const int need_sliding = geometry_.has_sliding_layers
                               ? std::max(0, blocks - static_cast<int>(seq.sliding_blocks.size()))
                               : 0;
  if (need_full > full_.num_free() || need_sliding > sliding_.num_free())
    return absl::ResourceExhaustedError(absl::StrCat(
        "sequence ", seq.id, " needs ", need_full, " full and ", need_sliding,
        " sliding KV blocks; ", full_.num_free(), " and ", sliding_.num_free(), " free"));
  GPTOSS_RETURN_IF_ERROR(full_.Allocate(need_full, seq.full_blocks));
  GPTOSS_RETURN_IF_ERROR(sliding_.Allocate(need_sliding, seq.sliding_blocks));
  return absl::OkStatus();
}

absl::Status KvBlockManager::FreeAll(Sequence& seq) {
  absl::Status status;
  for (int32_t b : seq.full_blocks) status.Update(full_.Free(b));
  for (int32_t b : seq.sliding_blocks)
    if (b >= 0) status.Update(sliding_.Free(b));
  seq.full_blocks.clear();
  seq.sliding_blocks.clear();
  seq.sliding_released = 0;
  return status;
}

}  // namespace gptoss
