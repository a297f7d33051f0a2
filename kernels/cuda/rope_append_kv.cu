// bf16_rope_append_kv: the fused RopeYarn + AppendKv of one layer's new tokens. q [T,Hq,D] and
// k [T,Hk,D] are rotated in place (rope.cuh, the same code as bf16_rope_yarn) and the rotated
// k row and the v row are stored at the token's cache slot, in one pass instead of two
// launches and a second read of k. One block per token. As in the unfused pair of ops, a
// negative position sets kErrPosition and leaves the row unrotated (it is still stored), and a
// slot outside the cache sets kErrKvSlot and stores nothing.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/rope.cuh"

namespace gptoss::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    bf16_rope_append_kv(T* __restrict__ q, int q_heads, T* __restrict__ k,
                        const T* __restrict__ v, int k_heads, int half,
                        const int32_t* __restrict__ positions, const float* __restrict__ inv_freq,
                        float scaling, const int32_t* __restrict__ slots,
                        T* __restrict__ k_cache, T* __restrict__ v_cache, int64_t num_slots,
                        int* error_flags) {
  __shared__ float cos_s[kRopeMaxHalf], sin_s[kRopeMaxHalf];
  const int64_t t = blockIdx.x;
  const int32_t pos = positions[t];
  const bool rotate = pos >= 0;
  if (rotate) {
    RopeAngles(pos, inv_freq, half, scaling, cos_s, sin_s);
  } else if (threadIdx.x == 0) {
    atomicOr(error_flags, kErrPosition);
  }
  const int32_t slot = slots[t];
  const bool store = slot >= 0 && slot < num_slots;
  if (!store && threadIdx.x == 0) atomicOr(error_flags, kErrKvSlot);
  __syncthreads();
  const int head_dim = 2 * half;
  const int64_t kv_row = static_cast<int64_t>(k_heads) * head_dim;
  T* kc = k_cache + (store ? static_cast<int64_t>(slot) * kv_row : 0);
  if (rotate) {
    for (int idx = threadIdx.x; idx < q_heads * half; idx += kThreads) {
      T* x = q + (t * q_heads + idx / half) * head_dim;
      RopeRotatePair(x, idx % half, half, cos_s, sin_s, x);
    }
  }
  for (int idx = threadIdx.x; idx < k_heads * half; idx += kThreads) {
    const int head = idx / half, i = idx % half;
    T* x = k + (t * k_heads + head) * head_dim;
    if (rotate) RopeRotatePair(x, i, half, cos_s, sin_s, x);
    if (store) {
      kc[head * head_dim + i] = x[i];
      kc[head * head_dim + i + half] = x[i + half];
    }
  }
  if (!store) return;
  const T* vs = v + t * kv_row;
  T* vc = v_cache + static_cast<int64_t>(slot) * kv_row;
  for (int64_t i = threadIdx.x; i < kv_row; i += kThreads) vc[i] = vs[i];
}

}  // namespace

absl::Status LaunchRopeAppendKv(const LaunchContext& ctx, const RopeAppendKvArgs& a) {
  if (a.num_tokens == 0) return absl::OkStatus();
  if (a.head_dim % 2 != 0 || a.head_dim / 2 > kRopeMaxHalf || a.head_dim <= 0)
    return absl::InvalidArgumentError("RopeAppendKv: head_dim must be even and at most 512");
  if (a.num_tokens > 0x7fffffff || a.q_heads + a.k_heads > (1 << 20))
    return absl::InvalidArgumentError("RopeAppendKv: shape too large for one launch");
  if (!IsFloatDType(a.dtype))
    return absl::InvalidArgumentError("RopeAppendKv: dtype must be BF16 or F32");
  DispatchFloat(a.dtype, [&](auto tv) {
    using T = decltype(tv);
    bf16_rope_append_kv<T><<<static_cast<unsigned>(a.num_tokens), kThreads, 0, ctx.stream>>>(
        static_cast<T*>(a.q), static_cast<int>(a.q_heads), static_cast<T*>(a.k),
        static_cast<const T*>(a.v), static_cast<int>(a.k_heads),
        static_cast<int>(a.head_dim / 2), a.positions, a.inv_freq, a.attention_scaling,
        a.slots, static_cast<T*>(a.k_cache), static_cast<T*>(a.v_cache), a.num_slots,
        ctx.error_flags);
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_rope_append_kv");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
