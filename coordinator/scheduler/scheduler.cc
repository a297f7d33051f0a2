#include "coordinator/scheduler/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(const SchedulerConfig& config,
                                                             const Clock* clock) {
  GPTOSS_RETURN_IF_ERROR(config.Validate());
  if (clock == nullptr) return absl::InvalidArgumentError("scheduler needs a clock");
  return std::unique_ptr<Scheduler>(new Scheduler(config, clock));
}

Scheduler::Scheduler(const SchedulerConfig& config, const Clock* clock)
    : config_(config), clock_(clock), blocks_(config.kv), waiting_(config.max_waiting) {}

absl::StatusOr<SequenceId> Scheduler::Add(SequenceRequest request) {
  const int prompt_len = static_cast<int>(request.prompt.size());
  if (prompt_len == 0) return absl::InvalidArgumentError("prompt is empty");
  for (int i = 0; i < prompt_len; ++i) {
    const int32_t id = request.prompt[i];
    if (id < 0 || id >= config_.vocab_size)
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", i, " has id ", id,
                                                     ", not in [0, ", config_.vocab_size, ")"));
  }
  for (int32_t id : request.stop_token_ids)
    if (id < 0 || id >= config_.vocab_size)
      return absl::InvalidArgumentError(
          absl::StrCat("stop token id ", id, " not in [0, ", config_.vocab_size, ")"));
  const int max_len = config_.EffectiveMaxLen();
  if (prompt_len >= max_len)
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt of ", prompt_len, " tokens leaves no room in the context of ", max_len, " tokens"));
  if (request.max_tokens < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be >= 0, got ", request.max_tokens));
  if (request.top_logprobs < 0 || request.top_logprobs > 20)
    return absl::InvalidArgumentError(
        absl::StrCat("top_logprobs must be in [0, 20], got ", request.top_logprobs));

  auto seq = std::make_unique<Sequence>();
  seq->id = next_id_;
  seq->prompt_len = prompt_len;
  seq->max_len = request.max_tokens > 0
                     ? static_cast<int>(std::min<int64_t>(
                           max_len, static_cast<int64_t>(prompt_len) + request.max_tokens))
                     : max_len;
  seq->tokens = request.prompt;
  seq->request = std::move(request);
  seq->arrival_order = next_arrival_;
  seq->arrival_time = clock_->Now();
  GPTOSS_RETURN_IF_ERROR(waiting_.PushNew(seq.get()));
  ++next_id_;
  ++next_arrival_;
  const SequenceId id = seq->id;
  sequences_.emplace(id, std::move(seq));
  return id;
}

absl::Status Scheduler::Finish(SequenceId id, FinishReason reason) {
  auto it = sequences_.find(id);
  if (it == sequences_.end())
    return absl::NotFoundError(absl::StrCat("sequence ", id, " is not live"));
  if (reason == FinishReason::kNone) return absl::InvalidArgumentError("Finish() needs a reason");
  Sequence& seq = *it->second;
  if (seq.pending_finish == FinishReason::kNone) {
    seq.pending_finish = reason;
    pending_finish_.push_back(id);
  }
  return absl::OkStatus();
}

const Sequence* Scheduler::Find(SequenceId id) const {
  auto it = sequences_.find(id);
  return it == sequences_.end() ? nullptr : it->second.get();
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.num_waiting = static_cast<int>(waiting_.size());
  s.num_running = static_cast<int>(running_.size());
  s.free_full_blocks = blocks_.free_full();
  s.free_sliding_blocks = blocks_.free_sliding();
  s.num_steps = next_step_id_ - 1;
  s.num_preemptions = num_preemptions_;
  return s;
}

void Scheduler::RemoveRunning(Sequence* seq) {
  auto it = std::find(running_.begin(), running_.end(), seq);
  if (it != running_.end()) running_.erase(it);
}

absl::Status Scheduler::Drop(Sequence* seq) {
  const SequenceId id = seq->id;
  if (seq->state == SequenceState::kWaiting) waiting_.Remove(seq);
  absl::Status status = blocks_.FreeAll(*seq);
  RemoveRunning(seq);
  pending_free_.push_back(id);
  sequences_.erase(id);
  return status;
}

absl::Status Scheduler::DropPendingFinishes(ScheduledStep& out) {
  for (SequenceId id : pending_finish_) {
    auto it = sequences_.find(id);
    if (it == sequences_.end()) continue;  // finished naturally meanwhile
    Sequence* seq = it->second.get();
    out.finished.push_back({id, seq->pending_finish, ""});
    GPTOSS_RETURN_IF_ERROR(Drop(seq));
  }
  pending_finish_.clear();
  return absl::OkStatus();
}

absl::Status Scheduler::Preempt(Sequence* seq, ScheduledStep& out) {
  GPTOSS_RETURN_IF_ERROR(blocks_.FreeAll(*seq));
  RemoveRunning(seq);
  // Recompute: every token (prompt and output so far) is prefilled again on resume. Workers
  // drop the sequence's state now; the re-prefill starts at position 0 anyway.
  seq->num_computed = 0;
  seq->state = SequenceState::kWaiting;
  ++seq->num_preemptions;
  ++num_preemptions_;
  pending_free_.push_back(seq->id);
  out.preempted.push_back(seq->id);
  return absl::OkStatus();
}

absl::Status Scheduler::ScheduleRunning(int& budget, std::vector<std::pair<Sequence*, int>>& chunks,
                                        std::vector<Sequence*>& preempted, ScheduledStep& out) {
  std::sort(running_.begin(), running_.end(), RunsBefore());
  size_t i = 0;
  while (i < running_.size() && budget > 0) {
    Sequence* seq = running_[i];
    // Nothing to feed, or its token in flight will end it by length: it sits this step out.
    if (seq->num_uncomputed() == 0 || (seq->pending > 0 && seq->length() >= seq->max_len)) {
      ++i;
      continue;
    }
    const int want = std::min(seq->num_uncomputed(), budget);
    int n = blocks_.MaxAllocatable(*seq, want);
    bool self_preempted = false;
    // Make room by preempting from the back of the order; every sequence there runs after
    // `seq`. If `seq` is itself the last, it yields.
    while (n == 0) {
      Sequence* victim = running_.back();
      GPTOSS_RETURN_IF_ERROR(Preempt(victim, out));
      preempted.push_back(victim);
      if (victim == seq) {
        self_preempted = true;
        break;
      }
      n = blocks_.MaxAllocatable(*seq, want);
    }
    if (self_preempted) break;  // seq was the last running sequence
    GPTOSS_RETURN_IF_ERROR(blocks_.Allocate(*seq, n));
    chunks.emplace_back(seq, n);
    budget -= n;
    ++i;
  }
  return absl::OkStatus();
}

absl::Status Scheduler::AdmitWaiting(int& budget, std::vector<std::pair<Sequence*, int>>& chunks) {
  // Full blocks already promised to running sequences whose prefill is not complete.
  int owed = 0;
  for (const Sequence* seq : running_) owed += blocks_.FullBlocksOwed(*seq);
  while (!waiting_.empty() && budget > 0 &&
         static_cast<int>(running_.size()) < config_.max_num_seqs) {
    Sequence* seq = waiting_.front();
    if (seq->pending > 0) break;  // its prefill needs the token still in flight
    const int want = std::min(seq->num_uncomputed(), budget);
    const int n = blocks_.MaxAllocatable(*seq, want);
    if (n == 0) break;
    if (!running_.empty()) {
      // While others run, admit only a sequence whose whole prefill (not just its first chunk)
      // fits next to what the running prefills still need: otherwise it would be the first
      // victim once the cache fills, and a long recompute would be evicted again mid-prefill.
      // With nothing running, a partial chunk is taken so that progress is guaranteed.
      if (n < want || owed + blocks_.FullBlocksOwed(*seq) > blocks_.free_full()) break;
    }
    waiting_.PopFront();
    GPTOSS_RETURN_IF_ERROR(blocks_.Allocate(*seq, n));
    owed += blocks_.FullBlocksOwed(*seq);
    seq->state = SequenceState::kRunning;
    running_.push_back(seq);
    chunks.emplace_back(seq, n);
    budget -= n;
  }
  return absl::OkStatus();
}

SequenceStep Scheduler::MakeStep(const Sequence& seq, int p0, int n) const {
  SequenceStep step;
  step.sequence_id = seq.id;
  if (seq.pending > 0) {
    // Only a sequence that has every known token computed runs with a token in flight: its
    // one new token is the one the workers sampled last.
    step.token_ids.assign(1, kLastSampled);
  } else {
    step.token_ids.assign(seq.tokens.begin() + p0, seq.tokens.begin() + p0 + n);
  }
  step.start_position = p0;
  step.prompt_len = seq.prompt_len;
  step.full_block_table = seq.full_blocks;
  step.sliding_block_table = seq.sliding_blocks;
  step.sample = p0 + n == seq.length();
  step.sampling = seq.request.sampling;
  step.sample_index = static_cast<uint64_t>(seq.num_output() + seq.pending);
  step.logprobs = seq.request.logprobs;
  step.top_logprobs = seq.request.top_logprobs;
  return step;
}

absl::StatusOr<ScheduledStep> Scheduler::Schedule() {
  if (in_flight_.size() >= kMaxInFlight)
    return absl::FailedPreconditionError(
        absl::StrCat("steps ", in_flight_.front().step_id, "..", in_flight_.back().step_id,
                     " are still in flight"));
  ScheduledStep out;
  GPTOSS_RETURN_IF_ERROR(DropPendingFinishes(out));
  for (Sequence* seq : running_) GPTOSS_RETURN_IF_ERROR(blocks_.ReleaseOutOfWindow(*seq));

  int budget = config_.max_batch_tokens;
  std::vector<std::pair<Sequence*, int>> chunks;  // (sequence, new tokens) in plan order
  std::vector<Sequence*> preempted;
  GPTOSS_RETURN_IF_ERROR(ScheduleRunning(budget, chunks, preempted, out));
  GPTOSS_RETURN_IF_ERROR(AdmitWaiting(budget, chunks));
  // Preempted sequences re-enter the queue only now, so that they are not re-admitted into the
  // step that just evicted them.
  for (Sequence* seq : preempted) waiting_.PushPreempted(seq);

  InFlight flight;
  for (auto& [seq, n] : chunks) {
    const int p0 = seq->num_computed;
    if (seq->pending > 0 && (n != 1 || p0 != static_cast<int>(seq->tokens.size())))
      return absl::InternalError(absl::StrCat("sequence ", seq->id, " with a token in flight ",
                                              "would feed ", n, " tokens from ", p0));
    SequenceStep step = MakeStep(*seq, p0, n);
    const bool decode = n == 1 && step.sample && seq->num_output() + seq->pending > 0;
    (decode ? out.num_decode_tokens : out.num_prefill_tokens) += n;
    seq->num_computed += n;
    flight.scheduled.push_back(seq->id);
    if (step.sample) {
      flight.sampled.push_back(seq->id);
      ++seq->pending;
    }
    out.plan.sequences.push_back(std::move(step));
  }
  out.plan.free_sequence_ids = std::move(pending_free_);
  pending_free_.clear();
  if (!out.plan.sequences.empty()) {
    out.plan.step_id = next_step_id_++;
    flight.step_id = out.plan.step_id;
    in_flight_.push_back(std::move(flight));
  }
  return out;
}

absl::StatusOr<std::vector<SequenceUpdate>> Scheduler::OnStepResult(const StepResult& result) {
  if (in_flight_.empty())
    return absl::FailedPreconditionError(
        absl::StrCat("no step in flight (got result of step ", result.step_id, ")"));
  const InFlight& flight = in_flight_.front();
  if (result.step_id != flight.step_id)
    return absl::InvalidArgumentError(absl::StrCat("result is for step ", result.step_id, ", step ",
                                                   flight.step_id, " is in flight"));
  if (result.results.size() != flight.sampled.size())
    return absl::InvalidArgumentError(absl::StrCat("step ", flight.step_id, " expects ",
                                                   flight.sampled.size(), " sampled tokens, got ",
                                                   result.results.size()));
  for (size_t k = 0; k < flight.sampled.size(); ++k) {
    const SequenceResult& r = result.results[k];
    if (r.sequence_id != flight.sampled[k])
      return absl::InvalidArgumentError(absl::StrCat(
          "result ", k, " is for sequence ", r.sequence_id, ", expected ", flight.sampled[k]));
    if (r.token_id < 0 || r.token_id >= config_.vocab_size)
      return absl::InvalidArgumentError(absl::StrCat("sequence ", r.sequence_id, " sampled id ",
                                                     r.token_id, ", not in [0, ",
                                                     config_.vocab_size, ")"));
  }

  std::vector<SequenceUpdate> updates;
  updates.reserve(result.results.size());
  absl::Status status;
  for (const SequenceResult& r : result.results) {
    auto it = sequences_.find(r.sequence_id);
    if (it == sequences_.end()) continue;
    Sequence* seq = it->second.get();
    // The one token in flight from this step (the oldest). A sequence that restarted since
    // (preempted and prefilled again) cannot have one: it never waits with a token in flight.
    --seq->pending;
    if (seq->pending_finish != FinishReason::kNone) continue;  // dropped at the next Schedule
    seq->tokens.push_back(r.token_id);
    if (seq->num_output() == 1) seq->first_token_time = clock_->Now();
    SequenceUpdate u;
    u.id = seq->id;
    u.token_id = r.token_id;
    u.logprob = r.logprob;
    u.top_logprobs = r.top_logprobs;
    u.num_output = seq->num_output();
    const auto& stops = seq->request.stop_token_ids;
    if (std::find(stops.begin(), stops.end(), r.token_id) != stops.end()) {
      u.finish = FinishReason::kStop;
    } else if (static_cast<int>(seq->tokens.size()) >= seq->max_len) {
      u.finish = FinishReason::kLength;  // max_tokens or the context length
    }
    if (u.finish != FinishReason::kNone) status.Update(Drop(seq));
    updates.push_back(std::move(u));
  }
  in_flight_.pop_front();
  GPTOSS_RETURN_IF_ERROR(status);
  return updates;
}

std::vector<FinishedSequence> Scheduler::AbortStep(uint64_t step_id, const absl::Status& error) {
  std::vector<FinishedSequence> finished;
  if (in_flight_.empty() || in_flight_.front().step_id != step_id) return finished;
  for (SequenceId id : in_flight_.front().scheduled) {
    auto it = sequences_.find(id);
    if (it == sequences_.end()) continue;
    finished.push_back({id, FinishReason::kError, std::string(error.message())});
    Drop(it->second.get()).IgnoreError();  // block bookkeeping errors cannot be reported better
  }
  in_flight_.pop_front();
  return finished;
}

}  // namespace gptoss
