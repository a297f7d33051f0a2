// SequenceHistories: what every rank remembers about each live sequence
// between steps — how many positions it has fed (so a plan that skips or repeats positions is
// rejected instead of silently corrupting the cache) and, for sequences with penalties, the
// distinct tokens seen with their completion counts (the inputs of Ops::ApplyPenalties), and the
// token it sampled last, which a plan may feed back as kLastSampled (overlap: the coordinator
// sends step N+1 before it has seen step N's token).
// A plan entry at start_position 0 restarts a sequence (new or recomputed after preemption);
// StepPlan.free_sequence_ids forgets sequences.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "kernels/ops.h"
#include "worker/common/step_plan.h"

namespace gptoss {

class SequenceHistories {
 public:
  void Free(SequenceId id) { histories_.erase(id); }
  size_t size() const { return histories_.size(); }

  // InvalidArgument if a sequence does not continue exactly where its history ends, or feeds
  // kLastSampled without a sampled token to feed (the previous step did not sample it, or
  // failed before it did).
  absl::Status Check(const StepPlan& plan) const;
  // Replaces each kLastSampled in `token_ids` (the plan's new tokens, concatenated in plan
  // order) by the token it stands for (call after Check).
  void Resolve(const StepPlan& plan, std::vector<int32_t>& token_ids) const;
  // Records every sequence's new tokens, `token_ids` as resolved (call after Resolve). A
  // sampled token is fed at most once: appending forgets it.
  void Append(const StepPlan& plan, const std::vector<int32_t>& token_ids);
  // The token sampled for `id` in this step (call after Append).
  void Sampled(SequenceId id, int32_t token);

  // Penalty inputs for the plan sequences `rows` (plan indices): tokens/counts [rows, width]
  // row-major, -1 / 0 padded; width >= 1.
  struct PenaltyInputs {
    int width = 1;
    std::vector<int32_t> tokens;
    std::vector<int32_t> counts;
    std::vector<PenaltyParams> params;
  };
  PenaltyInputs Penalties(const StepPlan& plan, const std::vector<int>& rows) const;

 private:
  struct History {
    int32_t length = 0;                                       // positions fed so far
    int32_t last_sampled = -1;  // sampled after the last fed position and not yet fed; -1: none
    bool tracks_tokens = false;                               // the sequence has penalties
    absl::flat_hash_map<int32_t, int32_t> completion_counts;  // 0 = seen in the prompt only
  };
  absl::flat_hash_map<SequenceId, History> histories_;
};

}  // namespace gptoss
