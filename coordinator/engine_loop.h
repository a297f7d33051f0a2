// EngineLoop: the coordinator's single engine thread. It owns the Scheduler and drives the
// steps: Schedule() → StepRunner::Launch (the WorkerPool sends the plan to every rank) →
// StepRunner::Collect (joins the ranks' results) → Scheduler::OnStepResult → every sampled token
// goes to its request's RequestObserver (which streams it to the client).
// Contract:
//  - Submit() is admission: it returns at once with the sequence id, or INVALID_ARGUMENT (the
//    scheduler's length/id checks), RESOURCE_EXHAUSTED (waiting queue full), UNAVAILABLE (no
//    ready workers, or draining). Thread-safe.
//  - Cancel() is thread-safe and idempotent; the scheduler frees the sequence's KV blocks at its
//    next Schedule(), i.e. within one engine step, and the observer then gets OnEnded(kCancelled).
//  - Every submitted request gets exactly one ending: a token with finish != kNone, a token for
//    which OnToken() returned true (stop string), or OnEnded(). Observers are called from one
//    delivery thread, in token order, never under the engine's lock (so an observer may call
//    Cancel()), and must not block.
//  - Overlap of steps (EngineOptions::overlap, the default): step N+1 is planned and launched
//    as soon as step N is, before N's tokens are back; the workers feed the token they sampled
//    in N to N+1 themselves (kLastSampled), so the next plan waits in their stream while they
//    compute, and the coordinator applies N's results, streams them and plans N+2 while N+1
//    runs. A stop token is then seen one step late, a stop string found by an observer up to
//    two: the sequence's extra tokens are computed and dropped, never delivered. Outputs are
//    the same with overlap on or off (sampling draws depend on the request's seed and the
//    token's index only).
//  - Overlap of streaming: the engine thread hands each step's tokens and endings to the
//    delivery thread and goes on to plan and run the next step, so streaming to clients
//    (detokenizing, harmony parsing, writes) runs while the workers compute; it waits for a
//    step's deliveries to be done before handing over the next step's, so at most one step is
//    outstanding. A stop string found by an observer is applied at the next Schedule(): it
//    wastes at most one step of that sequence one step at a time (two with overlap), whose
//    extra tokens are never delivered.
//  - A failed step ends the sequences it carried with kError; the step launched behind it is
//    collected before anything new is planned (a sequence of both fails with it, as the
//    workers cannot feed back a token the failed step never sampled). If the runner is no
//    longer ready afterwards (a worker died), every live request ends with kError: their KV
//    cache is gone.
//  - Drain(grace) stops admission, waits up to `grace` for live requests to end, then ends the
//    rest with kCancelled. Stop() ends the thread (after Drain, or abruptly).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/scheduler/clock.h"
#include "coordinator/scheduler/scheduler.h"
#include "worker/common/step_plan.h"

namespace gptoss {

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // One sampled token. update.finish != kNone: this token ended the request (stop id,
  // max_tokens, context length). Returns true to end the request here (a stop string matched);
  // either way the observer has then sent its final message.
  virtual bool OnToken(const SequenceUpdate& update) = 0;
  // The request ended without a token: kCancelled (client cancel, deadline, drain) or kError.
  virtual void OnEnded(FinishReason reason, const absl::Status& error) = 0;
};

// Executes steps on the workers (WorkerPool; a fake in tests), in the order they are launched.
class StepRunner {
 public:
  virtual ~StepRunner() = default;
  virtual bool ready() const = 0;
  // Sends a step to every rank without waiting for it. An error: it was not sent.
  virtual absl::Status Launch(const StepPlan& plan) = 0;
  // Rank 0's result of the oldest launched step not collected yet. An error means that step
  // did not run on every rank.
  virtual absl::StatusOr<StepResult> Collect() = 0;

  absl::StatusOr<StepResult> RunStep(const StepPlan& plan) {
    if (absl::Status launched = Launch(plan); !launched.ok()) return launched;
    return Collect();
  }
};

// A StepRunner whose steps run one at a time, each when it is collected (fakes in tests and
// benchmarks). Not thread-safe (the engine thread calls it).
class SyncStepRunner : public StepRunner {
 public:
  absl::Status Launch(const StepPlan& plan) override {
    launched_.push_back(plan);
    return absl::OkStatus();
  }
  absl::StatusOr<StepResult> Collect() override {
    if (launched_.empty()) return absl::FailedPreconditionError("no step was launched");
    const StepPlan plan = std::move(launched_.front());
    launched_.pop_front();
    return Run(plan);
  }

 protected:
  virtual absl::StatusOr<StepResult> Run(const StepPlan& plan) = 0;

 private:
  std::deque<StepPlan> launched_;
};

class ServingMetrics;  // coordinator/serving_metrics.h

struct EngineOptions {
  // One line per step (and per cancel) on stderr; the e2e tests check KV accounting with it.
  bool log_steps = false;
  // Request, step and scheduler metrics are recorded here when set (outside the engine's lock).
  ServingMetrics* metrics = nullptr;
  // Plan and launch step N+1 before step N's tokens are back (see above). Off: one step at a
  // time (`gptoss serve --no-overlap`), for comparison.
  bool overlap = true;
};

class EngineLoop {
 public:
  static absl::StatusOr<std::unique_ptr<EngineLoop>> Create(const SchedulerConfig& config,
                                                            StepRunner* runner,
                                                            EngineOptions options = {});
  ~EngineLoop();

  void Start();
  absl::StatusOr<SequenceId> Submit(SequenceRequest request,
                                    std::shared_ptr<RequestObserver> observer);
  void Cancel(SequenceId id);
  void Drain(absl::Duration grace);
  void Stop();

  int num_live() const;
  bool draining() const;
  SchedulerStats stats() const;
  const SchedulerConfig& config() const { return config_; }

 private:
  using Time = std::chrono::steady_clock::time_point;
  struct Entry {
    std::shared_ptr<RequestObserver> observer;
    absl::Status error;  // why it is being ended with kError
    Time submitted{}, scheduled{}, first_token{}, last_token{};
  };
  // What the engine observed under its lock, recorded into the metrics after it (so that no
  // metric is ever recorded under the engine's lock).
  struct Observations {
    std::vector<double> queued;
    std::vector<std::pair<double, double>> first_tokens;  // ttft, prefill
    std::vector<double> gaps;
    struct End {
      FinishReason reason;
      double e2e_s;
      std::optional<double> decode_s;
    };
    std::vector<End> ended;
    void Record(ServingMetrics* metrics);
  };
  struct Ending {
    SequenceId id;
    std::shared_ptr<RequestObserver> observer;
    FinishReason reason;
    absl::Status error;
  };

  // A step sent to the workers whose result has not been applied yet.
  struct Launched {
    ScheduledStep step;
    absl::Status error;  // Launch failed: the step never ran
    Time at{};
    bool after_idle = false;  // planned after the engine had nothing to do
  };

  EngineLoop(const SchedulerConfig& config, StepRunner* runner, EngineOptions options);
  void Loop();
  // Plans the next step and launches it (true), or finds nothing to run (false); either way
  // delivers the endings the plan produced.
  bool PlanAndLaunch(std::deque<Launched>& launched);
  // Waits for the oldest launched step, applies its result and hands its tokens and endings to
  // the delivery thread.
  void CollectOldest(std::deque<Launched>& launched);
  // One observer call: a token (`token` set) or an ending.
  struct Delivery {
    SequenceId id = 0;
    std::shared_ptr<RequestObserver> observer;
    std::optional<SequenceUpdate> token;
    FinishReason reason = FinishReason::kNone;
    absl::Status error;
  };
  // Queues observer calls for the delivery thread, in order.
  void Deliver(std::vector<Delivery> deliveries);
  void DeliveryLoop();
  // Runs the queued calls (the delivery thread, or Stop() after it ended).
  void RunDeliveries(std::vector<Delivery>& batch);
  // Under mu_: observers of sequences the scheduler reported finished, removed from entries_.
  void CollectEndings(const std::vector<FinishedSequence>& finished, std::vector<Ending>& out);
  // Under mu_: the timing of an entry that ends now / of a token it received now.
  void ObserveEnd(const Entry& entry, FinishReason reason, Time now);
  void ObserveToken(Entry& entry, Time now);
  // Engine thread, without mu_: records what was observed, and the scheduler's gauges, into
  // options_.metrics.
  void FlushObservations();
  // Engine thread, without mu_: hands `endings` to the delivery thread (and clears them).
  void DeliverEndings(std::vector<Ending>& endings);
  // Under mu_: ends every live request with kError (the workers lost their state).
  void FailAllLocked(const absl::Status& error);
  // step_s: the step's own time (see CollectOldest); result: every rank's forward,
  // communication and idle figures; coordinator_s: the engine thread's busy time per step (not
  // waiting for a result).
  void LogStep(const ScheduledStep& step, const SchedulerStats& stats, double step_s,
               const StepResult* result, double coordinator_s) const;

  const SchedulerConfig config_;
  StepRunner* const runner_;
  const EngineOptions options_;
  SystemClock clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // work arrived, or a request ended (Drain waits on it)
  std::unique_ptr<Scheduler> scheduler_;
  absl::flat_hash_map<SequenceId, Entry> entries_;
  bool draining_ = false;
  bool stop_ = false;
  std::vector<SequenceId> pending_frees_;  // engine thread only: frees of plans that ran nothing
  Time busy_since_{};  // engine thread only: when it last stopped waiting (for work or a result)
  Time last_collected_{};  // engine thread only: when the last step's result came back
  bool after_idle_ = false;  // engine thread only: it had nothing to do since the last launch
  bool settling_ = false;    // engine thread only: a step failed; collect the rest first
  Observations observed_;                  // under mu_; flushed by the engine thread
  std::thread thread_;

  std::mutex delivery_mu_;  // never held with mu_ (lock order: mu_ is never taken inside it)
  std::condition_variable delivery_cv_;
  std::vector<Delivery> deliveries_;  // queued, in order
  bool delivery_stop_ = false;
  bool delivering_ = false;  // the delivery thread is running a batch
  // Delivery thread: sequences an observer stopped (stop string) in this batch and the one
  // before. What the engine queued for them before the stop took effect is dropped; after the
  // batch that follows the stop nothing more for them can come (their entry is gone).
  std::vector<SequenceId> stopped_now_, stopped_before_;
  std::thread delivery_thread_;
};

}  // namespace gptoss
