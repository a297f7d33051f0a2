// LocalRunner: one sequence through the serving engine (StepExecutor over a KvCachePool), for
// `gptoss generate` and `gptoss logits`: plans built here as the scheduler would build them for
// a lone request (the whole prompt in one step, then one token per step), so the CLI runs
// exactly the code a worker runs. At world size N every rank of the world runs the same calls
// at once; only rank 0 samples, and `share` hands each sampled id to every rank.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/common/step_plan.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/engine/step_executor.h"
#include "worker/model/config.h"
#include "worker/model/transformer.h"
#include "worker/model/weights.h"

namespace gptoss::cli {

class LocalRunner {
 public:
  // Room for `max_len` positions; `comm` joins this rank to its world (null: world size 1).
  static absl::StatusOr<std::unique_ptr<LocalRunner>> Create(const ModelConfig& config,
                                                             const ModelWeights& weights, Ops* ops,
                                                             Communicator* comm, int max_len);

  // The logits of every prompt position, [prompt.size() * vocab].
  absl::StatusOr<std::vector<float>> PromptLogits(const std::vector<int32_t>& prompt);

  // Rank 0's sampled id of step `index`, handed to every rank (world size 1: returned as is).
  using Share = std::function<int32_t(uint64_t index, int32_t rank0_id)>;
  // Up to max_tokens ids (a final stop id included), sampled as the worker samples.
  absl::StatusOr<std::vector<int32_t>> Generate(const std::vector<int32_t>& prompt,
                                                int max_tokens, const StepSampling& sampling,
                                                const std::vector<int32_t>& stop_ids,
                                                const Share& share);

 private:
  LocalRunner() = default;
  SequenceStep Step(uint64_t sequence, std::vector<int32_t> tokens, int start, int prompt_len) const;

  int block_size_ = 16;
  std::unique_ptr<Transformer> transformer_;
  std::unique_ptr<KvCachePool> pool_;
  std::unique_ptr<StepExecutor> executor_;
  uint64_t next_step_ = 1, next_sequence_ = 1;
};

}  // namespace gptoss::cli
