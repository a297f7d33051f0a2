#include "tools/bench/breakdown.h"

#include <functional>
#include <memory>
#include <string>

#include "kernels/core/status.h"
#include "tools/bench/bench_runner.h"

namespace gptoss::bench {

namespace {

// Runs each padded decode step eagerly (no capture: the marks must see every op), after a device
// hold so that the host queues the whole step first; the second decode step starts the profile
// (the warm-up step's calls, and the prompt's, are dropped).
class HoldThenRun final : public StepGraphs {
 public:
  HoldThenRun(ProfilingOps* profiling, double hold) : profiling_(profiling), hold_(hold) {}
  absl::Status Run(uint64_t, const std::function<absl::Status()>& step) override {
    if (++runs_ == 2) profiling_->Reset();
    GPTOSS_RETURN_IF_ERROR(profiling_->HoldDevice(hold_));
    return step();
  }
  int num_graphs() const override { return 0; }
  std::string capture_error() const override { return ""; }
  void Clear() override {}

 private:
  ProfilingOps* profiling_;
  double hold_;
  int runs_ = 0;
};

}  // namespace

absl::StatusOr<Breakdown> ProfileDecode(const ModelConfig& config, const ModelWeights& weights,
                                        Ops* ops, const BreakdownSettings& s) {
  GPTOSS_CHECK_ARG(s.steps >= 1, "breakdown: at least one step");
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<ProfilingOps> profiling, ProfilingOps::Create(ops));
  HoldThenRun steps(profiling.get(), s.hold_seconds);
  BenchRunner runner(config, weights, profiling.get(), s.block_size, nullptr, &steps);
  GPTOSS_RETURN_IF_ERROR(runner.Init());
  GPTOSS_RETURN_IF_ERROR(
      runner.Decode(s.batch, s.context, /*warmup=*/1, s.steps, s.seed).status());
  GPTOSS_ASSIGN_OR_RETURN(ProfilingOps::Summary summary, profiling->Report());
  Breakdown out;
  out.steps = s.steps;
  for (ProfilingOps::Row row : summary.rows) {
    row.seconds /= s.steps;
    row.bytes /= s.steps;
    row.flops /= s.steps;
    row.calls /= s.steps;
    out.rows.push_back(row);
  }
  out.op_seconds = summary.op_seconds / s.steps;
  out.host_syncs = static_cast<double>(summary.host_syncs) / s.steps;
  return out;
}

}  // namespace gptoss::bench
