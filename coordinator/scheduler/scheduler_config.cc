#include "coordinator/scheduler/scheduler_config.h"

#include <algorithm>

#include "kernels/core/status.h"

namespace gptoss {

absl::Status SchedulerConfig::Validate() const {
  GPTOSS_CHECK_ARG(kv.block_size > 0, "kv.block_size must be positive, got ", kv.block_size);
  GPTOSS_CHECK_ARG(kv.has_full_layers || kv.has_sliding_layers,
                   "the model must have attention layers");
  if (kv.has_full_layers)
    GPTOSS_CHECK_ARG(kv.num_full_blocks > 0, "kv.num_full_blocks must be positive, got ",
                     kv.num_full_blocks);
  if (kv.has_sliding_layers) {
    GPTOSS_CHECK_ARG(kv.sliding_window > 0, "kv.sliding_window must be positive, got ",
                     kv.sliding_window);
    const int need = KvBlockManager::SlidingBlocksForDecode(kv.sliding_window, kv.block_size);
    GPTOSS_CHECK_ARG(kv.num_sliding_blocks >= need, "kv.num_sliding_blocks ", kv.num_sliding_blocks,
                     " cannot hold one sequence's window (needs ", need, ")");
  }
  GPTOSS_CHECK_ARG(vocab_size > 0, "vocab_size must be positive, got ", vocab_size);
  GPTOSS_CHECK_ARG(max_context_len > 1, "max_context_len must be > 1, got ", max_context_len);
  GPTOSS_CHECK_ARG(max_num_seqs > 0, "max_num_seqs must be positive, got ", max_num_seqs);
  GPTOSS_CHECK_ARG(max_batch_tokens > 0, "max_batch_tokens must be positive, got ",
                   max_batch_tokens);
  GPTOSS_CHECK_ARG(max_waiting >= 0, "max_waiting must be >= 0, got ", max_waiting);
  GPTOSS_CHECK_ARG(EffectiveMaxLen() > 1, "the full KV pool holds no sequence");
  return absl::OkStatus();
}

int SchedulerConfig::EffectiveMaxLen() const {
  int64_t len = max_context_len;
  // The last token of a sequence is sampled but never fed, so it needs no KV slot.
  if (kv.has_full_layers)
    len = std::min<int64_t>(len, static_cast<int64_t>(kv.num_full_blocks) * kv.block_size + 1);
  return static_cast<int>(len);
}

}  // namespace gptoss
