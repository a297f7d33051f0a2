// bf16_add_in_place: residual += x, elementwise in fp32 with one rounding to residual's dtype.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

template <typename TX, typename TR>
__global__ void bf16_add_in_place(const TX* __restrict__ x, TR* __restrict__ residual, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    residual[i] = FromFloat<TR>(ToFloat(residual[i]) + ToFloat(x[i]));
}

}  // namespace

absl::Status LaunchAddInPlace(const LaunchContext& ctx, const void* x, DType x_dtype,
                              void* residual, DType residual_dtype, int64_t n) {
  if (n == 0) return absl::OkStatus();
  if (!IsFloatDType(x_dtype) || !IsFloatDType(residual_dtype))
    return absl::InvalidArgumentError("AddInPlace: dtypes must be BF16 or F32");
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>(CeilDiv(n, threads), 16LL * ctx.num_sms);
  DispatchFloat(x_dtype, [&](auto tx) {
    DispatchFloat(residual_dtype, [&](auto tr) {
      using TX = decltype(tx);
      using TR = decltype(tr);
      bf16_add_in_place<TX, TR><<<static_cast<unsigned>(blocks), threads, 0, ctx.stream>>>(
          static_cast<const TX*>(x), static_cast<TR*>(residual), n);
    });
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_add_in_place");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
