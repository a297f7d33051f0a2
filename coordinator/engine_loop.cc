#include "coordinator/engine_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "coordinator/serving_metrics.h"
#include "kernels/core/status.h"

namespace gptoss {

absl::StatusOr<std::unique_ptr<EngineLoop>> EngineLoop::Create(const SchedulerConfig& config,
                                                               StepRunner* runner,
                                                               EngineOptions options) {
  if (runner == nullptr) return absl::InvalidArgumentError("engine loop needs a step runner");
  std::unique_ptr<EngineLoop> loop(new EngineLoop(config, runner, options));
  GPTOSS_ASSIGN_OR_RETURN(loop->scheduler_, Scheduler::Create(config, &loop->clock_));
  return loop;
}

EngineLoop::EngineLoop(const SchedulerConfig& config, StepRunner* runner, EngineOptions options)
    : config_(config), runner_(runner), options_(options) {}

EngineLoop::~EngineLoop() { Stop(); }

void EngineLoop::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stop_) return;
  delivery_thread_ = std::thread([this] { DeliveryLoop(); });
  thread_ = std::thread([this] { Loop(); });
}

void EngineLoop::Deliver(std::vector<Delivery> deliveries) {
  if (deliveries.empty()) return;
  std::unique_lock<std::mutex> lock(delivery_mu_);
  // At most one step's deliveries are ever outstanding: the previous step's streaming overlaps
  // this step's compute, and a stop string is applied at most one step late.
  delivery_cv_.wait(lock, [&] { return (deliveries_.empty() && !delivering_) || delivery_stop_; });
  for (Delivery& d : deliveries) deliveries_.push_back(std::move(d));
  delivery_cv_.notify_all();
}

void EngineLoop::DeliveryLoop() {
  std::vector<Delivery> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(delivery_mu_);
      delivering_ = false;
      delivery_cv_.notify_all();
      delivery_cv_.wait(lock, [&] { return delivery_stop_ || !deliveries_.empty(); });
      if (deliveries_.empty()) return;  // stopping, and everything was delivered
      batch.swap(deliveries_);
      delivering_ = true;
    }
    RunDeliveries(batch);
    batch.clear();
  }
}

void EngineLoop::RunDeliveries(std::vector<Delivery>& batch) {
  auto stopped = [&](SequenceId id) {
    return std::find(stopped_now_.begin(), stopped_now_.end(), id) != stopped_now_.end() ||
           std::find(stopped_before_.begin(), stopped_before_.end(), id) !=
               stopped_before_.end();
  };
  for (Delivery& d : batch) {
    if (stopped(d.id)) continue;  // its observer already ended it (stop string)
    if (!d.token) {
      d.observer->OnEnded(d.reason, d.error);
      continue;
    }
    const bool stop = d.observer->OnToken(*d.token);
    if (stop && d.token->finish == FinishReason::kNone) {  // a stop string: end it here
      stopped_now_.push_back(d.id);
      std::lock_guard<std::mutex> lock(mu_);
      scheduler_->Finish(d.id, FinishReason::kStop).IgnoreError();
      if (auto it = entries_.find(d.id); it != entries_.end()) {
        ObserveEnd(it->second, FinishReason::kStop, std::chrono::steady_clock::now());
        entries_.erase(it);
      }
      cv_.notify_all();
    }
  }
  stopped_before_ = std::move(stopped_now_);
  stopped_now_.clear();
}

absl::StatusOr<SequenceId> EngineLoop::Submit(SequenceRequest request,
                                              std::shared_ptr<RequestObserver> observer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_ || stop_) return absl::UnavailableError("server is shutting down");
  if (!runner_->ready()) return absl::UnavailableError("no workers are ready");
  const int prompt_tokens = static_cast<int>(request.prompt.size());
  GPTOSS_ASSIGN_OR_RETURN(SequenceId id, scheduler_->Add(std::move(request)));
  Entry& entry = entries_[id];
  entry.observer = std::move(observer);
  entry.submitted = std::chrono::steady_clock::now();
  if (options_.metrics) options_.metrics->Admitted(prompt_tokens);
  cv_.notify_all();
  return id;
}

void EngineLoop::Cancel(SequenceId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!entries_.contains(id)) return;  // already ended
  if (options_.log_steps)
    std::fprintf(stderr, "engine: cancel seq=%llu\n", static_cast<unsigned long long>(id));
  scheduler_->Cancel(id).IgnoreError();  // NotFound: it finished meanwhile
  cv_.notify_all();
}

int EngineLoop::num_live() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(entries_.size());
}

bool EngineLoop::draining() const {
  std::lock_guard<std::mutex> lock(mu_);
  return draining_;
}

SchedulerStats EngineLoop::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return scheduler_->stats();
}

void EngineLoop::Drain(absl::Duration grace) {
  std::unique_lock<std::mutex> lock(mu_);
  draining_ = true;
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(grace);
  cv_.wait_until(lock, deadline, [&] { return entries_.empty() || stop_; });
  if (entries_.empty() || stop_ || !thread_.joinable()) return;
  // Grace is over: the rest end as cancelled by the server (FINISH_REASON_CANCELLED).
  for (auto& [id, entry] : entries_) scheduler_->Finish(id, FinishReason::kCancelled).IgnoreError();
  cv_.notify_all();
  cv_.wait_for(lock, std::chrono::seconds(10), [&] { return entries_.empty() || stop_; });
}

void EngineLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  // What the engine handed over is delivered first (final messages of finished requests).
  {
    std::lock_guard<std::mutex> lock(delivery_mu_);
    delivery_stop_ = true;
    delivery_cv_.notify_all();
  }
  if (delivery_thread_.joinable()) delivery_thread_.join();
  // Anyone still live (an abrupt stop) hears about it: their streams must end.
  std::vector<Delivery> endings;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, entry] : entries_)
      endings.push_back(
          {id, entry.observer, std::nullopt, FinishReason::kCancelled, absl::OkStatus()});
    entries_.clear();
  }
  {
    std::lock_guard<std::mutex> lock(delivery_mu_);
    endings.insert(endings.begin(), std::make_move_iterator(deliveries_.begin()),
                   std::make_move_iterator(deliveries_.end()));
    deliveries_.clear();
  }
  RunDeliveries(endings);
}

void EngineLoop::ObserveEnd(const Entry& entry, FinishReason reason, Time now) {
  if (!options_.metrics) return;
  std::optional<double> decode;
  if (entry.first_token != Time{})
    decode = std::chrono::duration<double>(now - entry.first_token).count();
  observed_.ended.push_back(
      {reason, std::chrono::duration<double>(now - entry.submitted).count(), decode});
}

void EngineLoop::ObserveToken(Entry& entry, Time now) {
  if (options_.metrics) {
    if (entry.first_token == Time{}) {
      const Time scheduled = entry.scheduled != Time{} ? entry.scheduled : entry.submitted;
      observed_.first_tokens.emplace_back(
          std::chrono::duration<double>(now - entry.submitted).count(),
          std::chrono::duration<double>(now - scheduled).count());
    } else {
      observed_.gaps.push_back(std::chrono::duration<double>(now - entry.last_token).count());
    }
  }
  if (entry.first_token == Time{}) entry.first_token = now;
  entry.last_token = now;
}

void EngineLoop::FlushObservations() {
  Observations observed;
  SchedulerStats stats;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::swap(observed, observed_);
    stats = scheduler_->stats();
  }
  observed.Record(options_.metrics);
  options_.metrics->Scheduler(stats, config_.kv.num_full_blocks, config_.kv.num_sliding_blocks);
}

void EngineLoop::Observations::Record(ServingMetrics* metrics) {
  if (metrics) {
    for (double q : queued) metrics->Queued(q);
    for (const auto& [ttft, prefill] : first_tokens) metrics->FirstToken(ttft, prefill);
    for (double g : gaps) metrics->NextToken(g);
    for (const End& e : ended) metrics->Finished(e.reason, e.e2e_s, e.decode_s);
  }
  queued.clear(), first_tokens.clear(), gaps.clear(), ended.clear();
}

void EngineLoop::CollectEndings(const std::vector<FinishedSequence>& finished,
                                std::vector<Ending>& out) {
  const Time now = std::chrono::steady_clock::now();
  for (const FinishedSequence& f : finished) {
    auto it = entries_.find(f.id);
    if (it == entries_.end()) continue;  // already ended (stop string)
    ObserveEnd(it->second, f.reason, now);
    absl::Status error = it->second.error;
    if (f.reason == FinishReason::kError && error.ok())
      error = absl::InternalError(f.message.empty() ? "step failed" : f.message);
    out.push_back({f.id, std::move(it->second.observer), f.reason, std::move(error)});
    entries_.erase(it);
  }
  if (!out.empty()) cv_.notify_all();
}

void EngineLoop::DeliverEndings(std::vector<Ending>& endings) {
  std::vector<Delivery> out;
  for (Ending& e : endings)
    out.push_back({e.id, std::move(e.observer), std::nullopt, e.reason, e.error});
  endings.clear();
  Deliver(std::move(out));
}

void EngineLoop::FailAllLocked(const absl::Status& error) {
  for (auto& [id, entry] : entries_) {
    entry.error = error;
    scheduler_->Finish(id, FinishReason::kError).IgnoreError();
  }
}

void EngineLoop::LogStep(const ScheduledStep& step, const SchedulerStats& s, double step_s,
                         const StepResult* result, double coordinator_s) const {
  // Per rank: forward (comm) milliseconds and kilobytes sent, "r0=1.2(0.4)/12KB r1=...".
  std::vector<std::string> ranks;
  // The longest any rank was idle before this step, and waited for its plan.
  double idle_s = 0.0, wait_s = 0.0;
  if (result != nullptr)
    for (size_t r = 0; r < result->ranks.size(); ++r) {
      const RankStepTime& t = result->ranks[r];
      idle_s = std::max(idle_s, t.idle_time_s);
      wait_s = std::max(wait_s, t.plan_wait_s);
      ranks.push_back(absl::StrFormat("r%zu=%.1f(%.1f)/%.0fKB", r, t.forward_time_s * 1e3,
                                      t.comm_time_s * 1e3, t.comm_bytes / 1024.0));
    }
  int fed_back = 0;  // entries feeding back the token of the step before (overlap)
  for (const SequenceStep& e : step.plan.sequences)
    fed_back += e.feeds_back();
  std::vector<std::string> ended;
  for (const FinishedSequence& f : step.finished)
    ended.push_back(absl::StrCat(f.id, ":", std::string(FinishReasonName(f.reason))));
  std::fprintf(stderr,
               "engine: step=%llu seqs=%zu prefill=%d decode=%d fed_back=%d ended=[%s] "
               "preempted=%zu "
               "running=%d waiting=%d free_full=%d/%d free_sliding=%d/%d time_ms=%.3f "
               "worker_ms=%.3f coordinator_ms=%.3f idle_ms=%.3f wait_ms=%.3f ranks=[%s]\n",
               static_cast<unsigned long long>(step.plan.step_id), step.plan.sequences.size(),
               step.num_prefill_tokens, step.num_decode_tokens, fed_back,
               absl::StrJoin(ended, ",").c_str(),
               step.preempted.size(), s.num_running, s.num_waiting, s.free_full_blocks,
               config_.kv.num_full_blocks, s.free_sliding_blocks, config_.kv.num_sliding_blocks,
               step_s * 1e3, result ? result->forward_time_s * 1e3 : 0.0, coordinator_s * 1e3,
               idle_s * 1e3, wait_s * 1e3,
               absl::StrJoin(ranks, " ").c_str());
}

void EngineLoop::Loop() {
  const size_t depth = options_.overlap ? Scheduler::kMaxInFlight : 1;
  std::deque<Launched> launched;
  while (true) {
    // After a failed step, the steps launched behind it are collected before anything new is
    // planned: they may feed back tokens the failed step never sampled and then fail in turn,
    // and so would a new plan continuing a sequence they admitted.
    if (settling_) {
      if (!launched.empty()) {
        CollectOldest(launched);
        continue;
      }
      settling_ = false;
    }
    bool launched_now = false;
    if (launched.size() < depth) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (launched.empty()) {
          after_idle_ = after_idle_ || scheduler_->idle();
          cv_.wait(lock, [&] { return stop_ || !scheduler_->idle(); });
          busy_since_ = std::chrono::steady_clock::now();  // idle time is nobody's overhead
        }
        if (stop_) return;  // Stop() ends whoever is still live, in flight or not
      }
      launched_now = PlanAndLaunch(launched);
    }
    if (launched.empty()) {
      // Nothing runnable. Should the scheduler still hold work it cannot place, do not spin.
      std::unique_lock<std::mutex> lock(mu_);
      if (!scheduler_->idle() && !stop_) cv_.wait_for(lock, std::chrono::milliseconds(5));
      after_idle_ = true;
      continue;
    }
    // With overlap, the next step is planned and sent while this one runs.
    if (launched_now && launched.size() < depth) continue;
    CollectOldest(launched);
  }
}

bool EngineLoop::PlanAndLaunch(std::deque<Launched>& launched) {
  ScheduledStep step;
  std::vector<Ending> endings;
  {
    std::unique_lock<std::mutex> lock(mu_);
    const Time now = std::chrono::steady_clock::now();
    absl::StatusOr<ScheduledStep> scheduled = scheduler_->Schedule();
    if (!scheduled.ok()) {
      // A scheduler invariant broke: nothing sane can run. Fail everyone, keep serving.
      std::fprintf(stderr, "engine: schedule failed: %s\n",
                   std::string(scheduled.status().message()).c_str());
      FailAllLocked(
          absl::InternalError(absl::StrCat("scheduler failed: ", scheduled.status().message())));
      for (auto& [id, entry] : entries_)
        endings.push_back({id, entry.observer, FinishReason::kError, entry.error});
      entries_.clear();
      cv_.notify_all();
    } else {
      step = std::move(*scheduled);
      CollectEndings(step.finished, endings);
      for (const SequenceStep& s : step.plan.sequences) {
        auto it = entries_.find(s.sequence_id);
        if (it == entries_.end() || it->second.scheduled != Time{}) continue;
        it->second.scheduled = now;
        if (options_.metrics)
          observed_.queued.push_back(
              std::chrono::duration<double>(now - it->second.submitted).count());
      }
      // Steps that run are logged after they ran; a plan that only ends sequences now.
      if (options_.log_steps && step.plan.sequences.empty() && !step.finished.empty())
        LogStep(step, scheduler_->stats(), 0.0, nullptr, 0.0);
    }
  }
  DeliverEndings(endings);
  if (options_.metrics) FlushObservations();

  pending_frees_.insert(pending_frees_.end(), step.plan.free_sequence_ids.begin(),
                        step.plan.free_sequence_ids.end());
  // A plan that runs nothing keeps its frees for the next one: step ids must increase, and a
  // worker forgets a sequence just as well one step later.
  if (step.plan.sequences.empty()) return false;
  step.plan.free_sequence_ids = std::move(pending_frees_);
  pending_frees_.clear();
  Launched& l = launched.emplace_back();
  l.step = std::move(step);
  l.at = std::chrono::steady_clock::now();
  l.after_idle = after_idle_;
  after_idle_ = false;
  l.error = runner_->Launch(l.step.plan);
  return true;
}

void EngineLoop::CollectOldest(std::deque<Launched>& launched) {
  Launched& l = launched.front();
  const Time wait_start = std::chrono::steady_clock::now();
  absl::StatusOr<StepResult> result = l.error.ok() ? runner_->Collect() : l.error;
  const Time collected = std::chrono::steady_clock::now();
  if (result.ok() && l.after_idle) {
    // The workers stood idle before it because there was nothing to do: not overhead.
    for (RankStepTime& t : result->ranks) t.idle_time_s = t.plan_wait_s = 0.0;
  }
  // The step's own time: from its launch, or from the previous step's result if it was
  // launched before that (it waited in the workers' streams behind it).
  const double step_s =
      std::chrono::duration<double>(collected - std::max(l.at, last_collected_)).count();
  last_collected_ = collected;
  const double busy_s = std::chrono::duration<double>(wait_start - busy_since_).count();

  std::vector<std::pair<std::shared_ptr<RequestObserver>, SequenceUpdate>> tokens;
  std::vector<Ending> endings;
  SchedulerStats stats;
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::Status failure = result.status();
    if (result.ok()) {
      absl::StatusOr<std::vector<SequenceUpdate>> updates = scheduler_->OnStepResult(*result);
      if (updates.ok()) {
        const Time now = std::chrono::steady_clock::now();
        for (SequenceUpdate& u : *updates) {
          auto it = entries_.find(u.id);
          if (it == entries_.end()) continue;
          ObserveToken(it->second, now);
          tokens.emplace_back(it->second.observer, std::move(u));
          if (tokens.back().second.finish != FinishReason::kNone) {
            ObserveEnd(it->second, tokens.back().second.finish, now);
            entries_.erase(it);
          }
        }
        if (!tokens.empty()) cv_.notify_all();
      } else {
        failure = absl::InternalError(
            absl::StrCat("workers returned an unusable result: ", updates.status().message()));
      }
    }
    if (!failure.ok()) {
      std::fprintf(stderr, "engine: step %llu failed: %s\n",
                   static_cast<unsigned long long>(l.step.plan.step_id),
                   std::string(failure.message()).c_str());
      // A failure ends the step's sequences (if OnStepResult did not take the result). A step
      // launched after it that fed back one of their tokens fails on the workers in turn.
      settling_ = true;
      if (scheduler_->step_in_flight()) {
        std::vector<FinishedSequence> aborted =
            scheduler_->AbortStep(l.step.plan.step_id, failure);
        for (const FinishedSequence& f : aborted) {
          if (auto it = entries_.find(f.id); it != entries_.end()) it->second.error = failure;
        }
        CollectEndings(aborted, endings);
      }
      if (!runner_->ready()) FailAllLocked(failure);
    }
    stats = scheduler_->stats();
  }
  // The step's tokens, then its endings, go to the delivery thread; the next step runs now.
  std::vector<Delivery> out;
  out.reserve(tokens.size() + endings.size());
  for (auto& [observer, update] : tokens) {
    const SequenceId id = update.id;
    out.push_back({id, std::move(observer), std::move(update), FinishReason::kNone,
                   absl::OkStatus()});
  }
  for (Ending& e : endings)
    out.push_back({e.id, std::move(e.observer), std::nullopt, e.reason, e.error});
  endings.clear();
  Deliver(std::move(out));
  // The engine's busy time per step: planning and launching since it last waited, and applying
  // this result. Not waiting for workers, so with overlap it runs while they compute.
  const double coordinator_s =
      busy_s + std::chrono::duration<double>(std::chrono::steady_clock::now() - collected).count();
  if (options_.metrics) {
    FlushObservations();
    options_.metrics->Step(coordinator_s, step_s, result.ok() ? &*result : nullptr);
  }
  if (options_.log_steps)
    LogStep(l.step, stats, step_s, result.ok() ? &*result : nullptr, coordinator_s);
  launched.pop_front();
  busy_since_ = std::chrono::steady_clock::now();
}

}  // namespace gptoss
