#include "worker/common/step_plan_proto.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"

namespace gptoss {
namespace {

constexpr int kMaxTopLogprobs = 20;

absl::Status Bad(uint64_t sequence_id, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("step plan: sequence ", sequence_id, ": ", field, ": ", what));
}

}  // namespace

void ToProto(const SequenceStep& s, size_t full_from, bool with_sampling, v1::SequenceStep* p) {
  p->set_sequence_id(s.sequence_id);
  p->mutable_token_ids()->Add(s.token_ids.begin(), s.token_ids.end());
  p->set_start_position(static_cast<uint32_t>(s.start_position));
  p->set_prompt_len(static_cast<uint32_t>(s.prompt_len));
  full_from = std::min(full_from, s.full_block_table.size());
  p->set_full_table_from(static_cast<uint32_t>(full_from));
  p->mutable_full_block_table()->Add(s.full_block_table.begin() + full_from,
                                     s.full_block_table.end());
  size_t first = 0;  // leading released (-1) sliding blocks are not sent
  while (first < s.sliding_block_table.size() && s.sliding_block_table[first] < 0) ++first;
  p->set_sliding_first_block(static_cast<uint32_t>(first));
  p->mutable_sliding_block_table()->Add(s.sliding_block_table.begin() + first,
                                        s.sliding_block_table.end());
  p->set_sample(s.sample);
  p->set_sample_index(s.sample_index);
  if (!with_sampling) {
    p->set_sampling_unchanged(true);
    return;
  }
  v1::StepSampling* sp = p->mutable_sampling();
  sp->set_temperature(s.sampling.temperature);
  sp->set_top_p(s.sampling.top_p);
  sp->set_top_k(static_cast<uint32_t>(s.sampling.top_k));
  sp->set_min_p(s.sampling.min_p);
  sp->set_presence_penalty(s.sampling.presence_penalty);
  sp->set_frequency_penalty(s.sampling.frequency_penalty);
  sp->set_repetition_penalty(s.sampling.repetition_penalty);
  sp->set_seed(s.sampling.seed);
  p->set_logprobs(s.logprobs);
  p->set_top_logprobs(static_cast<uint32_t>(s.top_logprobs));
}

void ToProto(const StepPlan& plan, v1::StepPlan* out) {
  out->Clear();
  out->set_step_id(plan.step_id);
  for (SequenceId id : plan.free_sequence_ids) out->add_free_sequence_ids(id);
  for (const SequenceStep& s : plan.sequences)
    ToProto(s, /*full_from=*/0, /*with_sampling=*/true, out->add_sequences());
}

absl::StatusOr<StepPlan> StepPlanFromProto(const v1::StepPlan& plan, int max_positions,
                                           bool incremental) {
  StepPlan out;
  out.step_id = plan.step_id();
  out.free_sequence_ids.assign(plan.free_sequence_ids().begin(), plan.free_sequence_ids().end());
  out.sequences.reserve(plan.sequences_size());
  for (const v1::SequenceStep& p : plan.sequences()) {
    const uint64_t id = p.sequence_id();
    const int64_t n = p.token_ids_size();
    const int64_t start = p.start_position();
    if (n == 0) return Bad(id, "token_ids", "empty");
    if (start + n > max_positions)
      return Bad(id, "start_position",
                 absl::StrCat(start, " + ", n, " tokens exceeds the context of ", max_positions));
    if (p.prompt_len() > static_cast<uint32_t>(max_positions))
      return Bad(id, "prompt_len",
                 absl::StrCat(p.prompt_len(), " exceeds the context of ", max_positions));
    if (p.sliding_first_block() > static_cast<uint32_t>(max_positions) ||
        p.sliding_first_block() + static_cast<int64_t>(p.sliding_block_table_size()) >
            static_cast<int64_t>(max_positions))
      return Bad(id, "sliding_first_block",
                 absl::StrCat(p.sliding_first_block(), " + ", p.sliding_block_table_size(),
                              " blocks exceeds the context of ", max_positions));
    if (p.full_table_from() + static_cast<int64_t>(p.full_block_table_size()) > max_positions)
      return Bad(id, "full_block_table", "longer than the context");
    if (!incremental && (p.full_table_from() > 0 || p.sampling_unchanged()))
      return Bad(id, "full_table_from", "an incremental entry needs the stream's earlier plans");
    if (p.top_logprobs() > kMaxTopLogprobs)
      return Bad(id, "top_logprobs", absl::StrCat(p.top_logprobs(), " > ", kMaxTopLogprobs));
    if (p.sampling().top_k() > static_cast<uint32_t>(std::numeric_limits<int>::max()))
      return Bad(id, "sampling.top_k", "too large");

    SequenceStep s;
    s.sequence_id = id;
    s.token_ids.assign(p.token_ids().begin(), p.token_ids().end());
    s.start_position = static_cast<int32_t>(start);
    s.prompt_len = static_cast<int32_t>(p.prompt_len());
    s.full_block_table.assign(p.full_block_table().begin(), p.full_block_table().end());
    s.sliding_block_table.assign(p.sliding_first_block(), -1);
    s.sliding_block_table.insert(s.sliding_block_table.end(), p.sliding_block_table().begin(),
                                 p.sliding_block_table().end());
    s.sample = p.sample();
    const v1::StepSampling& sp = p.sampling();
    s.sampling.temperature = sp.temperature();
    s.sampling.top_p = sp.top_p();
    s.sampling.top_k = static_cast<int>(sp.top_k());
    s.sampling.min_p = sp.min_p();
    s.sampling.presence_penalty = sp.presence_penalty();
    s.sampling.frequency_penalty = sp.frequency_penalty();
    s.sampling.repetition_penalty = sp.repetition_penalty();
    s.sampling.seed = sp.seed();
    s.sample_index = p.sample_index();
    s.logprobs = p.logprobs();
    s.top_logprobs = static_cast<int>(p.top_logprobs());
    out.sequences.push_back(std::move(s));
  }
  return out;
}

void ToProto(const StepResult& result, v1::StepResult* out) {
  out->Clear();
  out->set_step_id(result.step_id);
  out->set_rank(static_cast<uint32_t>(result.rank));
  out->set_forward_time_s(result.forward_time_s);
  out->set_comm_time_s(result.comm_time_s);
  out->set_comm_bytes(result.comm_bytes);
  out->set_sampled_digest(result.sampled_digest);
  out->set_idle_time_s(result.idle_time_s);
  out->set_plan_wait_s(result.plan_wait_s);
  for (const SequenceResult& r : result.results) {
    v1::SequenceResult* p = out->add_results();
    p->set_sequence_id(r.sequence_id);
    p->set_token_id(r.token_id);
    p->set_logprob(r.logprob);
    for (const auto& [token, logprob] : r.top_logprobs) {
      v1::LogprobEntry* e = p->add_top_logprobs();
      e->set_token_id(token);
      e->set_logprob(logprob);
    }
  }
}

StepResult StepResultFromProto(const v1::StepResult& result) {
  StepResult out;
  out.step_id = result.step_id();
  out.rank = static_cast<int>(result.rank());
  out.forward_time_s = result.forward_time_s();
  out.comm_time_s = result.comm_time_s();
  out.comm_bytes = result.comm_bytes();
  out.sampled_digest = result.sampled_digest();
  out.idle_time_s = result.idle_time_s();
  out.plan_wait_s = result.plan_wait_s();
  out.results.reserve(result.results_size());
  for (const v1::SequenceResult& p : result.results()) {
    SequenceResult r;
    r.sequence_id = p.sequence_id();
    r.token_id = p.token_id();
    r.logprob = p.logprob();
    for (const v1::LogprobEntry& e : p.top_logprobs())
      r.top_logprobs.emplace_back(e.token_id(), e.logprob());
    out.results.push_back(std::move(r));
  }
  return out;
}

}  // namespace gptoss
