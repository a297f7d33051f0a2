// SequenceHistories: what every rank remembers about each live sequence
// between steps — how many positions it has fed (so a plan that skips or repeats positions is
// rejected instead of silently corrupting the cache) and, for sequences with penalties, the
// distinct tokens seen with their completion counts (the inputs of Ops::ApplyPenalties).
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

  // InvalidArgument if a sequence does not continue exactly where its history ends.
  absl::Status Check(const StepPlan& plan) const;
  // Records every sequence's new tokens (call after Check).
  void Append(const StepPlan& plan);

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
    bool tracks_tokens = false;                               // the sequence has penalties
    absl::flat_hash_map<int32_t, int32_t> completion_counts;  // 0 = seen in the prompt only
  };
  absl::flat_hash_map<SequenceId, History> histories_;
};

}  // namespace gptoss
