// gptoss-bench --breakdown: eager decode steps through ProfilingOps, summed per op class: the
// device time of each class per step, its share of the step, and the bytes and FLOPs it moves
// and computes (counted from the shapes and the step's own routing and context lengths) next
// to the rates they imply, so one run says where a decode step's time goes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/profiling_ops.h"
#include "worker/model/config.h"
#include "worker/model/weights.h"

namespace gptoss::bench {

struct BreakdownSettings {
  int batch = 1;
  int context = 512;
  int steps = 4;         // profiled steps (after one warm-up step)
  int block_size = 16;
  uint64_t seed = 1;
  double hold_seconds = 0.05;  // the device waits this long before each step (OpTimer)
};

struct Breakdown {
  int steps = 0;
  std::vector<ProfilingOps::Row> rows;  // per step: calls, seconds, bytes and FLOPs
  double op_seconds = 0;                // per step, the sum over the rows
  double host_syncs = 0;                // per step: host copies and waits (ProfilingOps)
};

absl::StatusOr<Breakdown> ProfileDecode(const ModelConfig& config, const ModelWeights& weights,
                                        Ops* ops, const BreakdownSettings& settings);

}  // namespace gptoss::bench
