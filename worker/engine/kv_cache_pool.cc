#include "worker/engine/kv_cache_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {
namespace {

int CountLayers(const ModelConfig& config, LayerType type) {
  return static_cast<int>(std::count(config.layer_types.begin(), config.layer_types.end(), type));
}

// K and V of one block in one layer.
int64_t LayerBlockBytes(const ModelConfig& config, const ParallelLayout& layout, DType dtype,
                        int block_size) {
  return 2 * static_cast<int64_t>(block_size) * layout.local_kv_heads() * config.head_dim *
         static_cast<int64_t>(DTypeSize(dtype));
}

}  // namespace

int64_t KvCachePool::FullBlockBytes(const ModelConfig& config, const ParallelLayout& layout,
                                    DType dtype, int block_size) {
  return CountLayers(config, LayerType::kFullAttention) *
         LayerBlockBytes(config, layout, dtype, block_size);
}

int64_t KvCachePool::SlidingBlockBytes(const ModelConfig& config, const ParallelLayout& layout,
                                       DType dtype, int block_size) {
  return CountLayers(config, LayerType::kSlidingAttention) *
         LayerBlockBytes(config, layout, dtype, block_size);
}

KvGeometry KvGeometryFor(const ModelConfig& config, const KvPoolSpec& spec) {
  KvGeometry g;
  g.block_size = spec.block_size;
  g.num_full_blocks = spec.num_full_blocks;
  g.num_sliding_blocks = spec.num_sliding_blocks;
  const auto& types = config.layer_types;
  g.has_full_layers = std::count(types.begin(), types.end(), LayerType::kFullAttention) > 0;
  g.has_sliding_layers = std::count(types.begin(), types.end(), LayerType::kSlidingAttention) > 0;
  g.sliding_window = g.has_sliding_layers ? config.sliding_window : 0;
  return g;
}

absl::StatusOr<KvPoolSpec> KvCachePool::PlanForBudget(const ModelConfig& config,
                                                      const ParallelLayout& layout, DType dtype,
                                                      int64_t bytes, int block_size,
                                                      int max_num_seqs, int max_batch_tokens) {
  GPTOSS_CHECK_ARG(bytes > 0 && block_size > 0 && max_num_seqs > 0 && max_batch_tokens > 0,
                   "KV budget ", bytes, " bytes, block size ", block_size, ", max_num_seqs ",
                   max_num_seqs, ", max_batch_tokens ", max_batch_tokens, " must be positive");
  KvPoolSpec spec;
  spec.block_size = block_size;
  const int64_t full_bytes = FullBlockBytes(config, layout, dtype, block_size);
  const int64_t sliding_bytes = SlidingBlockBytes(config, layout, dtype, block_size);
  if (sliding_bytes > 0) {
    // Per sequence what the window rule allows at most; plus the chunks' own tokens.
    const int64_t per_seq = KvGeometryFor(config, spec).MaxSlidingBlocksPerSequence();
    const int64_t chunk = (max_batch_tokens + block_size - 1) / block_size;
    spec.num_sliding_blocks = static_cast<int>(max_num_seqs * per_seq + chunk);
  }
  const int64_t left = bytes - spec.num_sliding_blocks * sliding_bytes;
  if (full_bytes > 0) {
    const int64_t full_blocks = left > 0 ? left / full_bytes : 0;
    if (full_blocks < max_num_seqs)
      return absl::ResourceExhaustedError(absl::StrCat(
          "KV budget of ", bytes, " bytes holds ", full_blocks, " full-attention blocks after ",
          spec.num_sliding_blocks, " sliding blocks; need at least max_num_seqs = ", max_num_seqs));
    // More blocks than max_num_seqs full contexts can never be used: a huge budget (a worker
    // offering terabytes) must not become a huge block table in the coordinator.
    const int64_t useful = static_cast<int64_t>(max_num_seqs) *
                           ((config.max_position_embeddings + block_size - 1) / block_size);
    spec.num_full_blocks =
        static_cast<int>(std::min<int64_t>({full_blocks, useful, INT32_MAX / 2}));
  } else if (left < 0) {
    return absl::ResourceExhaustedError(absl::StrCat("KV budget of ", bytes, " bytes cannot hold ",
                                                     spec.num_sliding_blocks, " sliding blocks"));
  }
  return spec;
}

absl::StatusOr<std::unique_ptr<KvCachePool>> KvCachePool::Create(const ModelConfig& config,
                                                                 const ParallelLayout& layout,
                                                                 const KvPoolSpec& spec, Ops* ops) {
  GPTOSS_CHECK_ARG(ops != nullptr, "KvCachePool needs an Ops backend");
  GPTOSS_CHECK_ARG(spec.block_size > 0, "KV block size must be positive, got ", spec.block_size);
  GPTOSS_CHECK_ARG(static_cast<int>(config.layer_types.size()) == config.num_hidden_layers,
                   "config has ", config.layer_types.size(), " layer types for ",
                   config.num_hidden_layers, " layers");
  if (CountLayers(config, LayerType::kFullAttention) > 0)
    GPTOSS_CHECK_ARG(spec.num_full_blocks > 0,
                     "the model has full-attention layers but the "
                     "full KV pool has ",
                     spec.num_full_blocks, " blocks");
  if (CountLayers(config, LayerType::kSlidingAttention) > 0)
    GPTOSS_CHECK_ARG(spec.num_sliding_blocks > 0,
                     "the model has sliding-window layers but the "
                     "sliding KV pool has ",
                     spec.num_sliding_blocks, " blocks");
  std::unique_ptr<KvCachePool> pool(new KvCachePool());
  pool->spec_ = spec;
  const DType dtype = ops->activation_dtype();
  const int64_t heads = layout.local_kv_heads(), dim = config.head_dim;
  for (LayerType type : config.layer_types) {
    const int64_t blocks =
        type == LayerType::kFullAttention ? spec.num_full_blocks : spec.num_sliding_blocks;
    KvLayerView layer;
    TensorView* views[2] = {&layer.k, &layer.v};
    for (TensorView* view : views) {
      *view = TensorView(nullptr, dtype, {blocks, spec.block_size, heads, dim}, ops->device());
      GPTOSS_ASSIGN_OR_RETURN(std::shared_ptr<void> memory, ops->Allocate(view->bytes()));
      view->data = memory.get();
      pool->bytes_ += static_cast<int64_t>(view->bytes());
      pool->memory_.push_back(std::move(memory));
    }
    pool->cache_.layers.push_back(layer);
  }
  return pool;
}

}  // namespace gptoss
