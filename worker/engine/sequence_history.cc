#include "worker/engine/sequence_history.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gptoss {

absl::Status SequenceHistories::Check(const StepPlan& plan) const {
  for (const SequenceStep& s : plan.sequences) {
    if (s.start_position == 0) continue;
    auto it = histories_.find(s.sequence_id);
    const int32_t seen = it == histories_.end() ? 0 : it->second.length;
    if (it == histories_.end() || seen != s.start_position)
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s.sequence_id, " continues at position ", s.start_position,
                       " but this worker has fed ", seen, " positions of it",
                       it == histories_.end() ? " (unknown or freed sequence)" : ""));
    if (s.feeds_back() && it->second.last_sampled < 0)
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence ", s.sequence_id, " feeds back its last sampled token, but this worker ",
          "sampled none since position ", seen));
    if (s.sampling.has_penalties() && !it->second.tracks_tokens)
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s.sequence_id, " changed its penalties after position 0"));
  }
  return absl::OkStatus();
}

void SequenceHistories::Resolve(const StepPlan& plan, std::vector<int32_t>& token_ids) const {
  size_t t = 0;
  for (const SequenceStep& s : plan.sequences) {
    if (s.feeds_back()) token_ids[t] = histories_.at(s.sequence_id).last_sampled;
    t += s.token_ids.size();
  }
}

void SequenceHistories::Append(const StepPlan& plan, const std::vector<int32_t>& token_ids) {
  size_t t = 0;
  for (const SequenceStep& s : plan.sequences) {
    History& h = histories_[s.sequence_id];
    if (s.start_position == 0) {
      h = History();
      h.tracks_tokens = s.sampling.has_penalties();
    }
    if (h.tracks_tokens) {
      for (size_t i = 0; i < s.token_ids.size(); ++i) {
        const bool completion = s.start_position + static_cast<int32_t>(i) >= s.prompt_len;
        h.completion_counts[token_ids[t + i]] += completion ? 1 : 0;
      }
    }
    t += s.token_ids.size();
    h.length = s.end_position();
    h.last_sampled = -1;
  }
}

void SequenceHistories::Sampled(SequenceId id, int32_t token) {
  if (auto it = histories_.find(id); it != histories_.end()) it->second.last_sampled = token;
}

SequenceHistories::PenaltyInputs SequenceHistories::Penalties(const StepPlan& plan,
                                                              const std::vector<int>& rows) const {
  PenaltyInputs in;
  for (int r : rows) {
    auto it = histories_.find(plan.sequences[r].sequence_id);
    if (it != histories_.end())
      in.width = std::max(in.width, static_cast<int>(it->second.completion_counts.size()));
  }
  in.tokens.assign(rows.size() * in.width, -1);
  in.counts.assign(rows.size() * in.width, 0);
  for (size_t k = 0; k < rows.size(); ++k) {
    const SequenceStep& s = plan.sequences[rows[k]];
    PenaltyParams p;
    p.presence = s.sampling.presence_penalty;
    p.frequency = s.sampling.frequency_penalty;
    p.repetition = s.sampling.repetition_penalty;
    in.params.push_back(p);
    auto it = histories_.find(s.sequence_id);
    if (it == histories_.end() || !s.sampling.has_penalties()) continue;
    size_t j = k * in.width;
    for (const auto& [token, count] : it->second.completion_counts) {
      in.tokens[j] = token;
      in.counts[j] = count;
      ++j;
    }
  }
  return in;
}

}  // namespace gptoss
