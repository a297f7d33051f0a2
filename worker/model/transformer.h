// Transformer: the gpt-oss forward pass over one ragged step batch, written only against Ops
// (kernels/ops.h) so it runs on CpuOps and CudaOps alike. It reads top to bottom like
// openai/gpt-oss torch/model.py; model quirks are commented where they happen.
//
// Parallel (world size N > 1, every rank calls Forward with the same batch): attention is
// tensor-parallel by heads and ends in a reduce-scatter, so rank r owns token rows
// [r*S, r*S + S), S = ceil(T/N) (the last ranks may own padding rows or none at all); each rank
// normalizes and routes its rows, dispatches them to the ranks owning their experts and
// combines the results back (ExpertDispatcher); an all-gather restores every row on every rank
// before the next layer. lm_head is vocab-parallel when the weights hold a V/N-row slice
// (AssembleWeights shards it when N divides V) and the logits are gathered, so every rank ends
// with the same full logits.
//
// Contract: Forward() appends the K/V of every new token to the cache (at the physical slots
// given), attends over the cache, and writes logits [R, V] F32 for the R token rows listed in
// logit_rows. It never decides anything: which tokens, positions and blocks come from the caller
// (the engine's StepExecutor; the tests' SimpleRunner oracle).
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/comm/communicator.h"
#include "worker/comm/expert_dispatcher.h"
#include "worker/model/config.h"
#include "worker/model/parallel_layout.h"
#include "worker/model/weights.h"

namespace gptoss {

// The paged KV cache of this rank: one KvLayerView per layer. Sliding-window layers and full
// layers use separate block pools (and so separate block tables and slots), because sliding
// layers only ever need the last `sliding_window` positions.
struct KvCache {
  std::vector<KvLayerView> layers;
};

struct StepBatch {
  TensorView token_ids;      // [T] I32
  TensorView positions;      // [T] I32
  AttentionBatch full;       // block tables of full-attention layers
  AttentionBatch sliding;    // block tables of sliding-window layers
  TensorView full_slots;     // [T] I32 physical slot of each new token in full layers
  TensorView sliding_slots;  // [T] I32 physical slot in sliding layers
  TensorView logit_rows;     // [R] I32 indices into the T tokens whose logits are wanted
};

class Transformer {
 public:
  virtual ~Transformer() = default;
  // `comm` joins this rank to the others of `layout` (same rank and world size, memory on
  // ops->device()); it may be null at world size 1. `ops` and `comm` must outlive the model.
  // `dispatch` picks the expert dispatcher's mode by step size (expert_dispatcher.h).
  static absl::StatusOr<std::unique_ptr<Transformer>> Create(const ModelConfig& config,
                                                             const ModelWeights& weights,
                                                             const ParallelLayout& layout,
                                                             Ops* ops,
                                                             Communicator* comm = nullptr,
                                                             DispatchOptions dispatch = {});
  virtual absl::Status Forward(const StepBatch& batch, KvCache& cache, TensorView logits) = 0;
  // Reports every layer's routing and the MoE exchanges to `observer` (null: none). Forward
  // only records the routing on the device (a copy per layer, so the step stays capturable in a
  // CUDA graph) and ReportRouting delivers it; each rank reports the rows of its slice.
  virtual void SetMoeObserver(MoeObserver* observer) { (void)observer; }
  // Whether the forward pass of a step of `tokens` token rows makes no host synchronization, so
  // that a CUDA graph can capture it: at world size 1 always; at N > 1 when the dispatcher's
  // fixed-capacity mode (planned on the device) covers every rank's slice of the rows.
  virtual bool HostFree(int64_t tokens) const {
    (void)tokens;
    return true;
  }
  // After a step's device work has completed (run by Forward or replayed from a CUDA graph
  // captured from Forward): reports the routing of its first `rows` of `step_tokens` token rows
  // (the real rows of a padded step) to the observer, with one read from the device.
  virtual absl::Status ReportRouting(int64_t rows, int64_t step_tokens) {
    (void)rows, (void)step_tokens;
    return absl::OkStatus();
  }
  // Changes whenever Forward reallocates a scratch buffer: work captured (CUDA graphs) under an
  // older generation reads memory that is gone.
  virtual uint64_t scratch_generation() const { return 0; }
};

}  // namespace gptoss
