// KvBlockManager: paged KV block accounting for the two pools of gpt-oss.
//  - Full-attention layers keep every position: a sequence of L cached tokens holds
//    ceil(L / block_size) full blocks, growing with the sequence.
//  - Sliding-window layers (window W) only ever read the last W positions: a query at position
//    p sees keys at positions > p - W (HF's sliding mask). A step feeding positions
//    [p0, p0 + n) therefore needs sliding blocks covering [max(0, p0 - W + 1), p0 + n); blocks
//    wholly before p0 - W + 1 are released as the window moves. A decode step needs at most
//    ceil(W / block_size) + 1 sliding blocks; a prefill chunk of n tokens at most
//    ceil((W - 1 + n) / block_size) + 1.
// Block ids are the same on every rank (each rank stores its own kv heads of a block).
// Pure bookkeeping: no I/O, no device memory.
#pragma once

#include <algorithm>

#include "absl/status/status.h"
#include "coordinator/scheduler/block_pool.h"
#include "coordinator/scheduler/sequence.h"

namespace gptoss {

struct KvGeometry {
  int block_size = 16;
  int num_full_blocks = 0;
  int num_sliding_blocks = 0;
  bool has_full_layers = true;     // the model has full-attention layers (pool in use)
  bool has_sliding_layers = true;  // the model has sliding-window layers (pool in use)
  int sliding_window = 0;          // W, > 0 when has_sliding_layers
};

class KvBlockManager {
 public:
  explicit KvBlockManager(const KvGeometry& geometry);

  const KvGeometry& geometry() const { return geometry_; }
  int free_full() const { return full_.num_free(); }
  int free_sliding() const { return sliding_.num_free(); }

  // Sliding blocks one sequence needs at most to decode (one token per step).
  static int SlidingBlocksForDecode(int window, int block_size) {
    return (window + block_size - 1) / block_size + 1;
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
    const int need = BlocksFor(static_cast<int>(seq.tokens.size()));
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
