#include "worker/engine/step_batch_builder.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {
namespace {

int BlocksFor(int64_t tokens, int block_size) {
  return static_cast<int>((tokens + block_size - 1) / block_size);
}

// Checks one pool's table for a sequence whose new tokens end at `end`: entries
// [first_needed, need) must be valid blocks, earlier ones valid or -1 (released).
absl::Status CheckTable(const SequenceStep& s, const std::vector<int32_t>& table, const char* pool,
                        int need, int first_needed, int num_blocks) {
  if (static_cast<int>(table.size()) < need)
    return absl::InvalidArgumentError(
        absl::StrCat("sequence ", s.sequence_id, ": ", pool, " block table has ", table.size(),
                     " entries, positions up to ", s.end_position() - 1, " need ", need));
  // Runs every step over every entry (long contexts: thousands per sequence), so the common
  // case is one branch-free pass that the compiler vectorizes; the slow loop only names the
  // bad entry.
  const int released = std::min(first_needed, need);
  bool bad = false;
  for (int b = 0; b < released; ++b)
    bad |= table[b] != -1 && static_cast<uint32_t>(table[b]) >= static_cast<uint32_t>(num_blocks);
  for (int b = released; b < need; ++b)
    bad |= static_cast<uint32_t>(table[b]) >= static_cast<uint32_t>(num_blocks);
  if (!bad) return absl::OkStatus();
  for (int b = 0; b < need; ++b) {
    const int32_t block = table[b];
    const bool released_ok = b < first_needed && block == -1;
    if (!released_ok && (block < 0 || block >= num_blocks))
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence ", s.sequence_id, ": ", pool, " block table entry ", b, " is ", block,
          ", not a block in [0, ", num_blocks, ")", b < first_needed ? " or -1" : ""));
  }
  return absl::OkStatus();
}

// Appends the slots of the new tokens to `slots`, rejecting a slot written twice in the step.
absl::Status AddSlots(const SequenceStep& s, const std::vector<int32_t>& table, int block_size,
                      const char* pool, absl::flat_hash_set<int64_t>& seen,
                      std::vector<int32_t>& slots) {
  for (int p = s.start_position; p < s.end_position(); ++p) {
    const int64_t slot = static_cast<int64_t>(table[p / block_size]) * block_size + p % block_size;
    if (!seen.insert(slot).second)
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s.sequence_id, ": ", pool,
                                                     " KV slot ", slot, " (position ", p,
                                                     ") is written twice in this step"));
    slots.push_back(static_cast<int32_t>(slot));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSampling(const SequenceStep& step) {
  const StepSampling& p = step.sampling;
  const auto where = [&](const char* field) {
    return absl::StrCat("sequence ", step.sequence_id, ": sampling.", field);
  };
  if (!std::isfinite(p.temperature))
    return absl::InvalidArgumentError(absl::StrCat(where("temperature"), " is not finite"));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    return absl::InvalidArgumentError(absl::StrCat(where("top_p"), " ", p.top_p, " not in (0, 1]"));
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
    return absl::InvalidArgumentError(absl::StrCat(where("min_p"), " ", p.min_p, " not in [0, 1]"));
  if (p.top_k < 0)
    return absl::InvalidArgumentError(absl::StrCat(where("top_k"), " ", p.top_k, " < 0"));
  if (!std::isfinite(p.presence_penalty) || !std::isfinite(p.frequency_penalty))
    return absl::InvalidArgumentError(
        absl::StrCat(where("presence/frequency_penalty"), " is not finite"));
  if (!(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f))
    return absl::InvalidArgumentError(
        absl::StrCat(where("repetition_penalty"), " ", p.repetition_penalty, " must be > 0"));
  if (step.top_logprobs < 0 || step.top_logprobs > 20)
    return absl::InvalidArgumentError(absl::StrCat("sequence ", step.sequence_id, ": top_logprobs ",
                                                   step.top_logprobs, " not in [0, 20]"));
  return absl::OkStatus();
}

void HostStepBatch::Clear() {
  num_seqs = num_tokens = max_context_len = 0;
  full_table_width = sliding_table_width = 1;
  for (std::vector<int32_t>* v : {&token_ids, &positions, &query_start, &context_len,
                                  &full_block_tables, &sliding_block_tables, &full_slots,
                                  &sliding_slots, &logit_rows})
    v->clear();
  sampled.clear();
}

absl::StatusOr<HostStepBatch> BuildStepBatch(const StepPlan& plan, const StepLimits& limits) {
  HostStepBatch out;
  GPTOSS_RETURN_IF_ERROR(BuildStepBatch(plan, limits, out));
  return out;
}

absl::Status BuildStepBatch(const StepPlan& plan, const StepLimits& limits, HostStepBatch& out) {
  GPTOSS_CHECK_ARG(limits.block_size > 0, "block size ", limits.block_size);
  const int bs = limits.block_size;
  out.Clear();
  out.num_seqs = static_cast<int>(plan.sequences.size());
  out.query_start.push_back(0);
  absl::flat_hash_set<SequenceId> ids;
  // First pass: everything that does not depend on other sequences.
  for (const SequenceStep& s : plan.sequences) {
    if (!ids.insert(s.sequence_id).second)
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s.sequence_id, " appears twice in step ", plan.step_id));
    if (s.token_ids.empty())
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s.sequence_id, " has no new tokens"));
    // kLastSampled continues a sequence by one token; the executor resolves it (its history).
    const bool fed_back = s.feeds_back();
    if (fed_back && s.start_position == 0)
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence ", s.sequence_id, " feeds back a sampled token at position 0"));
    for (size_t i = 0; i < s.token_ids.size() && !fed_back; ++i)
      if (s.token_ids[i] < 0 || s.token_ids[i] >= limits.vocab_size)
        return absl::InvalidArgumentError(absl::StrCat("sequence ", s.sequence_id, ": token ", i,
                                                       " has id ", s.token_ids[i], ", not in [0, ",
                                                       limits.vocab_size, ")"));
    const int64_t end = static_cast<int64_t>(s.start_position) + s.token_ids.size();
    if (s.start_position < 0 || end > limits.max_positions)
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s.sequence_id, ": positions [", s.start_position, ", ", end,
                       ") not within the context of ", limits.max_positions));
    if (s.prompt_len < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s.sequence_id, ": prompt_len ", s.prompt_len, " < 0"));
    if (s.sample) GPTOSS_RETURN_IF_ERROR(ValidateSampling(s));
    const int need = BlocksFor(end, bs);
    if (limits.has_full_layers) {
      GPTOSS_RETURN_IF_ERROR(CheckTable(s, s.full_block_table, "full", need, /*first_needed=*/0,
                                 limits.num_full_blocks));
      out.full_table_width = std::max(out.full_table_width, need);
    }
    if (limits.has_sliding_layers) {
      GPTOSS_RETURN_IF_ERROR(CheckTable(s, s.sliding_block_table, "sliding", need,
                                        limits.FirstNeededBlock(s.start_position),
                                        limits.num_sliding_blocks));
      out.sliding_table_width = std::max(out.sliding_table_width, need);
    }
    out.max_context_len = std::max(out.max_context_len, static_cast<int>(end));
  }
  // Second pass: the ragged layout, padded tables and slots.
  out.full_block_tables.assign(static_cast<size_t>(out.num_seqs) * out.full_table_width, -1);
  out.sliding_block_tables.assign(static_cast<size_t>(out.num_seqs) * out.sliding_table_width, -1);
  absl::flat_hash_set<int64_t> full_seen, sliding_seen;
  for (int si = 0; si < out.num_seqs; ++si) {
    const SequenceStep& s = plan.sequences[si];
    const int need = BlocksFor(s.end_position(), bs);
    for (size_t i = 0; i < s.token_ids.size(); ++i) {
      out.token_ids.push_back(s.token_ids[i]);
      out.positions.push_back(s.start_position + static_cast<int32_t>(i));
    }
    out.query_start.push_back(static_cast<int32_t>(out.token_ids.size()));
    out.context_len.push_back(s.end_position());
    if (limits.has_full_layers) {
      std::copy_n(s.full_block_table.begin(), need,
                  out.full_block_tables.begin() + static_cast<size_t>(si) * out.full_table_width);
      GPTOSS_RETURN_IF_ERROR(AddSlots(s, s.full_block_table, bs, "full", full_seen, out.full_slots));
    } else {
      out.full_slots.insert(out.full_slots.end(), s.token_ids.size(), -1);
    }
    if (limits.has_sliding_layers) {
      std::copy_n(
          s.sliding_block_table.begin(), need,
          out.sliding_block_tables.begin() + static_cast<size_t>(si) * out.sliding_table_width);
      GPTOSS_RETURN_IF_ERROR(
          AddSlots(s, s.sliding_block_table, bs, "sliding", sliding_seen, out.sliding_slots));
    } else {
      out.sliding_slots.insert(out.sliding_slots.end(), s.token_ids.size(), -1);
    }
    if (s.sample) {
      out.logit_rows.push_back(out.query_start.back() - 1);
      out.sampled.push_back(si);
    }
  }
  out.num_tokens = static_cast<int>(out.token_ids.size());
  return absl::OkStatus();
}

}  // namespace gptoss
