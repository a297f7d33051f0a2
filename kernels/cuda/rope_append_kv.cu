// bf16_rope_append_kv: the fused RopeYarn + AppendKv of one layer's new tokens. q and k are
// rotated (rope.cuh, the same code as bf16_rope_yarn) into q_out / k_out and the rotated k row
// and the v row are stored at the token's cache slot, in one pass instead of two launches and a
// second read of k. The inputs may be the column blocks of the packed q/k/v projection (one
// GEMM over the stacked weights): no copy splits them first. One block per token. As in the unfused pair of ops, a
// negative position sets kErrPosition and leaves the row unrotated (it is still stored), slot -1
// (a padding row) stores nothing, and any other slot outside the cache sets kErrKvSlot.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/rope.cuh"

namespace gptoss::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads) bf16_rope_append_kv(RopeAppendKvArgs a,
                                                                int* error_flags) {
  __shared__ float cos_s[kRopeMaxHalf], sin_s[kRopeMaxHalf];
  const int64_t t = blockIdx.x;
  const int half = static_cast<int>(a.head_dim / 2), head_dim = 2 * half;
  const int q_heads = static_cast<int>(a.q_heads), k_heads = static_cast<int>(a.k_heads);
  const int32_t pos = a.positions[t];
  const bool rotate = pos >= 0;
  if (rotate) {
    RopeAngles(pos, a.inv_freq, half, a.attention_scaling, cos_s, sin_s);
  } else if (threadIdx.x == 0) {
    atomicOr(error_flags, kErrPosition);
  }
  const int32_t slot = a.slots[t];
  const bool store = slot >= 0 && slot < a.num_slots;
  if (!store && slot != -1 && threadIdx.x == 0) atomicOr(error_flags, kErrKvSlot);  // -1: padding
  __syncthreads();
  const int64_t kv_row = static_cast<int64_t>(k_heads) * head_dim;
  T* kc = static_cast<T*>(a.k_cache) + (store ? static_cast<int64_t>(slot) * kv_row : 0);
  T* vc = static_cast<T*>(a.v_cache) + (store ? static_cast<int64_t>(slot) * kv_row : 0);
  const T* q = static_cast<const T*>(a.q) + t * a.q_stride;
  T* q_out = static_cast<T*>(a.q_out) + t * q_heads * head_dim;
  for (int idx = threadIdx.x; idx < q_heads * half; idx += kThreads) {
    const int head = idx / half, i = idx % half;
    RopeRotateOrCopyPair(q + head * head_dim, i, half, rotate, cos_s, sin_s,
                         q_out + head * head_dim);
  }
  const T* k = static_cast<const T*>(a.k) + t * a.k_stride;
  T* k_out = a.k_out ? static_cast<T*>(a.k_out) + t * kv_row : nullptr;
  for (int idx = threadIdx.x; idx < k_heads * half; idx += kThreads) {
    const int head = idx / half, i = idx % half;
    const T* x = k + head * head_dim;
    // The rotated pair goes to k_out (when kept) and to the cache row.
    T* o = k_out ? k_out + head * head_dim : (store ? kc + head * head_dim : nullptr);
    if (o == nullptr) continue;
    RopeRotateOrCopyPair(x, i, half, rotate, cos_s, sin_s, o);
    if (k_out && store) {
      kc[head * head_dim + i] = o[i];
      kc[head * head_dim + i + half] = o[i + half];
    }
  }
  if (!store) return;
  const T* v = static_cast<const T*>(a.v) + t * a.v_stride;
  for (int64_t i = threadIdx.x; i < kv_row; i += kThreads) vc[i] = v[i];
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
        a, ctx.error_flags);
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_rope_append_kv");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
