#include "coordinator/kv_sizing.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {

absl::StatusOr<KvPoolSpec> SizeKvPools(const ModelConfig& config, const ParallelLayout& layout,
                                       DType dtype, const std::vector<uint64_t>& offers,
                                       const KvSizingOptions& options,
                                       const std::optional<KvPoolSpec>& previous) {
  GPTOSS_CHECK_ARG(!offers.empty(), "no rank offered KV memory");
  const uint64_t min_bytes = *std::min_element(offers.begin(), offers.end());
  KvPoolSpec spec;
  if (previous) {
    spec = *previous;
  } else if (options.num_full_blocks > 0 && options.num_sliding_blocks > 0) {
    spec = {options.block_size, options.num_full_blocks, options.num_sliding_blocks};
  } else {
    GPTOSS_ASSIGN_OR_RETURN(
        spec, KvCachePool::PlanForBudget(
                  config, layout, dtype,
                  static_cast<int64_t>(std::min<uint64_t>(min_bytes, INT64_MAX)),
                  options.block_size, options.max_num_seqs, options.max_batch_tokens));
  }
  const int64_t need =
      KvCachePool::FullBlockBytes(config, layout, dtype, spec.block_size) * spec.num_full_blocks +
      KvCachePool::SlidingBlockBytes(config, layout, dtype, spec.block_size) *
          spec.num_sliding_blocks;
  if (static_cast<uint64_t>(need) > min_bytes)
    return absl::ResourceExhaustedError(
        absl::StrCat("kv_cache_bytes: the KV geometry (", spec.num_full_blocks, " full + ",
                     spec.num_sliding_blocks, " sliding blocks of ", spec.block_size,
                     " tokens) needs ", need, " bytes per rank, a worker offers ", min_bytes));
  return spec;
}

}  // namespace gptoss
