#include "worker/common/step_plan_delta.h"

#include "absl/strings/str_cat.h"
#include "worker/common/step_plan_proto.h"

namespace gptoss {

void StepPlanEncoder::Encode(const StepPlan& plan, v1::StepPlan* out) {
  out->Clear();
  out->set_step_id(plan.step_id);
  for (SequenceId id : plan.free_sequence_ids) {
    out->add_free_sequence_ids(id);
    sent_.erase(id);
  }
  for (const SequenceStep& s : plan.sequences) {
    auto it = sent_.find(s.sequence_id);
    const bool known = it != sent_.end() && s.start_position > 0;
    size_t from = 0;
    if (known && it->second.full_table_len > 0 &&
        it->second.full_table_len <= s.full_block_table.size() &&
        s.full_block_table[it->second.full_table_len - 1] == it->second.last_full_block)
      from = it->second.full_table_len;
    ToProto(s, from, /*with_sampling=*/!known, out->add_sequences());
    Sent& sent = sent_[s.sequence_id];
    sent.full_table_len = s.full_block_table.size();
    sent.last_full_block = s.full_block_table.empty() ? -1 : s.full_block_table.back();
  }
}

absl::StatusOr<StepPlan> StepPlanDecoder::Decode(const v1::StepPlan& proto, int max_positions) {
  absl::StatusOr<StepPlan> plan = StepPlanFromProto(proto, max_positions, /*incremental=*/true);
  if (!plan.ok()) return plan.status();
  // Checked whole before anything is kept, so that a refused plan changes nothing.
  for (int i = 0; i < proto.sequences_size(); ++i) {
    const v1::SequenceStep& p = proto.sequences(i);
    if (p.full_table_from() == 0 && !p.sampling_unchanged()) continue;
    bool freed = false;
    for (SequenceId id : plan->free_sequence_ids) freed = freed || id == p.sequence_id();
    auto it = kept_.find(p.sequence_id());
    if (it == kept_.end() || freed || p.start_position() == 0)
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: sequence ", p.sequence_id(),
                       ": an incremental entry for a sequence this stream does not hold"));
    // 0 with sampling_unchanged: the whole table again (the encoder's fallback).
    if (p.full_table_from() > 0 && p.full_table_from() != it->second.full_table.size())
      return absl::InvalidArgumentError(absl::StrCat(
          "step plan: sequence ", p.sequence_id(), ": full_table_from ", p.full_table_from(),
          " does not continue the ", it->second.full_table.size(), " blocks held"));
  }
  for (SequenceId id : plan->free_sequence_ids) kept_.erase(id);
  for (int i = 0; i < proto.sequences_size(); ++i) {
    const v1::SequenceStep& p = proto.sequences(i);
    SequenceStep& s = plan->sequences[i];
    Kept& kept = kept_[s.sequence_id];
    if (p.full_table_from() > 0) {  // the held blocks, then the new ones
      kept.full_table.insert(kept.full_table.end(), s.full_block_table.begin(),
                             s.full_block_table.end());
      s.full_block_table = kept.full_table;
    } else {
      kept.full_table = s.full_block_table;
    }
    if (p.sampling_unchanged()) {
      s.sampling = kept.sampling;
      s.logprobs = kept.logprobs;
      s.top_logprobs = kept.top_logprobs;
    }
    kept.sampling = s.sampling;
    kept.logprobs = s.logprobs;
    kept.top_logprobs = s.top_logprobs;
  }
  return plan;
}

}  // namespace gptoss
