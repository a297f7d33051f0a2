// CreateOps: the one place that picks a math backend at start-up.
//   "cpu"  -> CpuOps (always available).
//   "cuda" -> CudaOps on device 0; Unavailable (with the reason) in a build without CUDA or on a
//             machine without a usable sm_90 GPU.
//   "auto" -> "cuda" when it can be created, else "cpu".
// Anything else is InvalidArgument naming the accepted values.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "kernels/step_graphs.h"

namespace gptoss {

absl::StatusOr<std::unique_ptr<Ops>> CreateOps(std::string_view backend);

// The kernel set `ops` uses for the same math: "fused" (the default: the fused decode kernels)
// or "baseline" (the ops as first written; kernels/cuda/cuda_ops.h). A backend with one set
// (CpuOps: its fused ops are the compositions) accepts both names. Anything else is
// InvalidArgument.
absl::Status SelectKernelSet(Ops* ops, std::string_view name);

// Step graphs for `ops` (CUDA graphs on CudaOps; kernels/step_graphs.h), or null when the
// backend has none (CpuOps). `ops` must outlive them.
std::unique_ptr<StepGraphs> CreateStepGraphs(Ops* ops);

// True when this binary was built with the CUDA backend.
bool BuiltWithCuda();

}  // namespace gptoss
