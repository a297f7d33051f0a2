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

namespace gptoss {

absl::StatusOr<std::unique_ptr<Ops>> CreateOps(std::string_view backend);

// True when this binary was built with the CUDA backend.
bool BuiltWithCuda();

}  // namespace gptoss
