// FillSynthetic: fills a device tensor with the synthetic values of kernels/core/synthetic_values.h
// (BF16 gaussian, MXFP4 codes or E8M0 scales), asynchronously on ctx.stream.
#pragma once

#include "absl/status/status.h"
#include "kernels/core/tensor.h"
#include "kernels/cuda/launchers.h"
#include "kernels/core/synthetic_values.h"

namespace gptoss::cuda {

absl::Status FillSynthetic(const LaunchContext& ctx, const SyntheticFill& fill, TensorView dst);

}  // namespace gptoss::cuda
