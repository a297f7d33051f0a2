// OpTimer on a CUDA stream: each mark is a CUDA event recorded in stream order (events are
// reused after Reset), and HoldDevice enqueues a spinning kernel.
#pragma once

#include <memory>

#include "kernels/cuda/launchers.h"
#include "kernels/ops.h"

namespace gptoss::cuda {

std::unique_ptr<OpTimer> CreateCudaTimer(const LaunchContext& ctx);

}  // namespace gptoss::cuda
