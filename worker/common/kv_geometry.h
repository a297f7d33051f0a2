// KvGeometry: the paged KV layout both ends of a step agree on, and the one place that knows
// gpt-oss's sliding-window block rule. The coordinator's block accounting, the worker's plan
// checks and pool sizing, and the reference runners all ask it.
//  - Two pools: full-attention layers keep every position (a sequence of L tokens holds
//    ceil(L / block_size) full blocks); sliding-window layers only ever read the last W
//    positions. Block ids are the same on every rank (each rank stores its own kv heads).
//  - The rule (HF's sliding mask): a query at position p attends to keys at positions
//    (p - W, p], so a step whose first new token is at position p needs sliding blocks from
//    the one holding max(0, p - W + 1) on; every block wholly before it can be released.
//  - A decode step needs at most ceil(W / bs) + 1 sliding blocks; a sequence never holds more
//    than ceil(W / bs) + 2 (one of slack for the block a prefill chunk starts in).
// Header-only and dependency-free: the scheduler (no gRPC), the engine and the services use it.
#pragma once

#include <algorithm>
#include <cstdint>

namespace gptoss {

struct KvGeometry {
  int block_size = 16;             // tokens per block
  int num_full_blocks = 0;         // physical blocks of the full-attention pool
  int num_sliding_blocks = 0;      // physical blocks of the sliding-window pool
  bool has_full_layers = true;     // the model has full-attention layers (pool in use)
  bool has_sliding_layers = true;  // the model has sliding-window layers (pool in use)
  int sliding_window = 0;          // W, > 0 when has_sliding_layers

  bool windowed() const { return has_sliding_layers && sliding_window > 0; }
  // The oldest position a sliding-layer query at `position` attends to.
  int OldestVisible(int position) const {
    return windowed() ? std::max(0, position - sliding_window + 1) : 0;
  }
  // Logical sliding blocks [0, FirstNeededBlock(p)) hold only positions that no query at p or
  // later can see.
  int FirstNeededBlock(int position) const { return OldestVisible(position) / block_size; }
  // Sliding blocks a sequence needs at most to decode (one token per step): the window spans
  // ceil(W / bs) + 1 blocks when it is not aligned to them.
  int64_t SlidingBlocksForDecode() const {
    return (static_cast<int64_t>(sliding_window) + block_size - 1) / block_size + 1;
  }
  // The most sliding blocks one sequence holds at once: one more, for the block a prefill
  // chunk starts in.
  int64_t MaxSlidingBlocksPerSequence() const { return SlidingBlocksForDecode() + 1; }
};

}  // namespace gptoss
