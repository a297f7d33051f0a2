// bf16_rope_yarn: in-place YaRN rotation of q [T,Hq,D] and k [T,Hk,D] (the math: rope.cuh).
// One block per token; a negative position sets kErrPosition and leaves the row unrotated.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/rope.cuh"

namespace gptoss::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    bf16_rope_yarn(T* __restrict__ q, int q_heads, T* __restrict__ k, int k_heads, int half,
                   const int32_t* __restrict__ positions, const float* __restrict__ inv_freq,
                   float scaling, int* error_flags) {
  __shared__ float cos_s[kRopeMaxHalf], sin_s[kRopeMaxHalf];
  const int64_t t = blockIdx.x;
  const int32_t pos = positions[t];
  if (pos < 0) {
    if (threadIdx.x == 0) atomicOr(error_flags, kErrPosition);
    return;
  }
  RopeAngles(pos, inv_freq, half, scaling, cos_s, sin_s);
  __syncthreads();
  const int head_dim = 2 * half;
  const int total = (q_heads + k_heads) * half;
  for (int idx = threadIdx.x; idx < total; idx += kThreads) {
    const int head = idx / half, i = idx % half;
    T* x = head < q_heads ? q + (t * q_heads + head) * head_dim
                          : k + (t * k_heads + (head - q_heads)) * head_dim;
    RopeRotatePair(x, i, half, cos_s, sin_s, x);
  }
}

}  // namespace

absl::Status LaunchRopeYarn(const LaunchContext& ctx, void* q, int64_t q_heads, void* k,
                            int64_t k_heads, DType dtype, int64_t num_tokens, int64_t head_dim,
                            const int32_t* positions, const float* inv_freq,
                            float attention_scaling) {
  if (num_tokens == 0) return absl::OkStatus();
  if (head_dim % 2 != 0 || head_dim / 2 > kRopeMaxHalf || head_dim <= 0)
    return absl::InvalidArgumentError("RopeYarn: head_dim must be even and at most 512");
  if (num_tokens > 0x7fffffff || q_heads + k_heads > (1 << 20))
    return absl::InvalidArgumentError("RopeYarn: shape too large for one launch");
  if (!IsFloatDType(dtype)) return absl::InvalidArgumentError("RopeYarn: dtype must be BF16 or F32");
  DispatchFloat(dtype, [&](auto tv) {
    using T = decltype(tv);
    bf16_rope_yarn<T><<<static_cast<unsigned>(num_tokens), kThreads, 0, ctx.stream>>>(
        static_cast<T*>(q), static_cast<int>(q_heads), static_cast<T*>(k),
        static_cast<int>(k_heads), static_cast<int>(head_dim / 2), positions, inv_freq,
        attention_scaling, ctx.error_flags);
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_rope_yarn");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
