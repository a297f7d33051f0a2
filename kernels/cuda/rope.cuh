// The YaRN rotation shared by bf16_rope_yarn and bf16_rope_append_kv, so that the fused kernel
// rotates exactly as the unfused one. HF _apply_rotary_emb is rotate_half: x1 = x[:D/2],
// x2 = x[D/2:] (not interleaved pairs); x1' = x1*cos - x2*sin, x2' = x2*cos + x1*sin, where
// cos/sin = cos/sin(position * inv_freq) * attention_scaling. The angle is the fp32 product (as
// HF's position.float() * inv_freq) and cos/sin use the full-precision sincosf, not the fast
// intrinsics: positions reach 131072 radians-scale angles.
#pragma once

#include "kernels/cuda/device_util.cuh"

namespace gptoss::cuda {

constexpr int kRopeMaxHalf = 256;

// cos_s/sin_s[i] for i < half, computed by the block's threads (the caller syncs before use).
__device__ __forceinline__ void RopeAngles(int32_t pos, const float* inv_freq, int half,
                                           float scaling, float* cos_s, float* sin_s) {
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    float s, c;
    sincosf(static_cast<float>(pos) * inv_freq[i], &s, &c);
    cos_s[i] = c * scaling;
    sin_s[i] = s * scaling;
  }
}

// Rotates the pair (x[i], x[i + half]) of one head; the rotated values go to dst (may be x).
template <typename T>
__device__ __forceinline__ void RopeRotatePair(const T* x, int i, int half, const float* cos_s,
                                               const float* sin_s, T* dst) {
  const float x1 = ToFloat(x[i]), x2 = ToFloat(x[i + half]);
  const T r1 = FromFloat<T>(x1 * cos_s[i] - x2 * sin_s[i]);
  const T r2 = FromFloat<T>(x2 * cos_s[i] + x1 * sin_s[i]);
  dst[i] = r1;
  dst[i + half] = r2;
}

// The pair rotated at a valid position, copied unchanged otherwise (a negative position, which
// the kernel reports, leaves the row unrotated as RopeYarn does).
template <typename T>
__device__ __forceinline__ void RopeRotateOrCopyPair(const T* x, int i, int half, bool rotate,
                                                     const float* cos_s, const float* sin_s,
                                                     T* dst) {
  if (rotate) {
    RopeRotatePair(x, i, half, cos_s, sin_s, dst);
  } else {
    const T x1 = x[i], x2 = x[i + half];
    dst[i] = x1;
    dst[i + half] = x2;
  }
}

}  // namespace gptoss::cuda
