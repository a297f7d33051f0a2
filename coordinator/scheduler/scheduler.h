// Scheduler: continuous batching for the coordinator, shaped like TRT-LLM's capacity
// scheduler. Pure: no I/O, no threads, no gRPC or CUDA; time comes from an injected Clock.
// Not thread-safe: the coordinator's engine loop owns it.
//
// One engine step is: Schedule() → the StepPlan runs on the workers → OnStepResult() (or
// AbortStep() if the step failed). Up to kMaxInFlight steps may be in flight, answered in order:
// with one in flight, Schedule() plans the next (the coordinator's overlap). A sequence whose
// token is still in flight continues as a decode entry feeding kLastSampled (the workers keep
// the token they sampled), and is not scheduled once that token could end it by length; a stop
// token is only seen when the result comes back, so a sequence may run one step too many,
// whose token is dropped. Blocks freed while a step is in flight (a finish, a preemption, a
// released sliding block) may be handed out by the next plan: workers run plans in order, so
// the older step has read and written them before the new owner does.
//
// Policy of Schedule(), in order:
//  1. Sequences marked by Cancel()/Finish() are dropped and their blocks freed (so a cancel
//     frees its KV blocks at the next step). A waiting sequence whose token is in flight (one
//     preempted by the step just planned) is not admitted until the token is back.
//  2. Sliding-window blocks that left every running sequence's window are released.
//  3. Running sequences, in RunsBefore order (higher priority, then earlier arrival), each get
//     their next tokens: one decode token, or the next prefill chunk, within the per-step token
//     budget (max_batch_tokens). If the KV pools cannot hold a sequence's next token, the last
//     running sequence in that order (lowest priority, latest arrival; possibly the sequence
//     itself) is preempted by recompute: its blocks are freed, its tokens (prompt and output so
//     far) are kept, and it waits to be prefilled again.
//  4. Waiting sequences, in the same order, are admitted while the budget, max_num_seqs and
//     the free blocks allow. While others run, a sequence is admitted only if its whole prefill
//     (prompt, plus the output so far for a preempted one) fits in the free full-attention
//     blocks not owed to running prefills; alone, it may start with whatever chunk fits.
//     Strict head-of-line: if the first waiting sequence does not fit, nobody behind it is
//     admitted (no starvation of large requests). Admission never preempts.
//  5. The plan lists the new tokens, positions and both block tables of every scheduled
//     sequence; a sequence samples when its chunk reaches its last token.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/scheduler/clock.h"
#include "coordinator/scheduler/kv_block_manager.h"
#include "coordinator/scheduler/scheduler_config.h"
#include "coordinator/scheduler/sequence.h"
#include "coordinator/scheduler/waiting_queue.h"
#include "worker/common/step_plan.h"

namespace gptoss {

// A sequence the scheduler dropped without a token update (cancelled, finished on request, or
// failed with its step).
struct FinishedSequence {
  SequenceId id = 0;
  FinishReason reason = FinishReason::kNone;
  std::string message;  // for kError
};

struct ScheduledStep {
  StepPlan plan;  // plan.sequences empty: nothing to run (plan may still free sequences)
  std::vector<SequenceId> preempted;
  std::vector<FinishedSequence> finished;
  int num_prefill_tokens = 0;  // new tokens of prefill chunks (including recompute)
  int num_decode_tokens = 0;
};

// One sampled token, as applied to its sequence.
struct SequenceUpdate {
  SequenceId id = 0;
  int32_t token_id = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top_logprobs;
  int num_output = 0;  // completion tokens so far, this one included
  // Not kNone if this token ended the sequence (stop id, max_tokens, context); the sequence
  // and its blocks are gone then.
  FinishReason finish = FinishReason::kNone;
};

struct SchedulerStats {
  int num_waiting = 0;
  int num_running = 0;
  int free_full_blocks = 0;
  int free_sliding_blocks = 0;
  uint64_t num_steps = 0;
  uint64_t num_preemptions = 0;
};

class Scheduler {
 public:
  // InvalidArgument if the config does not validate. `clock` must outlive the scheduler.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(const SchedulerConfig& config,
                                                           const Clock* clock);

  // Queues a request. InvalidArgument for an empty prompt, an id out of range or a prompt that
  // leaves no room for a completion; ResourceExhausted if the waiting queue is full.
  absl::StatusOr<SequenceId> Add(SequenceRequest request);

  // Ends a sequence at the next Schedule() (its blocks are freed then). Finish() is for stop
  // conditions found by the caller (stop strings). Both return NotFound for unknown or already
  // finished ids; a second call keeps the first reason.
  absl::Status Cancel(SequenceId id) { return Finish(id, FinishReason::kCancelled); }
  absl::Status Finish(SequenceId id, FinishReason reason);

  static constexpr int kMaxInFlight = 2;

  // Builds the next step. FailedPrecondition while kMaxInFlight steps are in flight.
  absl::StatusOr<ScheduledStep> Schedule();

  // Applies the oldest in-flight step's sampled tokens. InvalidArgument (and no change) if
  // `result` does not answer that plan exactly (step id, sequence ids in order, ids in range).
  absl::StatusOr<std::vector<SequenceUpdate>> OnStepResult(const StepResult& result);

  // Step `step_id`, the oldest in flight, failed: every sequence in it ends with kError (blocks
  // freed). Nothing happens if it is not the oldest in flight (OnStepResult already took it).
  std::vector<FinishedSequence> AbortStep(uint64_t step_id, const absl::Status& error);

  const Sequence* Find(SequenceId id) const;
  SchedulerStats stats() const;
  bool step_in_flight() const { return !in_flight_.empty(); }
  int steps_in_flight() const { return static_cast<int>(in_flight_.size()); }
  // True if nothing waits or runs (and nothing is left to free).
  bool idle() const { return sequences_.empty() && pending_free_.empty(); }
  const SchedulerConfig& config() const { return config_; }

 private:
  struct InFlight {
    uint64_t step_id = 0;
    std::vector<SequenceId> scheduled;  // every sequence of the plan
    std::vector<SequenceId> sampled;    // those with sample = true, in plan order
  };

  Scheduler(const SchedulerConfig& config, const Clock* clock);

  absl::Status DropPendingFinishes(ScheduledStep& out);
  absl::Status Preempt(Sequence* seq, ScheduledStep& out);
  absl::Status ScheduleRunning(int& budget, std::vector<std::pair<Sequence*, int>>& chunks,
                               std::vector<Sequence*>& preempted, ScheduledStep& out);
  absl::Status AdmitWaiting(int& budget, std::vector<std::pair<Sequence*, int>>& chunks);
  SequenceStep MakeStep(const Sequence& seq, int p0, int n) const;
  // Frees the blocks of `seq` and forgets it (it must not be in the waiting queue).
  absl::Status Drop(Sequence* seq);
  void RemoveRunning(Sequence* seq);

  SchedulerConfig config_;
  const Clock* clock_;
  KvBlockManager blocks_;
  WaitingQueue waiting_;
  std::vector<Sequence*> running_;
  absl::flat_hash_map<SequenceId, std::unique_ptr<Sequence>> sequences_;
  std::vector<SequenceId> pending_finish_;  // ids marked by Finish(), in call order
  std::vector<SequenceId> pending_free_;    // for the next plan's free_sequence_ids
  std::deque<InFlight> in_flight_;  // oldest first
  SequenceId next_id_ = 1;
  uint64_t next_arrival_ = 0;
  uint64_t next_step_id_ = 1;
  uint64_t num_preemptions_ = 0;
};

}  // namespace gptoss
