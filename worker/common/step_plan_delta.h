// Incremental step plans on one coordinator→worker stream. The scheduler stays as it is (it
// produces whole StepPlans); the encoder sends each sequence's whole state once (its first step,
// or a restart at position 0) and afterwards only what changed, and the worker's decoder puts
// the whole plan back together before the executor sees it:
//  - the full-attention block table only grows while a sequence lives (a preempted sequence is
//    freed and starts again at position 0), so later steps send its new entries only
//    (SequenceStep.full_table_from);
//  - sampling parameters, logprobs and top_logprobs are constant over a sequence's life: sent once
//    (then SequenceStep.sampling_unchanged);
//  - the sliding table is bounded by the window and sent whole, as its live tail (as before).
// At 32k-token contexts this turns 2048 table entries per sequence per step into one or none.
// Contract:
//  - Decoder.Decode(Encoder.Encode(p)) == p for every plan of a stream, in order.
//  - The decoder refuses (InvalidArgument naming the sequence) an incremental entry that does
//    not continue what it holds: an unknown or freed sequence, a table length other than the
//    one it has. A refused plan leaves the decoder's state unchanged.
//  - Both forget a sequence in a plan's free list; both start empty for a new stream (Reset).
//  - The encoder trusts the scheduler's append-only tables and checks only the table length and
//    last kept entry; anything else makes it send the whole table again.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "proto/gptoss/v1/worker.pb.h"
#include "worker/common/step_plan.h"

namespace gptoss {

class StepPlanEncoder {
 public:
  void Encode(const StepPlan& plan, v1::StepPlan* out);
  void Reset() { sent_.clear(); }
  size_t num_sequences() const { return sent_.size(); }

 private:
  struct Sent {
    size_t full_table_len = 0;
    int32_t last_full_block = -1;
  };
  absl::flat_hash_map<SequenceId, Sent> sent_;
};

class StepPlanDecoder {
 public:
  // `max_positions`: as StepPlanFromProto.
  absl::StatusOr<StepPlan> Decode(const v1::StepPlan& proto, int max_positions);
  void Reset() { kept_.clear(); }
  size_t num_sequences() const { return kept_.size(); }

 private:
  struct Kept {
    std::vector<int32_t> full_table;
    StepSampling sampling;
    bool logprobs = false;
    int top_logprobs = 0;
  };
  absl::flat_hash_map<SequenceId, Kept> kept_;
};

}  // namespace gptoss
