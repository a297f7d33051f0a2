// KvCachePool: this rank's paged KV cache memory, in two pools (see worker/model/transformer.h):
// full-attention layers share the geometry [num_full_blocks, block_size, local_kv_heads,
// head_dim] and sliding-window layers [num_sliding_blocks, ...]. Every layer has its own K and V
// tensors of its pool's geometry, allocated on the Ops device in the activation dtype. Block ids
// are the same on every rank (each rank stores its own kv heads of each block), so the
// coordinator's block tables address every rank's pools.
//
// PlanForBudget is the sizing rule the coordinator applies to the smallest kv_cache_bytes any
// rank reported: the sliding pool gets what max_num_seqs sequences can hold at once (each a
// window plus a prefill chunk), the full pool gets the rest.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/common/kv_geometry.h"
#include "worker/model/config.h"
#include "worker/model/parallel_layout.h"
#include "worker/model/transformer.h"

namespace gptoss {

// The pools' sizes (the first three fields of the shared KV geometry).
using KvPoolSpec = KvGeometry;

// The whole geometry of `spec` for this model: which pools its layer types use, and its window.
KvGeometry KvGeometryFor(const ModelConfig& config, const KvPoolSpec& spec);

class KvCachePool {
 public:
  // Bytes one block of each pool takes on this rank, over all layers of that kind (K and V).
  static int64_t FullBlockBytes(const ModelConfig& config, const ParallelLayout& layout,
                                DType dtype, int block_size);
  static int64_t SlidingBlockBytes(const ModelConfig& config, const ParallelLayout& layout,
                                   DType dtype, int block_size);

  // Splits `bytes` between the pools (see above). ResourceExhausted if, after the sliding pool,
  // fewer than max_num_seqs full blocks fit; InvalidArgument for non-positive sizes.
  static absl::StatusOr<KvPoolSpec> PlanForBudget(const ModelConfig& config,
                                                  const ParallelLayout& layout, DType dtype,
                                                  int64_t bytes, int block_size, int max_num_seqs,
                                                  int max_batch_tokens);

  // Allocates both pools on `ops`'s device. InvalidArgument if a pool the model uses has no
  // blocks; the Allocate error if memory runs out.
  static absl::StatusOr<std::unique_ptr<KvCachePool>> Create(const ModelConfig& config,
                                                             const ParallelLayout& layout,
                                                             const KvPoolSpec& spec, Ops* ops);

  const KvPoolSpec& spec() const { return spec_; }
  KvCache& cache() { return cache_; }
  int64_t bytes() const { return bytes_; }

 private:
  KvCachePool() = default;

  KvPoolSpec spec_;
  KvCache cache_;
  std::vector<std::shared_ptr<void>> memory_;
  int64_t bytes_ = 0;
};

}  // namespace gptoss
