// Device-side helpers shared by the .cu files: bf16/f32 loads and stores, warp reductions,
// and the dtype dispatch used by the launchers (only BF16 and F32 activations exist).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/core/dtype.h"

namespace gptoss::cuda {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(bf16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ float FromFloat<float>(float v) { return v; }
template <>
__device__ __forceinline__ bf16 FromFloat<bf16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float WarpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024). `shared` holds 32
// floats. Every thread gets the result.
__device__ __forceinline__ float BlockSum(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = WarpSum(v);
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int num_warps = (blockDim.x + 31) >> 5;
  v = lane < num_warps ? shared[lane] : 0.0f;
  return WarpSum(v);
}

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

constexpr bool IsFloatDType(DType t) { return t == DType::kBF16 || t == DType::kF32; }

// Calls f(T{}) with T = float or bf16 according to `dtype`; false for other dtypes.
template <typename F>
bool DispatchFloat(DType dtype, F&& f) {
  if (dtype == DType::kBF16) {
    f(bf16{});
    return true;
  }
  if (dtype == DType::kF32) {
    f(float{});
    return true;
  }
  return false;
}

}  // namespace gptoss::cuda
