// bf16_append_kv: cache.k/v[slot[t]] = k/v[t] where a physical slot is block * block_size +
// offset, i.e. the flat row index of the [num_blocks * block_size, kv_heads * head_dim] cache.
// Slot -1 (a padding row) stores nothing; any other slot outside the cache sets kErrKvSlot and the
// row is skipped.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

template <typename T>
__global__ void bf16_append_kv(const T* __restrict__ k, const T* __restrict__ v,
                               const int32_t* __restrict__ slots, int64_t row_elems,
                               T* __restrict__ k_cache, T* __restrict__ v_cache, int64_t num_slots,
                               int* error_flags) {
  const int64_t t = blockIdx.x;
  const int32_t slot = slots[t];
  if (slot == -1) return;  // a padding row: nothing to store
  if (slot < 0 || slot >= num_slots) {
    if (threadIdx.x == 0) atomicOr(error_flags, kErrKvSlot);
    return;
  }
  const T* ks = k + t * row_elems;
  const T* vs = v + t * row_elems;
  T* kd = k_cache + static_cast<int64_t>(slot) * row_elems;
  T* vd = v_cache + static_cast<int64_t>(slot) * row_elems;
  for (int64_t i = threadIdx.x; i < row_elems; i += blockDim.x) {
    kd[i] = ks[i];
    vd[i] = vs[i];
  }
}

}  // namespace

absl::Status LaunchAppendKv(const LaunchContext& ctx, const void* k, const void* v,
                            const int32_t* slots, int64_t num_tokens, int64_t row_elems,
                            DType dtype, void* k_cache, void* v_cache, int64_t num_slots) {
  if (num_tokens == 0 || row_elems == 0) return absl::OkStatus();
  if (num_tokens > 0x7fffffff) return absl::InvalidArgumentError("AppendKv: too many rows");
  if (!IsFloatDType(dtype)) return absl::InvalidArgumentError("AppendKv: dtype must be BF16 or F32");
  DispatchFloat(dtype, [&](auto tv) {
    using T = decltype(tv);
    bf16_append_kv<T><<<static_cast<unsigned>(num_tokens), 256, 0, ctx.stream>>>(
        static_cast<const T*>(k), static_cast<const T*>(v), slots, row_elems,
        static_cast<T*>(k_cache), static_cast<T*>(v_cache), num_slots, ctx.error_flags);
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_append_kv");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
