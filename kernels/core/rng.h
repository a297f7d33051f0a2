// Counter-based randomness for sampling: a pure function of (seed, step), identical on CPU and
// GPU, so a request's draws do not depend on batching, rank or backend.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define GPTOSS_HD __host__ __device__
#else
#define GPTOSS_HD
#endif

namespace gptoss {

GPTOSS_HD inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 24 random bits (exactly representable as float).
GPTOSS_HD inline float UniformFromSeed(uint64_t seed, uint64_t step) {
  const uint64_t r = SplitMix64(SplitMix64(seed) ^ (step * 0xd1b54a32d192ed03ull));
  return static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
}

}  // namespace gptoss
