// The per-token top-k of the router, shared by f32_router_topk (over logits in memory) and the
// fused router GEMV (over the logits its grid just wrote): torch.topk order (descending, ties to
// the lower expert id; NaN ranks below every number), then gpt-oss's softmax over the k selected
// logits only. One warp per token; k rounds of a warp-wide argmax. Logits are read with __ldcg
// (L2, not L1): in the fused kernel other blocks of the grid wrote them.
#pragma once

#include <cstdint>

namespace gptoss::cuda {

constexpr int kRouterMaxK = 32;

__device__ __forceinline__ float RouterRankKey(float v) { return isnan(v) ? -INFINITY : v; }

// True when (va, ia) ranks before (vb, ib).
__device__ __forceinline__ bool RouterBefore(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

// Called by all 32 lanes of a warp; lane 0 writes ids[0..k) and weights[0..k).
__device__ __forceinline__ void WarpRouterTopK(const float* l, int experts, int k, int32_t* ids,
                                               float* weights) {
  const int lane = threadIdx.x % 32;
  int chosen[kRouterMaxK];
  float top[kRouterMaxK];
  for (int j = 0; j < k; ++j) {
    float best_v = -INFINITY;
    int best_i = 0x7fffffff;
    for (int e = lane; e < experts; e += 32) {
      bool taken = false;
      for (int q = 0; q < j; ++q) taken |= (chosen[q] == e);
      if (taken) continue;
      const float v = RouterRankKey(__ldcg(l + e));
      if (best_i == 0x7fffffff || RouterBefore(v, e, best_v, best_i)) {
        best_v = v;
        best_i = e;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, best_v, o);
      const int oi = __shfl_xor_sync(0xffffffffu, best_i, o);
      if (oi != 0x7fffffff && (best_i == 0x7fffffff || RouterBefore(ov, oi, best_v, best_i))) {
        best_v = ov;
        best_i = oi;
      }
    }
    chosen[j] = best_i;
    top[j] = __ldcg(l + best_i);  // the raw logit (NaN stays NaN, as on the CPU)
  }
  if (lane != 0) return;
  // gpt-oss: softmax over the k selected logits only, relative to the largest.
  float sum = 0.0f;
  for (int j = 0; j < k; ++j) {
    top[j] = expf(top[j] - top[0]);
    sum += top[j];
  }
  for (int j = 0; j < k; ++j) {
    ids[j] = chosen[j];
    weights[j] = top[j] / sum;
  }
}

}  // namespace gptoss::cuda
