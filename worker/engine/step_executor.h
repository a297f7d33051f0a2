// StepExecutor: executes one StepPlan on this rank. It never decides: which tokens, positions,
// blocks and sampling parameters come from the plan (the coordinator's scheduler).
//
// Execute(plan):
//  1. forgets plan.free_sequence_ids;
//  2. checks the plan (BuildStepBatch: ids, positions, block tables, slots; each sequence
//     continues its history, and a kLastSampled entry has a kept token to feed) — a bad plan
//     is InvalidArgument before any device work or communication, on every rank alike, and the
//     KV cache is untouched;
//  3. uploads the step's metadata in one host→device copy and runs Transformer::Forward, which
//     appends the new K/V to the paged cache and returns logits of the sampling rows (on every
//     rank: the ranks of a world run the forward pass together);
//  4. every rank applies repetition/presence/frequency penalties (Ops::ApplyPenalties, only if
//     a row has one) and samples (Ops::Sample with the counter-based draw of (seed,
//     sample_index)): the same logits and the same draw give every rank the same token, which
//     it keeps for a later plan entry kLastSampled (the coordinator's overlap) and digests into
//     StepResult.sampled_digest. Rank 0 alone computes top-n logprobs (Ops::TopLogprobs, only
//     if a row asks) and returns one SequenceResult per sampling sequence, in plan order.
// The null executor (CreateNull, `--device null`) checks and remembers plans exactly the same way
// (steps 1-2) and then answers at once without a model: every rank samples NullToken(seed,
// index), an ordinary token that depends only on the request's seed and its index in the
// completion (never an end-of-sequence id, so requests run to max_tokens), after holding the
// thread for its
// simulated step time (`--device null:US`, a stand-in for a GPU forward pass). It measures and
// tests the control plane (scheduler, plans, fan-out, streaming) at any scale with no model
// compute.
// Fixed-shape decode steps (StepGraphs, kernels/step_graphs.h): a step in which every sequence
// decodes one sampled token is padded to a bucket of sequences (1, 2, 4, ..., max_batch) and of
// context (a power of two), its metadata laid out in that bucket's own device buffer, and its
// forward pass run through the graphs under the bucket's key (with the transformer's scratch
// generation), so that decode steps replay as CUDA graphs. At N > 1 ranks only a bucket whose
// forward pass needs no host synchronization (Transformer::HostFree: the dispatcher's
// fixed-capacity mode) is padded, and it is replayed as a graph only over a capturable
// communicator (NCCL); every rank pads alike, so the ranks' collectives stay matched. Padding
// rows decode token 0 at position 0, store nothing (slot -1) and read one block; their logits
// are never sampled and their routing never reported. Other steps run eagerly as above.
// An error after step 2 leaves the cache holding this step's K/V for the plan's sequences; the
// coordinator aborts them (their ids come back in a later free list).
// Not thread-safe; one executor per rank.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kernels/ops.h"
#include "kernels/step_graphs.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/engine/sequence_history.h"
#include "worker/engine/step_batch_builder.h"
#include "worker/common/step_plan.h"
#include "worker/model/config.h"
#include "worker/model/parallel_layout.h"
#include "worker/model/transformer.h"

namespace gptoss {

struct ExecutorGraphs {
  StepGraphs* graphs = nullptr;  // must outlive the executor; null: no graphs
  bool pad_decode = false;       // pad decode steps even without graphs (tests: same results)
  int max_batch = 256;           // decode steps of more sequences run eagerly
};

class StepExecutor {
 public:
  // `ops`, `transformer`, `pool` (and `comm`: its figures go into the results, and a failure it
  // reports late, as NCCL does, fails the step) must outlive the executor.
  static absl::StatusOr<std::unique_ptr<StepExecutor>> Create(const ModelConfig& config,
                                                              const ParallelLayout& layout,
                                                              Ops* ops, Transformer* transformer,
                                                              KvCachePool* pool,
                                                              Communicator* comm = nullptr,
                                                              ExecutorGraphs graphs = {});

  // No model, no device memory: see above. `spec` is the KV geometry the coordinator assigned.
  // `step_time`: how long each step holds the thread (a simulated forward pass); 0: none.
  static absl::StatusOr<std::unique_ptr<StepExecutor>> CreateNull(
      const ModelConfig& config, const ParallelLayout& layout, const KvPoolSpec& spec,
      absl::Duration step_time = absl::ZeroDuration());
  static int32_t NullToken(uint64_t seed, int64_t sample_index);

  absl::StatusOr<StepResult> Execute(const StepPlan& plan);
  // The same step, but instead of sampling it returns the logits of EVERY new token, [T, vocab]
  // in plan order (every rank holds them; the CLI's `gptoss logits`). In process only.
  absl::StatusOr<std::vector<float>> ExecuteForLogits(const StepPlan& plan);

  // Sequences this rank currently remembers (for tests and metrics).
  size_t num_tracked_sequences() const { return histories_.size(); }
  // Steps run padded to a bucket (through the graphs, when there are some).
  int64_t num_padded_steps() const { return padded_steps_; }

 private:
  // A grow-only device buffer: pointers stay valid until it grows.
  struct DeviceBuffer {
    std::shared_ptr<void> memory;
    size_t bytes = 0;
  };
  StepExecutor(const ModelConfig& config, const ParallelLayout& layout, Ops* ops,
               Transformer* transformer, KvCachePool* pool, Communicator* comm,
               const StepLimits& limits, ExecutorGraphs graphs)
      : config_(config),
        layout_(layout),
        ops_(ops),
        transformer_(transformer),
        pool_(pool),
        comm_(comm),
        limits_(limits),
        graphs_(graphs) {}
  // Execute; with `every_row`, the logits of every token into it instead of sampling.
  absl::StatusOr<StepResult> Run(const StepPlan& plan, std::vector<float>* every_row);
  // The device layout of one step's metadata (offsets in int32 elements into one buffer).
  struct Layout {
    size_t ids, pos, qs, ctx, full_tables, sliding_tables, full_slots, sliding_slots, rows;
  };
  // The step as a StepBatch over `base` (device memory laid out by `at`).
  StepBatch Views(int32_t* base, const Layout& at, const HostStepBatch& host) const;
  // Pads a decode step to `seqs` sequences and tables of `width` blocks (see the header).
  void Pad(HostStepBatch& host, int seqs, int width, int max_context);

  // The plan limits of the model and the KV geometry the coordinator assigned.
  static absl::StatusOr<StepLimits> Limits(const ModelConfig& config, const KvPoolSpec& spec);
  absl::StatusOr<void*> Ensure(DeviceBuffer& buffer, size_t bytes);
  absl::Status Sample(const StepPlan& plan, const HostStepBatch& batch, TensorView logits,
                      StepResult& result);
  // Keeps the ids sampled for host.sampled (for kLastSampled) and digests them into `result`.
  void Keep(const StepPlan& plan, const HostStepBatch& host, const std::vector<int32_t>& ids,
            StepResult& result);

  const ModelConfig config_;
  const ParallelLayout layout_;
  Ops* const ops_;
  Transformer* const transformer_;
  KvCachePool* const pool_;
  Communicator* const comm_;
  const StepLimits limits_;
  HostStepBatch host_;  // the step being run (Run reuses its memory)
  std::vector<int32_t> packed_;  // its metadata in one array, for the one upload
  std::vector<int32_t> widened_;  // Pad's scratch table, swapped with host_'s
  const ExecutorGraphs graphs_;
  absl::Duration null_step_time_;  // the null executor's simulated forward pass
  SequenceHistories histories_;
  DeviceBuffer metadata_, logits_, penalties_, samples_, top_;
  // Padded steps: each bucket's metadata buffer and one logits buffer of max_batch rows, never
  // reallocated (graphs replay their addresses).
  std::map<uint64_t, DeviceBuffer> bucket_metadata_;
  DeviceBuffer bucket_logits_;
  uint64_t graphs_generation_ = 0;  // the transformer's scratch generation the graphs belong to
  int64_t padded_steps_ = 0;
};

}  // namespace gptoss
