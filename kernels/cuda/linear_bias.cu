// bf16_linear_bias: out[r,c] += bias[c]. Used by CudaOps::Linear only when cuBLASLt offers no
// bias epilogue for the dtype combination (the fused epilogue is the normal path).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

template <typename TOut, typename TB>
__global__ void bf16_linear_bias(TOut* __restrict__ out, const TB* __restrict__ bias, int64_t rows,
                                 int64_t cols) {
  const int64_t n = rows * cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    out[i] = FromFloat<TOut>(ToFloat(out[i]) + ToFloat(bias[i % cols]));
}

}  // namespace

absl::Status LaunchAddBias(const LaunchContext& ctx, void* out, DType out_dtype, const void* bias,
                           DType bias_dtype, int64_t rows, int64_t cols) {
  if (rows == 0 || cols == 0) return absl::OkStatus();
  if (!IsFloatDType(out_dtype) || !IsFloatDType(bias_dtype))
    return absl::InvalidArgumentError("Linear bias: dtypes must be BF16 or F32");
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>(CeilDiv(rows * cols, threads), 16LL * ctx.num_sms);
  DispatchFloat(out_dtype, [&](auto to) {
    DispatchFloat(bias_dtype, [&](auto tb) {
      using TO = decltype(to);
      using TB = decltype(tb);
      bf16_linear_bias<TO, TB><<<static_cast<unsigned>(blocks), threads, 0, ctx.stream>>>(
          static_cast<TO*>(out), static_cast<const TB*>(bias), rows, cols);
    });
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_linear_bias");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
