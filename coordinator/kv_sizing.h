// SizeKvPools: the KV geometry a world of workers gets, as a pure function (no I/O, no locks).
// Contract:
//  - The first world decides: a fixed geometry when the options give both block counts, else
//    KvCachePool::PlanForBudget on the smallest offer any rank made. A later world (after a
//    failure) keeps the first one's geometry (`previous`), because the scheduler's block tables
//    were sized for it.
//  - Whatever the source, every rank must hold it: RESOURCE_EXHAUSTED naming the bytes needed
//    and offered otherwise.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/core/dtype.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/model/config.h"
#include "worker/model/parallel_layout.h"

namespace gptoss {

struct KvSizingOptions {
  int block_size = 16;
  int num_full_blocks = 0;  // both > 0: a fixed geometry
  int num_sliding_blocks = 0;
  int max_num_seqs = 256;
  int max_batch_tokens = 2048;
};

// `layout` is any rank's (every rank holds the same heads per block); `offers` are the ranks'
// kv_cache_bytes (at least one).
absl::StatusOr<KvPoolSpec> SizeKvPools(const ModelConfig& config, const ParallelLayout& layout,
                                       DType dtype, const std::vector<uint64_t>& offers,
                                       const KvSizingOptions& options,
                                       const std::optional<KvPoolSpec>& previous);

}  // namespace gptoss
