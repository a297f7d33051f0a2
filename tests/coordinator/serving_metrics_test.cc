// The serving metrics move as the engine says they should: tokens counted = tokens streamed,
// every request counted once with its finish reason (a cancelled one too), KV usage back to
// zero when everything ended (tests/worker/worker_metrics_test.cc has the worker's).
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/engine_loop.h"
#include "coordinator/serving_metrics.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/coordinator/engine_test_util.h"
#include "tests/metrics_test_util.h"

namespace gptoss {
namespace {

using testing::Value;

// Samples token 100 + index; a step blocks while the gate is closed.
class Runner : public SyncStepRunner {
 public:
  bool ready() const override { return true; }
  absl::StatusOr<StepResult> Run(const StepPlan& plan) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
    }
    StepResult r;
    r.step_id = plan.step_id;
    r.forward_time_s = 0.001;
    for (const SequenceStep& s : plan.sequences)
      if (s.sample) r.results.push_back({s.sequence_id, 100 + static_cast<int>(s.sample_index), 0.0f, {}});
    r.ranks = {{0.001, 0.0002, 100, 0.0, 0.0}, {0.0012, 0.0003, 120, 0.0, 0.0}};
    return r;
  }
  void Gate(bool open) {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = open;
    cv_.notify_all();
  }
  int entered() {
    std::lock_guard<std::mutex> lock(mu_);
    return entered_;
  }
  void WaitEntered(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int entered_ = 0;
};

class Observer : public RequestObserver {
 public:
  bool OnToken(const SequenceUpdate& u) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++tokens_;
    if (u.finish != FinishReason::kNone) done_ = true, cv_.notify_all();
    return false;
  }
  void OnEnded(FinishReason, const absl::Status&) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  int Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return done_; }));
    return tokens_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int tokens_ = 0;
  bool done_ = false;
};

SchedulerConfig Config() { return testing::SmallEngineConfig(/*max_waiting=*/8); }

SequenceRequest Request(int max_tokens) { return testing::SmallRequest(max_tokens); }

// Waits until the engine thread has recorded what it observed (it records after the observers
// ran).
void WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

TEST(ServingMetricsTest, EngineCountsWhatItStreams) {
  auto registry = std::make_shared<prometheus::Registry>();
  ServingMetrics metrics(registry);
  Runner runner;
  EngineOptions options;
  options.metrics = &metrics;
  auto loop = EngineLoop::Create(Config(), &runner, options).value();
  loop->Start();

  std::vector<std::shared_ptr<Observer>> observers;
  for (int i = 0; i < 3; ++i) {
    observers.push_back(std::make_shared<Observer>());
    ASSERT_TRUE(loop->Submit(Request(5 + i), observers.back()).ok());
  }
  int streamed = 0;
  for (auto& o : observers) streamed += o->Wait();
  // A fourth request is cancelled while its prefill step is in flight.
  runner.Gate(false);
  const int before = runner.entered();
  auto cancelled = std::make_shared<Observer>();
  auto id = loop->Submit(Request(50), cancelled);
  ASSERT_TRUE(id.ok());
  runner.WaitEntered(before + 1);
  loop->Cancel(*id);
  loop->Cancel(*id);
  runner.Gate(true);
  EXPECT_EQ(cancelled->Wait(), 0);
  WaitFor([&] { return Value(*registry, "gptoss_requests_finished_total") == 4; });

  EXPECT_EQ(streamed, 5 + 6 + 7);
  EXPECT_EQ(Value(*registry, "gptoss_generation_tokens_total"), streamed);
  EXPECT_EQ(Value(*registry, "gptoss_prompt_tokens_total"), 4 * 3);
  EXPECT_EQ(Value(*registry, "gptoss_cached_prompt_tokens_total"), 0);  // no prefix cache
  EXPECT_EQ(Value(*registry, "gptoss_requests_finished_total", {{"finish_reason", "length"}}), 3);
  EXPECT_EQ(Value(*registry, "gptoss_requests_finished_total", {{"finish_reason", "cancelled"}}),
            1);
  EXPECT_EQ(Value(*registry, "gptoss_time_to_first_token_seconds"), 3);
  EXPECT_EQ(Value(*registry, "gptoss_inter_token_latency_seconds"), streamed - 3);
  EXPECT_EQ(Value(*registry, "gptoss_request_duration_seconds"), 4);
  EXPECT_EQ(Value(*registry, "gptoss_request_queue_seconds"), 4);
  EXPECT_GT(Value(*registry, "gptoss_engine_steps_total"), 0);
  // Every step that ran reports how long the workers stood idle before it.
  EXPECT_EQ(Value(*registry, "gptoss_step_phase_seconds", {{"phase", "idle"}}),
            Value(*registry, "gptoss_engine_steps_total"));
  EXPECT_EQ(Value(*registry, "gptoss_rank_communication_bytes_total", {{"rank", "1"}}),
            120 * Value(*registry, "gptoss_engine_steps_total"));
  // Nothing is live: the KV cache is empty again, nobody runs or waits.
  WaitFor([&] { return Value(*registry, "gptoss_kv_cache_used_blocks") == 0; });
  EXPECT_EQ(Value(*registry, "gptoss_kv_cache_used_blocks", {{"pool", "full"}}), 0);
  EXPECT_EQ(Value(*registry, "gptoss_kv_cache_usage_ratio", {{"pool", "full"}}), 0);
  EXPECT_EQ(Value(*registry, "gptoss_sequences", {{"state", "running"}}), 0);
  EXPECT_EQ(Value(*registry, "gptoss_kv_cache_blocks", {{"pool", "full"}}), 64);
  loop->Stop();
}

TEST(ServingMetricsTest, RpcEndsAreCountedByMethodAndCode) {
  auto registry = std::make_shared<prometheus::Registry>();
  ServingMetrics metrics(registry);
  metrics.RpcEnded("Chat", grpc::Status::OK);
  metrics.RpcEnded("Chat", grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "full"));
  metrics.RpcEnded("Tokenize", grpc::Status::OK);
  EXPECT_EQ(Value(*registry, "gptoss_requests_total", {{"rpc", "Chat"}}), 2);
  EXPECT_EQ(Value(*registry, "gptoss_requests_total", {{"code", "RESOURCE_EXHAUSTED"}}), 1);
  metrics.Workers(2, 0);
  EXPECT_EQ(Value(*registry, "gptoss_workers", {{"state", "registered"}}), 2);
  EXPECT_EQ(Value(*registry, "gptoss_workers", {{"state", "ready"}}), 0);
}

}  // namespace
}  // namespace gptoss
