// gptoss-metrics-bench: what recording the serving metrics costs the coordinator's engine
// thread. The engine loop runs against an instant fake worker (every step returns at once), so
// the time per step is the coordinator's own work; the same run is repeated with and without
// the metrics, and the ratio is printed (docs/PERF.md).
//
//   gptoss-metrics-bench [--sequences 64] [--tokens 200] [--rounds 5]
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <vector>

#include "coordinator/engine_loop.h"
#include "coordinator/serving_metrics.h"
#include "kernels/core/flags.h"

namespace gptoss {
namespace {

class InstantRunner : public SyncStepRunner {
 public:
  bool ready() const override { return true; }
  absl::StatusOr<StepResult> Run(const StepPlan& plan) override {
    StepResult r;
    r.step_id = plan.step_id;
    for (const SequenceStep& s : plan.sequences)
      if (s.sample)
        r.results.push_back({s.sequence_id, 100 + static_cast<int>(s.sample_index % 50), 0.0f, {}});
    r.ranks = {{0.0, 0.0, 0, 0.0, 0.0}};
    ++steps;
    return r;
  }
  uint64_t steps = 0;
};

class Counter : public RequestObserver {
 public:
  explicit Counter(std::shared_ptr<std::pair<std::mutex, std::condition_variable>> sync, int* left)
      : sync_(std::move(sync)), left_(left) {}
  bool OnToken(const SequenceUpdate& u) override {
    if (u.finish != FinishReason::kNone) Done();
    return false;
  }
  void OnEnded(FinishReason, const absl::Status&) override { Done(); }

 private:
  void Done() {
    std::lock_guard<std::mutex> lock(sync_->first);
    --*left_;
    sync_->second.notify_all();
  }
  std::shared_ptr<std::pair<std::mutex, std::condition_variable>> sync_;
  int* left_;
};

double ProcessCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// CPU seconds per engine step for `sequences` requests of `tokens` tokens each.
double Run(int sequences, int tokens, ServingMetrics* metrics, uint64_t* steps) {
  SchedulerConfig c;
  c.kv.block_size = 16;
  c.kv.num_full_blocks = sequences * ((tokens + 32) / 16 + 2);
  c.kv.num_sliding_blocks = 0;
  c.kv.has_sliding_layers = false;
  c.vocab_size = 1000;
  c.max_context_len = tokens + 64;
  c.max_num_seqs = sequences;
  c.max_batch_tokens = sequences * 16;
  c.max_waiting = sequences;
  InstantRunner runner;
  EngineOptions options;
  options.metrics = metrics;
  auto loop = EngineLoop::Create(c, &runner, options).value();
  auto sync = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
  int left = sequences;
  const double start = ProcessCpuSeconds();
  loop->Start();
  for (int i = 0; i < sequences; ++i) {
    SequenceRequest r;
    r.prompt = {1, 2, 3, 4, 5, 6, 7, 8};
    r.max_tokens = tokens;
    (void)loop->Submit(std::move(r), std::make_shared<Counter>(sync, &left));
  }
  {
    std::unique_lock<std::mutex> lock(sync->first);
    sync->second.wait(lock, [&] { return left == 0; });
  }
  const double cpu = ProcessCpuSeconds() - start;
  loop->Stop();
  *steps = runner.steps;
  return cpu / static_cast<double>(runner.steps);
}

int Main(int argc, char** argv) {
  auto flags = cli::Flags::Parse(argc, argv, {"sequences", "tokens", "rounds"});
  if (!flags.ok()) {
    std::fprintf(stderr, "gptoss-metrics-bench: %s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  const int sequences = static_cast<int>(flags->GetInt("sequences", 64).value_or(64));
  const int tokens = static_cast<int>(flags->GetInt("tokens", 200).value_or(200));
  const int rounds = static_cast<int>(flags->GetInt("rounds", 5).value_or(5));
  auto registry = std::make_shared<prometheus::Registry>();
  ServingMetrics metrics(registry);
  double best_off = 1e9, best_on = 1e9;
  uint64_t steps = 0;
  for (int r = 0; r < rounds; ++r) {  // interleaved, best of each: the machine is noisy
    best_off = std::min(best_off, Run(sequences, tokens, nullptr, &steps));
    best_on = std::min(best_on, Run(sequences, tokens, &metrics, &steps));
  }
  std::printf("gptoss-metrics-bench: %d sequences x %d tokens, %llu steps per run, best of %d\n"
              "  coordinator CPU per step without metrics: %.1f us\n"
              "  coordinator CPU per step with metrics:    %.1f us\n"
              "  ratio with/without: %.3f (recording costs %.1f us per step, %.2f us per token)\n",
              sequences, tokens, static_cast<unsigned long long>(steps), rounds, best_off * 1e6,
              best_on * 1e6, best_on / best_off, (best_on - best_off) * 1e6,
              (best_on - best_off) * 1e6 / sequences);
  return 0;
}

}  // namespace
}  // namespace gptoss

int main(int argc, char** argv) { return gptoss::Main(argc - 1, argv + 1); }
