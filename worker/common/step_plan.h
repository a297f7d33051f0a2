// StepPlan / StepResult: the in-process form of gptoss.v1.StepPlan / StepResult
// (proto/gptoss/v1/worker.proto). The scheduler (coordinator/scheduler) produces a StepPlan,
// the StepExecutor (worker/engine) executes one; the services only convert between this and
// the proto, field by field. Header-only, no dependencies beyond the standard library, so the
// scheduler can use it without linking the engine.
//
// Contract (the same as the proto's, which documents every field):
//  - Sequence s feeds token_ids at positions start_position .. start_position + n - 1.
//  - full_block_table[b] is the physical full-pool block of logical block b (positions
//    [b*block_size, (b+1)*block_size)), for every b up to the block of the last new token.
//  - sliding_block_table is indexed by logical block too (same length rule); entries for
//    blocks wholly before start_position - window + 1 may be -1 (released). The proto sends
//    only the tail from the first non-released block (sliding_first_block).
//  - A sequence with sample = true gets exactly one SequenceResult (rank 0 only), in plan
//    order. Every rank samples it (the same draw from the same logits) and keeps it: a later
//    entry of exactly one token kLastSampled feeds it back without the coordinator (overlap).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gptoss {

using SequenceId = uint64_t;

// Per-sequence sampling parameters, constant over a sequence's life.
struct StepSampling {
  float temperature = 0.0f;  // <= 0: greedy
  float top_p = 1.0f;
  int top_k = 0;       // 0 = off
  float min_p = 0.0f;  // 0 = off
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;  // 1 = off
  uint64_t seed = 0;

  bool has_penalties() const {
    return presence_penalty != 0.0f || frequency_penalty != 0.0f || repetition_penalty != 1.0f;
  }
};

// token_ids = {kLastSampled}: feed the token this rank sampled for the sequence in its previous
// step (the coordinator has not seen it yet when it sends the plan).
inline constexpr int32_t kLastSampled = -1;

struct SequenceStep {
  SequenceId sequence_id = 0;
  std::vector<int32_t> token_ids;  // >= 1 new tokens, or {kLastSampled}
  int32_t start_position = 0;      // position of token_ids[0]; 0 resets worker-side state
  int32_t prompt_len = 0;          // positions < prompt_len are prompt tokens
  std::vector<int32_t> full_block_table;
  std::vector<int32_t> sliding_block_table;  // -1 = released
  bool sample = false;
  StepSampling sampling;
  uint64_t sample_index = 0;  // index of the sampled token within the completion
  bool logprobs = false;
  int top_logprobs = 0;  // 0..20

  // This entry feeds back the token sampled in its sequence's previous step.
  bool feeds_back() const { return token_ids.size() == 1 && token_ids[0] == kLastSampled; }
  int32_t end_position() const {  // one past the last new token
    return start_position + static_cast<int32_t>(token_ids.size());
  }
};

struct StepPlan {
  uint64_t step_id = 0;
  std::vector<SequenceId> free_sequence_ids;  // dropped before the step runs
  std::vector<SequenceStep> sequences;
};

struct SequenceResult {
  SequenceId sequence_id = 0;
  int32_t token_id = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top_logprobs;  // (id, logprob), most likely first
};

// What one rank spent on a step.
struct RankStepTime {
  double forward_time_s = 0.0;  // the whole step on the rank (communication included)
  double comm_time_s = 0.0;     // inside collectives (waiting for peers included)
  uint64_t comm_bytes = 0;      // sent to other ranks
  double idle_time_s = 0.0;     // between the previous step's end and this one's start
  double plan_wait_s = 0.0;     // of which before the plan had arrived (the coordinator's share)
};

struct StepResult {
  uint64_t step_id = 0;
  int rank = 0;
  std::vector<SequenceResult> results;  // rank 0: one per sampled sequence, in plan order
  double forward_time_s = 0.0;
  double comm_time_s = 0.0;
  uint64_t comm_bytes = 0;
  uint64_t sampled_digest = 0;  // SampledDigest of the ids this rank sampled (every rank)
  double idle_time_s = 0.0;     // see RankStepTime
  double plan_wait_s = 0.0;
  // Filled by the coordinator's WorkerPool: every rank's figures, by rank.
  std::vector<RankStepTime> ranks;
};

// FNV-1a over the sampled ids in plan order: equal on every rank of a world that agrees.
inline uint64_t SampledDigest(const std::vector<int32_t>& ids) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int32_t id : ids) {
    h ^= static_cast<uint32_t>(id);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace gptoss
