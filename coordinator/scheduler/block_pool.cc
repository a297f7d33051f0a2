#include "coordinator/scheduler/block_pool.h"

#include "absl/strings/str_cat.h"

namespace gptoss {

BlockPool::BlockPool(int capacity) : allocated_(capacity > 0 ? capacity : 0, false) {
  free_.reserve(allocated_.size());
  // Hand out low ids first (pop from the back).
  for (int b = capacity - 1; b >= 0; --b) free_.push_back(b);
}

absl::Status BlockPool::Allocate(int n, std::vector<int32_t>& out) {
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("cannot allocate ", n, " blocks"));
  if (n > num_free())
    return absl::ResourceExhaustedError(
        absl::StrCat("need ", n, " KV blocks, ", num_free(), " free of ", capacity()));
  for (int i = 0; i < n; ++i) {
    const int32_t b = free_.back();
    free_.pop_back();
    allocated_[b] = true;
    out.push_back(b);
  }
  return absl::OkStatus();
}

absl::Status BlockPool::Free(int32_t block) {
  if (block < 0 || block >= capacity() || !allocated_[block])
    return absl::InvalidArgumentError(absl::StrCat("KV block ", block, " is not allocated"));
  allocated_[block] = false;
  free_.push_back(block);
  return absl::OkStatus();
}

}  // namespace gptoss
