// The measured loops of gptoss-bench, written against Ops + Transformer only (so the same code
// times CpuOps with a tiny model in CI and CudaOps with the 20b/120b shapes on a GPU):
//  - Prefill: one sequence of L prompt tokens in one forward step (logits of the last row).
//  - Decode: B sequences already at context C (their KV blocks exist; their contents do not
//    matter for timing), one new token each per step, greedy sampling on the device, the sampled
//    ids fed to the next step on the device and read back once per step, as a serving loop
//    reads them (the step's one host round trip; every step's positions and slots are uploaded
//    before the first). Sliding-window layers get
//    their own block pool holding only the blocks the window can reach (older blocks are -1,
//    released), so long contexts cost full-attention memory only.
// A StepHook lets the caller wrap Forward (gptoss-bench uses it for CUDA-graph capture/replay
// keyed by the batch size); every buffer Forward reads keeps its address across the steps.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/model/config.h"
#include "worker/model/transformer.h"
#include "worker/model/weights.h"

namespace gptoss::bench {

struct PhaseResult {
  int tokens = 0;          // tokens processed per timed step
  int steps = 0;           // timed steps
  double seconds = 0;      // wall time of the timed steps (synchronized)
  double tokens_per_second() const { return seconds > 0 ? tokens * steps / seconds : 0; }
  double step_seconds() const { return steps > 0 ? seconds / steps : 0; }
  std::vector<int32_t> last_tokens;  // decode: the last sampled ids (for checks)
};

// (key, forward) -> status: runs `forward` (possibly captured/replayed for `key`). A key names
// one set of buffer addresses: Decode's keys hold the batch size and the call's generation, so a
// later call with the same batch size (new buffers) never replays an old call's graph.
using StepHook = std::function<absl::Status(uint64_t key, const std::function<absl::Status()>& forward)>;

class BenchRunner {
 public:
  // `comm` (optional at world size 1) joins this rank to the other ranks of a parallel run;
  // every rank then calls Prefill/Decode with the same arguments at the same time.
  BenchRunner(const ModelConfig& config, const ModelWeights& weights, Ops* ops, int block_size,
              Communicator* comm = nullptr)
      : config_(config), weights_(weights), ops_(ops), block_size_(block_size), comm_(comm) {}

  absl::Status Init();

  absl::StatusOr<PhaseResult> Prefill(int prompt_len, int warmup, int repeats, uint64_t seed);
  absl::StatusOr<PhaseResult> Decode(int batch, int context, int warmup, int steps, uint64_t seed,
                                     const StepHook& hook);

 private:
  absl::StatusOr<TensorView> Buffer(std::vector<std::shared_ptr<void>>& keep, DType dtype,
                                    std::initializer_list<int64_t> shape);
  absl::StatusOr<TensorView> Upload(std::vector<std::shared_ptr<void>>& keep,
                                    const std::vector<int32_t>& values,
                                    std::initializer_list<int64_t> shape);
  absl::StatusOr<KvCache> MakeCache(std::vector<std::shared_ptr<void>>& keep,
                                    int64_t full_blocks, int64_t sliding_blocks);

  const ModelConfig config_;
  const ModelWeights weights_;
  Ops* ops_;
  int block_size_;
  Communicator* comm_;
  int kv_heads_ = 0;  // this rank's kv heads
  uint64_t decode_calls_ = 0;  // each Decode allocates new buffers: part of its graph keys
  std::unique_ptr<Transformer> transformer_;
};

}  // namespace gptoss::bench
