// Test helpers for the scheduler: a fake model that answers step plans deterministically and,
// on the way, checks every plan against a model of the physical paged KV cache (who wrote
// which slot), so any block shared between live sequences, any read of a released block and
// any gap in positions fails the test.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "coordinator/scheduler/scheduler.h"
#include "kernels/core/status.h"
#include "worker/common/step_plan.h"

namespace gptoss::testing {

// The token a fake model samples after `position` of a sequence whose previous token is
// `last`: a pure function, so recompute after preemption reproduces the same output.
inline int32_t FakeNextToken(int32_t last, int32_t position, int vocab) {
  uint64_t x = static_cast<uint64_t>(last) * 0x9e3779b97f4a7c15ull + position * 1315423911ull;
  x ^= x >> 29;
  return static_cast<int32_t>(x % static_cast<uint64_t>(vocab));
}

class FakeKvModel {
 public:
  FakeKvModel(const KvGeometry& kv, int vocab) : kv_(kv), vocab_(vocab) {}

  // Checks the plan and answers it. Returns an error describing the first inconsistency.
  absl::StatusOr<StepResult> Run(const StepPlan& plan) {
    for (SequenceId id : plan.free_sequence_ids) {
      seen_.erase(id);
      last_sampled_.erase(id);
    }
    StepResult result;
    result.step_id = plan.step_id;
    // Writes first (AppendKv for every token of the step), then reads (attention), as in the
    // transformer: a block released by one sequence may be rewritten by another in the same
    // step only if the first does not read it.
    for (const SequenceStep& s : plan.sequences) {
      std::vector<int32_t>& toks = seen_[s.sequence_id];
      if (s.start_position == 0) toks.clear();
      if (s.start_position != static_cast<int32_t>(toks.size()))
        return absl::InternalError(absl::StrCat("seq ", s.sequence_id, " starts at ",
                                                s.start_position, " but has ", toks.size()));
      // As a worker does: kLastSampled feeds the token this model sampled for it last step.
      const bool fed_back = s.feeds_back();
      auto last = last_sampled_.find(s.sequence_id);
      if (fed_back && (last == last_sampled_.end() || s.start_position == 0))
        return absl::InternalError(
            absl::StrCat("seq ", s.sequence_id, " feeds back a token it did not sample"));
      for (size_t i = 0; i < s.token_ids.size(); ++i) {
        const int p = s.start_position + static_cast<int>(i);
        if (kv_.has_full_layers) GPTOSS_RETURN_IF_ERROR(Write(full_, s.full_block_table, s, p));
        if (kv_.has_sliding_layers) GPTOSS_RETURN_IF_ERROR(Write(sliding_, s.sliding_block_table, s, p));
        toks.push_back(fed_back ? last->second : s.token_ids[i]);
      }
      if (fed_back) ++fed_back_;
      last_sampled_.erase(s.sequence_id);
    }
    for (const SequenceStep& s : plan.sequences) {
      for (int p = s.start_position; p < s.end_position(); ++p) {
        if (kv_.has_full_layers)
          for (int k = 0; k <= p; ++k) GPTOSS_RETURN_IF_ERROR(Read(full_, s.full_block_table, s, k));
        if (kv_.has_sliding_layers)
          for (int k = std::max(0, p - kv_.sliding_window + 1); k <= p; ++k)
            GPTOSS_RETURN_IF_ERROR(Read(sliding_, s.sliding_block_table, s, k));
      }
      if (s.sample) {
        const std::vector<int32_t>& toks = seen_[s.sequence_id];
        SequenceResult r;
        r.sequence_id = s.sequence_id;
        r.token_id = FakeNextToken(toks.back(), s.end_position() - 1, vocab_);
        r.logprob = -0.5f;
        last_sampled_[s.sequence_id] = r.token_id;
        result.results.push_back(r);
      }
    }
    ++steps_;
    return result;
  }

  int steps() const { return steps_; }
  int fed_back() const { return fed_back_; }  // kLastSampled entries run

 private:
  struct Owner {
    SequenceId seq;
    int32_t position;
  };
  using Slots = std::map<int64_t, Owner>;  // physical slot → writer

  absl::Status Write(Slots& slots, const std::vector<int32_t>& table, const SequenceStep& s,
                     int p) {
    GPTOSS_ASSIGN_OR_RETURN(int64_t slot, Slot(table, s, p));
    slots[slot] = Owner{s.sequence_id, p};
    return absl::OkStatus();
  }
  absl::Status Read(const Slots& slots, const std::vector<int32_t>& table, const SequenceStep& s,
                    int p) {
    GPTOSS_ASSIGN_OR_RETURN(int64_t slot, Slot(table, s, p));
    auto it = slots.find(slot);
    if (it == slots.end() || it->second.seq != s.sequence_id || it->second.position != p)
      return absl::InternalError(absl::StrCat("seq ", s.sequence_id, " reads position ", p,
                                              " from slot ", slot, " holding another token"));
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> Slot(const std::vector<int32_t>& table, const SequenceStep& s, int p) {
    const int b = p / kv_.block_size;
    if (b >= static_cast<int>(table.size()) || table[b] < 0)
      return absl::InternalError(
          absl::StrCat("seq ", s.sequence_id, " has no block for position ", p));
    return static_cast<int64_t>(table[b]) * kv_.block_size + p % kv_.block_size;
  }

  KvGeometry kv_;
  int vocab_;
  Slots full_, sliding_;
  absl::flat_hash_map<SequenceId, std::vector<int32_t>> seen_;
  absl::flat_hash_map<SequenceId, int32_t> last_sampled_;
  int steps_ = 0;
  int fed_back_ = 0;
};

}  // namespace gptoss::testing
