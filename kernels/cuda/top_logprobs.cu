// f32_top_logprobs: Ops::TopLogprobs on the GPU (CpuOps is the reference). One block per row:
// the row's max and log-sum-exp come from row_stats.cuh exactly as Sample computes them, then n
// (<= 20) rounds each find the next element in the order (logit descending, NaN lowest; id
// ascending), strictly after the previous one, so no set of taken ids is needed.
#include <cub/block/block_reduce.cuh>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/row_stats.cuh"

namespace gptoss::cuda {
namespace {

__global__ void __launch_bounds__(kRowThreads)
    f32_top_logprobs(const float* __restrict__ logits, int64_t vocab, int n, int32_t* ids,
                     float* logprobs) {
  using ReduceD = cub::BlockReduce<double, kRowThreads>;
  __shared__ typename ReduceD::TempStorage reduce_tmp;
  __shared__ float warp_v[32];
  __shared__ int64_t warp_i[32];
  __shared__ double logsum_s;
  const int64_t b = blockIdx.x;
  const float* l = logits + b * vocab;
  float v;
  int64_t i;
  RowArgBest(l, vocab, 0.0f, -1, warp_v, warp_i, &v, &i);
  const float mx = v;
  const double logsum = RowLogSumExp<ReduceD>(l, vocab, mx, reduce_tmp);
  if (threadIdx.x == 0) logsum_s = logsum;
  __syncthreads();
  for (int j = 0; j < n; ++j) {
    if (j > 0) RowArgBest(l, vocab, v, i, warp_v, warp_i, &v, &i);
    if (threadIdx.x == 0) {
      ids[b * n + j] = static_cast<int32_t>(i);
      logprobs[b * n + j] = static_cast<float>(static_cast<double>(l[i]) - mx - logsum_s);
    }
  }
}

}  // namespace

absl::Status LaunchTopLogprobs(const LaunchContext& ctx, const float* logits, int num_rows,
                               int64_t vocab, int n, int32_t* ids, float* logprobs) {
  if (num_rows == 0 || n == 0) return absl::OkStatus();
  if (n < 0 || n > vocab) return absl::InvalidArgumentError("TopLogprobs: n not in [0, vocab]");
  f32_top_logprobs<<<static_cast<unsigned>(num_rows), kRowThreads, 0, ctx.stream>>>(
      logits, vocab, n, ids, logprobs);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("f32_top_logprobs");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
