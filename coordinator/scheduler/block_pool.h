// BlockPool: the free list of one paged KV pool (physical block ids 0 .. capacity-1).
// Allocation is all-or-nothing; freeing a block that is not allocated is a caller bug and is
// reported (never silently corrupts the free list).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gptoss {

class BlockPool {
 public:
  explicit BlockPool(int capacity);

  int capacity() const { return static_cast<int>(allocated_.size()); }
  int num_free() const { return static_cast<int>(free_.size()); }

  // Appends n fresh block ids to `out`; ResourceExhausted (and no change) if fewer are free.
  absl::Status Allocate(int n, std::vector<int32_t>& out);
  // Returns one block to the pool. InvalidArgument if out of range or already free.
  absl::Status Free(int32_t block);

 private:
  std::vector<int32_t> free_;  // stack: recently freed blocks are reused first
  std::vector<bool> allocated_;
};

}  // namespace gptoss
