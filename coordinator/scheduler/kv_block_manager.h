// KvBlockManager: paged KV block accounting for the two pools of gpt-oss (the layout and the
// sliding-window rule are KvGeometry's, worker/common/kv_geometry.h). A step feeding positions
// [p0, p0 + n) needs sliding blocks from KvGeometry::FirstNeededBlock(p0) on; the blocks before
// it are released as the window moves (a prefill chunk of n tokens needs at most
// ceil((W - 1 + n) / block_size) + 1).
// Block ids are the same on every rank (each rank stores its own kv heads of a block).
// Pure bookkeeping: no I/O, no device memory.
#pragma once

#include <algorithm>

#include "absl/status/status.h"
#include "coordinator/scheduler/block_pool.h"
#include "coordinator/scheduler/sequence.h"
#include "worker/common/kv_geometry.h"

namespace gptoss {

class KvBlockManager {
 public:
  explicit KvBlockManager(const KvGeometry& geometry);

  const KvGeometry& geometry() const { return geometry_; }
  int free_full() const { return full_.num_free(); }
  int free_sliding() const { return sliding_.num_free(); }

  // Sliding blocks one sequence needs at most to decode (KvGeometry's rule).
  static int SlidingBlocksForDecode(int window, int block_size) {
    KvGeometry g;
    g.block_size = block_size;
    g.sliding_window = window;
    return static_cast<int>(g.SlidingBlocksForDecode());
  }

  // Releases the sliding blocks of `seq` that no future step reads: those wholly before
  // position seq.num_computed - W + 1 (the oldest key the next query can see).
  absl::Status ReleaseOutOfWindow(Sequence& seq);

  // The largest n <= want such that blocks for tokens [num_computed, num_computed + n) can be
  // allocated from the currently free blocks (call ReleaseOutOfWindow first).
  int MaxAllocatable(const Sequence& seq, int want) const;

  // Full-attention blocks `seq` still lacks to hold all of its tokens (the rest of a chunked
  // prefill or recompute; 0 for a sequence that only decodes).
  int FullBlocksOwed(const Sequence& seq) const {
    if (!geometry_.has_full_layers) return 0;
    const int need = BlocksFor(seq.length());
    return std::max(0, need - static_cast<int>(seq.full_blocks.size()));
  }

  // Allocates the blocks that tokens [num_computed, num_computed + n) need in both pools.
  // All-or-nothing: ResourceExhausted and no change if either pool is short.
  absl::Status Allocate(Sequence& seq, int n);

  // Returns every block of `seq` to its pool and clears its tables.
  absl::Status FreeAll(Sequence& seq);

 private:
  int BlocksFor(int num_tokens) const {
    return (num_tokens + geometry_.block_size - 1) / geometry_.block_size;
  }

  KvGeometry geometry_;
  BlockPool full_;
  BlockPool sliding_;
};

}  // namespace gptoss
