// StepGraphs: capture and replay of one step's device work per shape key (CUDA graphs on
// CudaOps, kernels/cuda/cuda_graph.h; CreateStepGraphs in kernels/ops_factory.h). A backend
// without graphs has none: the engine then runs every step eagerly.
//
// Contract of Run(key, step): `step` only enqueues work on the ops' stream and reads its inputs
// from buffers whose addresses are the same for every call of that key. The first call runs it
// eagerly (warm-up: scratch sizing, GEMM plans), the second captures it, later calls replay it.
// A capture that fails marks the key eager-only and keeps the reason: results never depend on
// whether a graph ran.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace gptoss {

class StepGraphs {
 public:
  virtual ~StepGraphs() = default;
  virtual absl::Status Run(uint64_t key, const std::function<absl::Status()>& step) = 0;
  virtual int num_graphs() const = 0;
  // The last capture failure ("" when none).
  virtual std::string capture_error() const = 0;
  // Drops every graph (their buffers are about to change).
  virtual void Clear() = 0;
};

}  // namespace gptoss
