#include "coordinator/serving_metrics.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "worker/common/metrics.h"
#include "worker/common/status_mapping.h"

namespace gptoss {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// gRPC's names of its codes (what a dashboard shows, e.g. RESOURCE_EXHAUSTED).
std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",           "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",     "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",    "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",          "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

}  // namespace

ServingMetrics::ServingMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {
  prometheus::Registry& r = *registry_;
  requests_ = &BuildCounter()
                   .Name("gptoss_requests_total")
                   .Help("Inference rpcs ended, by method and gRPC status code")
                   .Register(r);
  finished_ = &BuildCounter()
                   .Name("gptoss_requests_finished_total")
                   .Help("Generation requests ended by the engine, by finish reason")
                   .Register(r);
  prompt_tokens_ = &BuildCounter()
                        .Name("gptoss_prompt_tokens_total")
                        .Help("Prompt tokens of admitted requests")
                        .Register(r)
                        .Add({});
  cached_tokens_ = &BuildCounter()
                       .Name("gptoss_cached_prompt_tokens_total")
                       .Help("Prompt tokens served from a prefix cache (none yet: stays 0)")
                       .Register(r)
                       .Add({});
  generation_tokens_ = &BuildCounter()
                            .Name("gptoss_generation_tokens_total")
                            .Help("Tokens generated and streamed to clients")
                            .Register(r)
                            .Add({});
  preemptions_ = &BuildCounter()
                      .Name("gptoss_preemptions_total")
                      .Help("Sequences preempted (KV blocks reclaimed, recomputed later)")
                      .Register(r)
                      .Add({});
  steps_ = &BuildCounter()
                .Name("gptoss_engine_steps_total")
                .Help("Engine steps run on the workers")
                .Register(r)
                .Add({});
  auto request_histogram = [&](const char* name, const char* help) {
    return &BuildHistogram().Name(name).Help(help).Register(r).Add({}, metrics::RequestBuckets());
  };
  queue_ = request_histogram("gptoss_request_queue_seconds",
                             "Admission to the first step that schedules the request");
  ttft_ = request_histogram("gptoss_time_to_first_token_seconds",
                            "Admission to the first generated token");
  prefill_ = request_histogram("gptoss_request_prefill_seconds",
                               "First scheduled to first token (the prompt's prefill)");
  decode_ = request_histogram("gptoss_request_decode_seconds", "First token to the request's end");
  e2e_ = request_histogram("gptoss_request_duration_seconds",
                           "Admission to the end of the request");
  itl_ = &BuildHistogram()
              .Name("gptoss_inter_token_latency_seconds")
              .Help("Gap between two consecutive tokens of one request")
              .Register(r)
              .Add({}, metrics::StepBuckets());
  phase_ = &BuildHistogram()
                .Name("gptoss_step_phase_seconds")
                .Help("One engine step split into phases: schedule (the coordinator's own "
                      "work), fanout (plan out, results back), forward (rank 0's compute), "
                      "communication (rank 0 inside collectives)")
                .Register(r);
  rank_forward_ = &BuildHistogram()
                       .Name("gptoss_rank_forward_seconds")
                       .Help("One step on one worker rank, communication included")
                       .Register(r);
  rank_comm_ = &BuildHistogram()
                    .Name("gptoss_rank_communication_seconds")
                    .Help("One step's time inside collectives on one worker rank")
                    .Register(r);
  rank_bytes_ = &BuildCounter()
                     .Name("gptoss_rank_communication_bytes_total")
                     .Help("Bytes one worker rank sent to the other ranks")
                     .Register(r);
  auto& sequences = BuildGauge()
                        .Name("gptoss_sequences")
                        .Help("Sequences the scheduler holds, by state")
                        .Register(r);
  running_ = &sequences.Add({{"state", "running"}});
  waiting_ = &sequences.Add({{"state", "waiting"}});
  auto& used = BuildGauge()
                   .Name("gptoss_kv_cache_used_blocks")
                   .Help("KV cache blocks in use, by pool (full / sliding-window layers)")
                   .Register(r);
  full_used_ = &used.Add({{"pool", "full"}});
  sliding_used_ = &used.Add({{"pool", "sliding"}});
  auto& total = BuildGauge()
                    .Name("gptoss_kv_cache_blocks")
                    .Help("KV cache blocks per rank, by pool")
                    .Register(r);
  full_total_ = &total.Add({{"pool", "full"}});
  sliding_total_ = &total.Add({{"pool", "sliding"}});
  auto& ratio = BuildGauge()
                    .Name("gptoss_kv_cache_usage_ratio")
                    .Help("Fraction of the KV cache blocks in use, by pool")
                    .Register(r);
  full_ratio_ = &ratio.Add({{"pool", "full"}});
  sliding_ratio_ = &ratio.Add({{"pool", "sliding"}});
  auto& workers = BuildGauge()
                      .Name("gptoss_workers")
                      .Help("Worker ranks registered for the world forming or serving, and "
                            "ready (serving)")
                      .Register(r);
  registered_ = &workers.Add({{"state", "registered"}});
  ready_ = &workers.Add({{"state", "ready"}});
}

void ServingMetrics::RpcEnded(const std::string& rpc, const grpc::Status& status) {
  requests_->Add({{"rpc", rpc}, {"code", CodeName(status.error_code())}}).Increment();
}

void ServingMetrics::Admitted(int prompt_tokens, int cached_tokens) {
  prompt_tokens_->Increment(prompt_tokens);
  cached_tokens_->Increment(cached_tokens);
}
void ServingMetrics::Queued(double seconds) { queue_->Observe(seconds); }

void ServingMetrics::FirstToken(double ttft_s, double prefill_s) {
  ttft_->Observe(ttft_s);
  prefill_->Observe(prefill_s);
  generation_tokens_->Increment();
}

void ServingMetrics::NextToken(double gap_s) {
  itl_->Observe(gap_s);
  generation_tokens_->Increment();
}

void ServingMetrics::Finished(FinishReason reason, double e2e_s, std::optional<double> decode_s) {
  finished_->Add({{"finish_reason", std::string(FinishReasonName(reason))}}).Increment();
  e2e_->Observe(e2e_s);
  if (decode_s) decode_->Observe(*decode_s);
}

void ServingMetrics::Step(double schedule_s, double run_s, const StepResult* result) {
  steps_->Increment();
  const auto buckets = metrics::StepBuckets();
  phase_->Add({{"phase", "schedule"}}, buckets).Observe(std::max(0.0, schedule_s));
  if (result == nullptr) return;
  const double forward = result->forward_time_s, comm = result->comm_time_s;
  phase_->Add({{"phase", "fanout"}}, buckets).Observe(std::max(0.0, run_s - forward));
  phase_->Add({{"phase", "forward"}}, buckets).Observe(std::max(0.0, forward - comm));
  phase_->Add({{"phase", "communication"}}, buckets).Observe(comm);
  // How long the workers waited for this step's plan: the control plane the step did not hide.
  double idle = 0.0;
  for (const RankStepTime& t : result->ranks) idle = std::max(idle, t.idle_time_s);
  phase_->Add({{"phase", "idle"}}, buckets).Observe(idle);
  for (size_t r = 0; r < result->ranks.size(); ++r) {
    const RankStepTime& t = result->ranks[r];
    const prometheus::Labels rank = {{"rank", absl::StrCat(r)}};
    rank_forward_->Add(rank, buckets).Observe(t.forward_time_s);
    if (result->ranks.size() > 1) {
      rank_comm_->Add(rank, buckets).Observe(t.comm_time_s);
      rank_bytes_->Add(rank).Increment(static_cast<double>(t.comm_bytes));
    }
  }
}

void ServingMetrics::Scheduler(const SchedulerStats& s, int full_blocks, int sliding_blocks) {
  running_->Set(s.num_running);
  waiting_->Set(s.num_waiting);
  full_total_->Set(full_blocks);
  sliding_total_->Set(sliding_blocks);
  full_used_->Set(full_blocks - s.free_full_blocks);
  sliding_used_->Set(sliding_blocks - s.free_sliding_blocks);
  full_ratio_->Set(full_blocks > 0 ? 1.0 - static_cast<double>(s.free_full_blocks) / full_blocks : 0);
  sliding_ratio_->Set(
      sliding_blocks > 0 ? 1.0 - static_cast<double>(s.free_sliding_blocks) / sliding_blocks : 0);
  if (s.num_preemptions < preemptions_seen_) preemptions_seen_ = 0;  // a new engine
  if (s.num_preemptions > preemptions_seen_) {
    preemptions_->Increment(static_cast<double>(s.num_preemptions - preemptions_seen_));
    preemptions_seen_ = s.num_preemptions;
  }
}

void ServingMetrics::Workers(int registered, int ready) {
  registered_->Set(registered);
  ready_->Set(ready);
}

}  // namespace gptoss
