// The measured loops of gptoss-bench, run by the serving engine itself: StepExecutor (the
// worker's executor: plan checks, one metadata upload, Transformer::Forward, sampling, one read
// of the sampled ids) over a KvCachePool, with the StepGraphs serving uses (CUDA graphs of
// padded decode steps, kernels/step_graphs.h) when given. What the bench times per step is what
// a `gptoss serve` worker runs per step; the control plane is measured apart (docs/PERF.md).
//  - Prefill: one sequence of L prompt tokens in one step, its last row sampled.
//  - Decode: B sequences brought to context C by prefill steps (chunks, not timed), then one new
//    token each per step, greedy, each step's plan carrying the ids the previous step sampled
//    (at world size 1; at N > 1, where only rank 0 samples, every rank feeds the same
//    pseudo-random ids instead). Sliding-window layers get a ring of blocks per sequence that
//    holds what their window can reach, the older entries released (-1), as the scheduler
//    releases them, so long contexts cost full-attention memory only.
// Works on any Ops (CpuOps with a tiny model in CI, CudaOps with the 20b/120b shapes on a GPU)
// and on every rank of a parallel world (`comm`), all ranks calling with the same arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "kernels/step_graphs.h"
#include "worker/model/config.h"
#include "worker/model/transformer.h"
#include "worker/model/weights.h"

namespace gptoss::bench {

struct PhaseResult {
  int tokens = 0;          // tokens processed per timed step
  int steps = 0;           // timed steps
  double seconds = 0;      // wall time of the timed steps (each step ends synchronized)
  double tokens_per_second() const { return seconds > 0 ? tokens * steps / seconds : 0; }
  double step_seconds() const { return steps > 0 ? seconds / steps : 0; }
  std::vector<int32_t> last_tokens;  // decode: the last sampled ids (rank 0; for checks)
  CommStats comm;  // this rank's collectives during the timed steps (none without `comm`)
};

class BenchRunner {
 public:
  // `comm` (optional at world size 1) joins this rank to the other ranks of a parallel run.
  // `graphs` (optional, world size 1): decode steps run padded and replayed through them.
  BenchRunner(const ModelConfig& config, const ModelWeights& weights, Ops* ops, int block_size,
              Communicator* comm = nullptr, StepGraphs* graphs = nullptr)
      : config_(config),
        weights_(weights),
        ops_(ops),
        block_size_(block_size),
        comm_(comm),
        graphs_(graphs) {}

  absl::Status Init();
  absl::StatusOr<PhaseResult> Prefill(int prompt_len, int warmup, int repeats, uint64_t seed);
  absl::StatusOr<PhaseResult> Decode(int batch, int context, int warmup, int steps,
                                     uint64_t seed);

 private:
  // This rank's collectives since `before` (comm_'s running totals).
  CommStats Since(const CommStats& before) const;

  const ModelConfig config_;
  const ModelWeights weights_;
  Ops* ops_;
  int block_size_;
  Communicator* comm_;
  StepGraphs* graphs_;
  ParallelLayout layout_;
  std::unique_ptr<Transformer> transformer_;
  uint64_t next_sequence_ = 1;  // sequence ids are never reused within a runner
};

}  // namespace gptoss::bench
