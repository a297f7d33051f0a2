// Per-row statistics that Sample and TopLogprobs must compute identically (so that a sampled
// id's logprob equals its entry in the top logprobs): the arg-best of a row in the order
// (logit descending, NaN ranked lowest; id ascending), and log(sum exp(logit - max)) in double.
// One block of kRowThreads threads per row; the same loop and reduction order in both ops.
#pragma once

#include <cub/block/block_reduce.cuh>

#include <cstdint>

namespace gptoss::cuda {

constexpr int kRowThreads = 1024;

__device__ __forceinline__ float RankKey(float v) { return isnan(v) ? -INFINITY : v; }

// (v, i) comes before (w, j) in the row order.
__device__ __forceinline__ bool RowBefore(float v, int64_t i, float w, int64_t j) {
  return j < 0 || (i >= 0 && (v > w || (v == w && i < j)));
}

// The first element of row `l` in the row order that comes after (after_v, after_i) — the first
// element of all when after_i < 0. Every thread gets it in (best_v, best_i); best_i = -1 when
// there is none. `warp_v`/`warp_i` are shared arrays of 32.
__device__ __forceinline__ void RowArgBest(const float* l, int64_t vocab, float after_v,
                                           int64_t after_i, float* warp_v, int64_t* warp_i,
                                           float* best_v, int64_t* best_i) {
  float bv = -INFINITY;
  int64_t bi = -1;
  for (int64_t i = threadIdx.x; i < vocab; i += kRowThreads) {
    const float v = RankKey(l[i]);
    if (after_i >= 0 && !RowBefore(after_v, after_i, v, i)) continue;  // not after the last
    if (RowBefore(v, i, bv, bi)) bv = v, bi = i;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (oi >= 0 && RowBefore(ov, oi, bv, bi)) bv = ov, bi = oi;
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // the shared arrays may still be read by a previous call
  if (lane == 0) warp_v[warp] = bv, warp_i[warp] = bi;
  __syncthreads();
  float v = warp_v[0];
  int64_t i = warp_i[0];
  for (int w = 1; w < kRowThreads / 32; ++w)
    if (warp_i[w] >= 0 && RowBefore(warp_v[w], warp_i[w], v, i)) v = warp_v[w], i = warp_i[w];
  *best_v = v;
  *best_i = i;
}

// log(sum over the row of exp(RankKey(logit) - mx)), in double; valid in thread 0.
template <typename ReduceD>
__device__ __forceinline__ double RowLogSumExp(const float* l, int64_t vocab, float mx,
                                               typename ReduceD::TempStorage& tmp) {
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < vocab; i += kRowThreads)
    sum += exp(static_cast<double>(RankKey(l[i])) - mx);
  sum = ReduceD(tmp).Sum(sum);
  return log(sum);
}

}  // namespace gptoss::cuda
