// bf16_moe_combine: residual[t,:] += sum_j weights[t,j] * rows[t,j,:]. As in HF, the weighted
// expert outputs are summed first (index_add_ into zeros) and then added to the residual; the
// sum is kept in fp32 and rounded once.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

template <typename TRow, typename TRes>
__global__ void bf16_moe_combine(const TRow* __restrict__ rows, const float* __restrict__ weights,
                                 int k, int64_t hidden, TRes* __restrict__ residual) {
  const int64_t t = blockIdx.x;
  const int64_t h = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (h >= hidden) return;
  float acc = 0.0f;
  for (int j = 0; j < k; ++j)
    acc += weights[t * k + j] * ToFloat(rows[(t * k + j) * hidden + h]);
  TRes* r = residual + t * hidden + h;
  *r = FromFloat<TRes>(ToFloat(*r) + acc);
}

}  // namespace

absl::Status LaunchMoeCombine(const LaunchContext& ctx, const void* rows, DType rows_dtype,
                              const float* weights, int64_t num_tokens, int k, int64_t hidden,
                              void* residual, DType residual_dtype) {
  if (num_tokens == 0 || hidden == 0) return absl::OkStatus();
  if (num_tokens > 0x7fffffff || CeilDiv(hidden, 256) > 65535)
    return absl::InvalidArgumentError("MoeCombine: shape too large for one launch");
  if (!IsFloatDType(rows_dtype) || !IsFloatDType(residual_dtype))
    return absl::InvalidArgumentError("MoeCombine: dtypes must be BF16 or F32");
  const int threads = 256;
  const dim3 grid(static_cast<unsigned>(num_tokens), static_cast<unsigned>(CeilDiv(hidden, threads)));
  DispatchFloat(rows_dtype, [&](auto trow) {
    DispatchFloat(residual_dtype, [&](auto tres) {
      using TRow = decltype(trow);
      using TRes = decltype(tres);
      bf16_moe_combine<TRow, TRes><<<grid, threads, 0, ctx.stream>>>(
          static_cast<const TRow*>(rows), weights, k, hidden, static_cast<TRes*>(residual));
    });
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_moe_combine");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
