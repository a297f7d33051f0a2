// The values of synthetic weights: a pure function of (tensor fill plan, element index), computed
// identically on the host and on the GPU, equal byte for byte to what the checkpoint generator
// (worker/model/checkpoint_writer.cc) writes for the same seed. This lets gptoss-bench build the
// 20b/120b models directly in GPU memory (kernels/cuda/synthetic_fill.cu) with no 65 GB file,
// and tests/worker/synthetic_weights_test.cc checks the equality against a generated checkpoint.
//
// Element formulas (SplitMix64 counters from kernels/core/rng.h):
//  - BF16 "gaussian": r = SplitMix64(key + i); s = sum of r's four 16-bit words - 131070
//    (Irwin-Hall); value = bf16(float(mean + s * scale)) with each double operation rounded
//    separately (no FMA), float conversion and bf16 rounding both to nearest-even.
//  - MXFP4 code bytes: byte j = bits [8*(j%8), 8*(j%8)+8) of SplitMix64(key + j/8).
//  - E8M0 scale bytes: clamp(127 + exponent + {-1,0,0,1}[same byte & 3], 1, 254).
// Header-only, no CUDA dependency: the CPU build uses it too.
#pragma once

#include <cstdint>

#include "kernels/core/dtype.h"
#include "kernels/core/rng.h"

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#endif

namespace gptoss {

struct SyntheticFill {
  enum Kind : int32_t { kGaussianBf16 = 0, kMxfp4Codes = 1, kE8M0Scales = 2 };
  Kind kind = kGaussianBf16;
  int32_t exponent = 0;  // kE8M0Scales: base exponent of 2
  uint64_t key = 0;      // per-tensor stream: SplitMix64(SplitMix64(seed) ^ FNV-1a(name))
  double mean = 0.0;     // kGaussianBf16
  double scale = 0.0;    // kGaussianBf16: sigma * sqrt(3 / (2^32 - 1))
};

GPTOSS_HD inline uint16_t SyntheticBf16(const SyntheticFill& f, uint64_t i) {
  const uint64_t r = SplitMix64(f.key + i);
  const int64_t s = static_cast<int64_t>((r & 0xffff) + ((r >> 16) & 0xffff) +
                                         ((r >> 32) & 0xffff) + (r >> 48)) -
                    131070;
#if defined(__CUDA_ARCH__)
  // Explicit round-to-nearest intrinsics: nvcc would otherwise contract a*b+c into an FMA.
  const double v = __dadd_rn(f.mean, __dmul_rn(static_cast<double>(s), f.scale));
  const __nv_bfloat16 b = __float2bfloat16_rn(__double2float_rn(v));
  return *reinterpret_cast<const uint16_t*>(&b);
#else
  const double product = static_cast<double>(s) * f.scale;
  const double v = f.mean + product;
  return F32ToBf16(static_cast<float>(v));
#endif
}

GPTOSS_HD inline uint8_t SyntheticByte(const SyntheticFill& f, uint64_t j) {
  const uint8_t byte = static_cast<uint8_t>(SplitMix64(f.key + j / 8) >> (8 * (j % 8)));
  if (f.kind == SyntheticFill::kMxfp4Codes) return byte;  // two E2M1 codes, any value is valid
  // E8M0: 2^(s-127); 255 would be NaN, so stay in [1, 254].
  const int offset = (byte & 3) == 0 ? -1 : (byte & 3) == 3 ? 1 : 0;
  int s = 127 + f.exponent + offset;
  s = s < 1 ? 1 : (s > 254 ? 254 : s);
  return static_cast<uint8_t>(s);
}

}  // namespace gptoss
