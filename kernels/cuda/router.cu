// bf16_router_gemv_topk: Ops::Router for decode-sized steps (a few rows) in one launch instead of
// a cuBLASLt GEMM and f32_router_topk. Each warp computes one expert's logit for every row
// (h staged in shared memory; the expert's bf16 weight row read once, in 16-byte loads), plus
// the bias, into `logits`; the last block of the grid to finish (a ticket on a device counter,
// after a fence) runs the router's top-k and softmax per row (router_topk.cuh) and resets the
// counter for the next launch, so the kernel replays in a CUDA graph.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/router_topk.cuh"

namespace gptoss::cuda {
namespace {

constexpr int kWarps = 4;  // one expert per warp
constexpr int kMaxRows = 8;
constexpr int kUnroll = 4;
constexpr size_t kMaxSharedBytes = 200 * 1024;

__global__ void __launch_bounds__(kWarps * 32)
    bf16_router_gemv_topk(RouterArgs a, unsigned* counter) {
  extern __shared__ uint4 h_s[];  // [rows][hidden / 8] (8 bf16 per uint4)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int chunks = static_cast<int>(a.hidden / 8);
  for (int i = threadIdx.x; i < a.rows * chunks; i += blockDim.x)
    h_s[i] = reinterpret_cast<const uint4*>(a.h)[i];
  __syncthreads();

  const int e = blockIdx.x * kWarps + warp;
  if (e < a.experts) {
    const uint4* w = reinterpret_cast<const uint4*>(a.w) + static_cast<int64_t>(e) * chunks;
    float acc[kMaxRows] = {};
    for (int c0 = lane; c0 < chunks; c0 += 32 * kUnroll) {
      uint4 wv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = c0 + 32 * u;
        wv[u] = c < chunks ? __ldg(w + c) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = c0 + 32 * u;
        if (c >= chunks) break;
        const bf16* wb = reinterpret_cast<const bf16*>(&wv[u]);
#pragma unroll
        for (int r = 0; r < kMaxRows; ++r) {
          if (r >= a.rows) break;
          const uint4 hv = h_s[r * chunks + c];
          const bf16* hb = reinterpret_cast<const bf16*>(&hv);
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[r] += __bfloat162float(wb[i]) * __bfloat162float(hb[i]);
        }
      }
    }
    const float bias = a.bias == nullptr ? 0.0f
                       : a.bias_bf16     ? __bfloat162float(static_cast<const bf16*>(a.bias)[e])
                                         : static_cast<const float*>(a.bias)[e];
#pragma unroll
    for (int r = 0; r < kMaxRows; ++r) {
      if (r >= a.rows) break;
      const float v = WarpSum(acc[r]);
      if (lane == 0) a.logits[static_cast<int64_t>(r) * a.experts + e] = v + bias;
    }
  }

  // The last block to finish sees every logit of the grid and routes the rows.
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  for (int r = warp; r < a.rows; r += kWarps)
    WarpRouterTopK(a.logits + static_cast<int64_t>(r) * a.experts, a.experts, a.k,
                   a.ids + r * a.k, a.weights + r * a.k);
  if (threadIdx.x == 0) *counter = 0;
}

}  // namespace

bool RouterGemvApplies(const RouterArgs& a, int64_t max_rows) {
  return a.rows >= 1 && a.rows <= max_rows && a.rows <= kMaxRows && a.hidden % 8 == 0 &&
         a.hidden > 0 && a.experts >= 1 && a.k >= 1 && a.k <= a.experts &&
         a.k <= kRouterMaxK &&
         static_cast<size_t>(a.rows) * a.hidden * sizeof(bf16) <= kMaxSharedBytes &&
         reinterpret_cast<uintptr_t>(a.h) % 16 == 0 && reinterpret_cast<uintptr_t>(a.w) % 16 == 0;
}

absl::Status LaunchRouterGemvTopK(const LaunchContext& ctx, const RouterArgs& a) {
  if (!RouterGemvApplies(a, a.rows))
    return absl::InvalidArgumentError("Router: shapes outside the fused router's range");
  if (ctx.grid_counter == nullptr)
    return absl::FailedPreconditionError("Router: no grid counter in the launch context");
  const size_t bytes = static_cast<size_t>(a.rows) * a.hidden * sizeof(bf16);
  GPTOSS_RETURN_IF_ERROR(AllowLargeSharedMemory(
      reinterpret_cast<const void*>(bf16_router_gemv_topk), static_cast<int>(kMaxSharedBytes)));
  const unsigned blocks = static_cast<unsigned>(CeilDiv(a.experts, kWarps));
  bf16_router_gemv_topk<<<blocks, kWarps * 32, bytes, ctx.stream>>>(a, ctx.grid_counter);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_router_gemv_topk");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
