// ParallelLayout: all rank arithmetic in one value type. Attention is tensor-parallel by heads
// (TP = world size, at most num_key_value_heads so KV is never duplicated); experts are
// expert-parallel in contiguous ranges. World size 1 is the single-GPU / CPU case.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace gptoss {

struct ParallelLayout {
  int rank = 0;
  int world_size = 1;
  int num_heads = 0;
  int num_kv_heads = 0;
  int num_experts = 0;

  static absl::StatusOr<ParallelLayout> Create(int rank, int world_size, int num_heads,
                                               int num_kv_heads, int num_experts) {
    if (world_size < 1 || rank < 0 || rank >= world_size)
      return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " out of world size ", world_size));
    if (num_kv_heads % world_size || num_heads % world_size || num_experts % world_size)
      return absl::InvalidArgumentError(absl::StrCat(
          "world size ", world_size, " must divide heads (", num_heads, "), kv heads (",
          num_kv_heads, ") and experts (", num_experts, ")"));
    return ParallelLayout{rank, world_size, num_heads, num_kv_heads, num_experts};
  }

  int local_heads() const { return num_heads / world_size; }
  int local_kv_heads() const { return num_kv_heads / world_size; }
  int first_head() const { return rank * local_heads(); }
  int first_kv_head() const { return rank * local_kv_heads(); }
  int local_experts() const { return num_experts / world_size; }
  int first_expert() const { return rank * local_experts(); }
  int ExpertOwner(int expert) const { return expert / local_experts(); }
};

}  // namespace gptoss
