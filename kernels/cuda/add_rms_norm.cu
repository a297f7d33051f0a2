// bf16_add_rms_norm: residual += x, then out = weight * (residual * rsqrt(mean(residual^2) + eps))
// in one pass over the row: the fused AddInPlace + RmsNorm of the attention -> MoE seam. The
// norm reads the residual after its rounding to the residual's dtype, exactly as the two ops
// would (bf16_add_in_place, then bf16_rms_norm), so the result is bit-identical to them.
// One block per row; each thread re-reads only the elements it wrote itself.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

constexpr int kThreads = 256;

template <typename TX, typename TR, typename TW, typename TOut>
__global__ void __launch_bounds__(kThreads)
    bf16_add_rms_norm(const TX* __restrict__ x, TR* __restrict__ residual,
                      const TW* __restrict__ weight, float eps, int64_t hidden,
                      TOut* __restrict__ out) {
  __shared__ float partial[32];
  const TX* xr = x + blockIdx.x * hidden;
  TR* r = residual + blockIdx.x * hidden;
  TOut* o = out + blockIdx.x * hidden;
  float sum_sq = 0.0f;
  for (int64_t i = threadIdx.x; i < hidden; i += kThreads) {
    const TR sum = FromFloat<TR>(ToFloat(r[i]) + ToFloat(xr[i]));
    r[i] = sum;
    const float v = ToFloat(sum);
    sum_sq += v * v;
  }
  sum_sq = BlockSum(sum_sq, partial);
  const float inv = rsqrtf(sum_sq / static_cast<float>(hidden) + eps);
  for (int64_t i = threadIdx.x; i < hidden; i += kThreads)
    o[i] = FromFloat<TOut>(ToFloat(weight[i]) * (ToFloat(r[i]) * inv));
}

}  // namespace

absl::Status LaunchAddRmsNorm(const LaunchContext& ctx, const void* x, DType x_dtype,
                              void* residual, DType residual_dtype, const void* weight,
                              DType weight_dtype, float eps, int64_t num_tokens, int64_t hidden,
                              void* out, DType out_dtype) {
  if (num_tokens == 0) return absl::OkStatus();
  if (num_tokens > 0x7fffffff) return absl::InvalidArgumentError("AddRmsNorm: too many rows");
  if (!IsFloatDType(x_dtype) || !IsFloatDType(residual_dtype) || !IsFloatDType(weight_dtype) ||
      !IsFloatDType(out_dtype))
    return absl::InvalidArgumentError("AddRmsNorm: dtypes must be BF16 or F32");
  // The activations are one dtype in the engine (x, residual and out); the weight may differ.
  if (x_dtype != residual_dtype || out_dtype != residual_dtype)
    return absl::InvalidArgumentError("AddRmsNorm: x, residual and out must share a dtype");
  DispatchFloat(residual_dtype, [&](auto ta) {
    DispatchFloat(weight_dtype, [&](auto tw) {
      using TA = decltype(ta);
      using TW = decltype(tw);
      bf16_add_rms_norm<TA, TA, TW, TA><<<static_cast<unsigned>(num_tokens), kThreads, 0,
                                          ctx.stream>>>(
          static_cast<const TA*>(x), static_cast<TA*>(residual), static_cast<const TW*>(weight),
          eps, hidden, static_cast<TA*>(out));
    });
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_add_rms_norm");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
