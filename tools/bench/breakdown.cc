#include "tools/bench/breakdown.h"

#include <memory>

#include "kernels/core/status.h"
#include "tools/bench/bench_runner.h"

namespace gptoss::bench {

absl::StatusOr<Breakdown> ProfileDecode(const ModelConfig& config, const ModelWeights& weights,
                                        Ops* ops, const BreakdownSettings& s) {
  GPTOSS_CHECK_ARG(s.steps >= 1, "breakdown: at least one step");
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<ProfilingOps> profiling, ProfilingOps::Create(ops));
  BenchRunner runner(config, weights, profiling.get(), s.block_size);
  GPTOSS_RETURN_IF_ERROR(runner.Init());
  int forwards = 0;
  // Eager steps; the warm-up step's calls (allocations, plan choices) are dropped when the first
  // profiled step starts, and each step starts behind a device hold so that the host has queued
  // it whole before its first kernel runs.
  const StepHook hook = [&](uint64_t, const std::function<absl::Status()>& forward) {
    if (forwards++ == 1) profiling->Reset();
    GPTOSS_RETURN_IF_ERROR(profiling->HoldDevice(s.hold_seconds));
    return forward();
  };
  GPTOSS_RETURN_IF_ERROR(
      runner.Decode(s.batch, s.context, /*warmup=*/1, s.steps, s.seed, hook).status());
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
  return out;
}

}  // namespace gptoss::bench
