// ServingMetrics: the coordinator's Prometheus metrics (worker/common/metrics.h has the
// conventions). Who records what:
//  - InferenceService / the serving calls: gptoss_requests_total{rpc, code} when a call ends
//    (the gRPC code, so errors by code are the non-OK series).
//  - EngineLoop (engine thread, outside its lock): per request the queue, prefill, time to first
//    token, inter-token, decode and end-to-end times and its finish reason; prompt and
//    generation tokens (generation tokens counted = tokens streamed); per step the phases and
//    every rank's forward and communication figures; the scheduler's gauges.
//  - WorkerPool: workers registered and ready.
// Thread-safe (prometheus-cpp metrics are).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler/scheduler.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "worker/common/step_plan.h"

namespace gptoss {

class ServingMetrics {
 public:
  explicit ServingMetrics(std::shared_ptr<prometheus::Registry> registry);
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // One rpc ended with `status` (rpc: the method name, e.g. "Generate").
  void RpcEnded(const std::string& rpc, const grpc::Status& status);

  // Requests, from the engine.
  // cached_tokens: prompt tokens served from a prefix cache (the engine has none yet: 0, as
  // FinalInfo.usage.cached_tokens says).
  void Admitted(int prompt_tokens, int cached_tokens = 0);
  void Queued(double seconds);        // admission -> first scheduled
  void FirstToken(double ttft_s, double prefill_s);
  void NextToken(double gap_s);       // between two tokens of one request
  void Finished(FinishReason reason, double e2e_s, std::optional<double> decode_s);

  // One engine step: schedule_s (the engine thread's busy time per step), run_s (the step's
  // own time on the coordinator's clock: its result minus its launch, or minus the previous
  // step's result when it was launched before that), and every rank's figures (their idle time
  // is the `idle` phase: the workers waiting for the plan).
  void Step(double schedule_s, double run_s, const StepResult* result);
  void Scheduler(const SchedulerStats& stats, int full_blocks, int sliding_blocks);

  void Workers(int registered, int ready);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* finished_;
  prometheus::Counter *prompt_tokens_, *cached_tokens_, *generation_tokens_, *preemptions_,
      *steps_;
  prometheus::Histogram *queue_, *ttft_, *prefill_, *itl_, *decode_, *e2e_;
  prometheus::Family<prometheus::Histogram>* phase_;
  prometheus::Family<prometheus::Histogram>* rank_forward_;
  prometheus::Family<prometheus::Histogram>* rank_comm_;
  prometheus::Family<prometheus::Counter>* rank_bytes_;
  prometheus::Gauge *running_, *waiting_, *full_used_, *sliding_used_, *full_total_,
      *sliding_total_, *full_ratio_, *sliding_ratio_, *registered_, *ready_;
  uint64_t preemptions_seen_ = 0;  // engine thread
};

}  // namespace gptoss
