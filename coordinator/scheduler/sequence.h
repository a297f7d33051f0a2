// Sequence: the scheduler's record of one request — its tokens, how many of them are in the KV
// cache, its blocks in both pools and its life-cycle state. Plain data; the Scheduler and its
// policies are the only writers.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "worker/common/step_plan.h"

namespace gptoss {

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };

inline std::string_view FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return "none";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "?";
}

// What a caller asks for. The coordinator service has already tokenized and validated the
// sampling parameters; the scheduler validates what it relies on (lengths, ids).
struct SequenceRequest {
  std::vector<int32_t> prompt;  // >= 1 token ids in [0, vocab_size)
  StepSampling sampling;
  int max_tokens = 0;                   // completion tokens; 0 = up to the context length
  std::vector<int32_t> stop_token_ids;  // the complete set (eos ids included by the caller)
  int priority = 0;                     // higher runs first and is preempted last
  bool logprobs = false;
  int top_logprobs = 0;  // 0..20
};

enum class SequenceState { kWaiting, kRunning };

struct Sequence {
  SequenceId id = 0;
  SequenceRequest request;
  std::vector<int32_t> tokens;  // prompt followed by the generated tokens
  int prompt_len = 0;
  int max_len = 0;  // length() never exceeds this (prompt + max_tokens, capped)

  SequenceState state = SequenceState::kWaiting;
  // Positions whose K/V is in the cache once the steps in flight complete. The next step feeds
  // positions num_computed ... length() - 1. Preemption resets it to 0 (recompute).
  int num_computed = 0;
  // Tokens sampled by steps in flight, not yet in `tokens` (overlap: the next step feeds the
  // first of them as kLastSampled before the coordinator has seen it). At most one per step.
  int pending = 0;
  // Physical blocks by logical block index. sliding_blocks entries are -1 once released.
  std::vector<int32_t> full_blocks;
  std::vector<int32_t> sliding_blocks;
  int sliding_released = 0;  // leading logical sliding blocks already released (-1 entries)

  // FCFS order: a strictly increasing admission counter (ties in arrival_time are common).
  uint64_t arrival_order = 0;
  absl::Time arrival_time;
  absl::Time first_token_time = absl::InfinitePast();  // when the first completion token came
  int num_preemptions = 0;
  // Set by Cancel()/Finish(); acted upon (blocks freed, sequence dropped) at the next Schedule.
  FinishReason pending_finish = FinishReason::kNone;

  int num_output() const { return static_cast<int>(tokens.size()) - prompt_len; }
  // Positions the sequence will have once the steps in flight return.
  int length() const { return static_cast<int>(tokens.size()) + pending; }
  int num_uncomputed() const { return length() - num_computed; }
};

}  // namespace gptoss
