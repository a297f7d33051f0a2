// bf16_rms_norm: out = weight * (x * rsqrt(mean(x^2) + eps)), all in fp32 like HF GptOssRMSNorm
// (x.to(float32); the bf16 weight times the fp32 normalized x promotes to fp32; one rounding at
// the end to the output dtype). One block per row.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

constexpr int kThreads = 256;

template <typename TX, typename TW, typename TOut>
__global__ void __launch_bounds__(kThreads)
    bf16_rms_norm(const TX* x, const TW* __restrict__ weight, float eps, int64_t hidden,
                  TOut* out) {  // x and out may alias: no __restrict__ on either
  __shared__ float partial[32];
  const TX* xr = x + blockIdx.x * hidden;
  TOut* o = out + blockIdx.x * hidden;
  float sum_sq = 0.0f;
  for (int64_t i = threadIdx.x; i < hidden; i += kThreads) {
    const float v = ToFloat(xr[i]);
    sum_sq += v * v;
  }
  sum_sq = BlockSum(sum_sq, partial);
  const float inv = rsqrtf(sum_sq / static_cast<float>(hidden) + eps);
  // x and out may alias (in-place norm): each element is read before it is written by the same
  // thread, and the sum above finished reading every element before the barrier in BlockSum.
  for (int64_t i = threadIdx.x; i < hidden; i += kThreads)
    o[i] = FromFloat<TOut>(ToFloat(weight[i]) * (ToFloat(xr[i]) * inv));
}

}  // namespace

absl::Status LaunchRmsNorm(const LaunchContext& ctx, const void* x, DType x_dtype,
                           const void* weight, DType weight_dtype, float eps, int64_t num_tokens,
                           int64_t hidden, void* out, DType out_dtype) {
  if (num_tokens == 0) return absl::OkStatus();
  if (num_tokens > 0x7fffffff) return absl::InvalidArgumentError("RmsNorm: too many rows");
  if (!IsFloatDType(x_dtype) || !IsFloatDType(weight_dtype) || !IsFloatDType(out_dtype))
    return absl::InvalidArgumentError("RmsNorm: dtypes must be BF16 or F32");
  DispatchFloat(x_dtype, [&](auto tx) {
    DispatchFloat(weight_dtype, [&](auto tw) {
      DispatchFloat(out_dtype, [&](auto to) {
        using TX = decltype(tx);
        using TW = decltype(tw);
        using TO = decltype(to);
        bf16_rms_norm<TX, TW, TO><<<static_cast<unsigned>(num_tokens), kThreads, 0, ctx.stream>>>(
            static_cast<const TX*>(x), static_cast<const TW*>(weight), eps, hidden,
            static_cast<TO*>(out));
      });
    });
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_rms_norm");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
