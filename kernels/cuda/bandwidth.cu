// Measurement kernels of gptoss-bench. HBM bandwidth probes: a streaming copy (read + write) and
// a streaming read (reduced into a checksum so the loads cannot be elided), both with 16-byte
// vector accesses and a grid-stride loop sized to fill every SM. And a hold: one thread that
// spins on the global timer, so that the host can queue a step's kernels behind it and eager
// per-op timing (--breakdown) measures the kernels, not their launch latency.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

__global__ void u128_copy(const uint4* __restrict__ src, uint4* __restrict__ dst, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    dst[i] = src[i];
}

__global__ void u128_read(const uint4* __restrict__ src, int64_t n, unsigned long long* sink) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  unsigned int acc = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride) {
    const uint4 v = src[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  // Practically never true; keeps the loads live without a reduction's cost.
  if (acc == 0x9e3779b9u) atomicAdd(sink, 1ull);
}

__global__ void hold(int64_t nanoseconds) {
  uint64_t start;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  for (;;) {
    uint64_t now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    if (now - start >= static_cast<uint64_t>(nanoseconds)) break;
    __nanosleep(10000);
  }
}

}  // namespace

absl::Status LaunchHoldKernel(const LaunchContext& ctx, int64_t nanoseconds) {
  if (nanoseconds <= 0) return absl::OkStatus();
  hold<<<1, 1, 0, ctx.stream>>>(nanoseconds);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("hold");
  return absl::OkStatus();
}

absl::Status LaunchCopyKernel(const LaunchContext& ctx, const void* src, void* dst, size_t bytes) {
  if (bytes % 16 || reinterpret_cast<uintptr_t>(src) % 16 || reinterpret_cast<uintptr_t>(dst) % 16)
    return absl::InvalidArgumentError("copy probe: sizes and pointers must be 16-byte aligned");
  const int64_t n = static_cast<int64_t>(bytes / 16);
  u128_copy<<<8 * ctx.num_sms, 512, 0, ctx.stream>>>(static_cast<const uint4*>(src),
                                                      static_cast<uint4*>(dst), n);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("u128_copy");
  return absl::OkStatus();
}

absl::Status LaunchReadKernel(const LaunchContext& ctx, const void* src, size_t bytes,
                              unsigned long long* sink) {
  if (bytes % 16 || reinterpret_cast<uintptr_t>(src) % 16)
    return absl::InvalidArgumentError("read probe: sizes and pointers must be 16-byte aligned");
  const int64_t n = static_cast<int64_t>(bytes / 16);
  u128_read<<<8 * ctx.num_sms, 512, 0, ctx.stream>>>(static_cast<const uint4*>(src), n, sink);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("u128_read");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
