// f32_sample: Ops::Sample on the GPU, step for step the procedure documented in kernels/ops.h
// (CpuOps is the reference):
//  - f32_sample_stats (one block per row): max, log-sum-exp (double) and the greedy argmax
//    (lowest id on ties; NaN ranks below -inf), by row_stats.cuh exactly as TopLogprobs computes
//    them. Greedy rows are finished here.
//  - Stochastic rows only: f32_sample_prepare writes z = logit / temperature and ids, a CUB
//    segmented radix sort orders each row by z descending (stable, so ties stay in ascending id
//    order), and f32_sample_draw (one block per row) applies top_k, the softmax relative to the
//    largest z (double), top_p, min_p, and the inverse-CDF draw with the host-drawn uniform.
// Summation order differs from the CPU's sequential loop, so a draw that lands within ~1e-15 of
// a cumulative boundary may differ; everything else is the same decision.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <algorithm>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/row_stats.cuh"

namespace gptoss::cuda {
namespace {

constexpr int kThreads = kRowThreads;

__global__ void __launch_bounds__(kThreads)
    f32_sample_stats(const float* __restrict__ logits, int64_t vocab,
                     const DeviceSamplingParams* __restrict__ params, float* row_max,
                     double* row_logsum, int32_t* ids, float* logprobs) {
  using ReduceD = cub::BlockReduce<double, kThreads>;
  __shared__ typename ReduceD::TempStorage reduce_tmp;
  __shared__ float warp_v[32];
  __shared__ int64_t warp_i[32];
  const int64_t b = blockIdx.x;
  const float* l = logits + b * vocab;
  // Argmax (and max) with ties to the lowest id; the same statistics as TopLogprobs.
  float mx;
  int64_t arg;
  RowArgBest(l, vocab, 0.0f, -1, warp_v, warp_i, &mx, &arg);
  const double logsum = RowLogSumExp<ReduceD>(l, vocab, mx, reduce_tmp);
  if (threadIdx.x == 0) {
    row_max[b] = mx;
    row_logsum[b] = logsum;
    if (params[b].temperature <= 0.0f) {  // step 1: greedy
      ids[b] = static_cast<int32_t>(arg);
      logprobs[b] = static_cast<float>(static_cast<double>(l[arg]) - mx - logsum);
    }
  }
}

__global__ void f32_sample_prepare(const float* __restrict__ logits, int64_t vocab,
                                   const int32_t* __restrict__ rows,
                                   const DeviceSamplingParams* __restrict__ params, int num_rows,
                                   float* keys, int32_t* vals, int32_t* offsets) {
  const int j = blockIdx.y;
  const int b = rows[j];
  const float temperature = params[b].temperature;
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    offsets[j] = static_cast<int32_t>(j * vocab);
    if (j == num_rows - 1) offsets[num_rows] = static_cast<int32_t>(num_rows * vocab);
  }
  if (i >= vocab) return;
  // Step 2: z = logit / temperature; + 0.0f folds -0 into +0 so the sort ties them like the CPU.
  keys[j * vocab + i] = RankKey(logits[b * vocab + i]) / temperature + 0.0f;
  vals[j * vocab + i] = static_cast<int32_t>(i);
}

__global__ void __launch_bounds__(kThreads)
    f32_sample_draw(const float* __restrict__ keys, const int32_t* __restrict__ vals,
                    int64_t vocab, const int32_t* __restrict__ rows,
                    const DeviceSamplingParams* __restrict__ params,
                    const float* __restrict__ logits, const float* __restrict__ row_max,
                    const double* __restrict__ row_logsum, int32_t* ids, float* logprobs) {
  using ScanD = cub::BlockScan<double, kThreads>;
  using ReduceD = cub::BlockReduce<double, kThreads>;
  using ReduceI = cub::BlockReduce<long long, kThreads>;
  __shared__ union {
    typename ScanD::TempStorage scan;
    typename ReduceD::TempStorage reduce_d;
    typename ReduceI::TempStorage reduce_i;
  } tmp;
  __shared__ double bcast_d;
  __shared__ long long bcast_i;
  constexpr long long kNone = 0x7fffffffffffffffLL;

  const int j = blockIdx.x;
  const int b = rows[j];
  const DeviceSamplingParams prm = params[b];
  const float* z = keys + j * vocab;
  const int32_t* order = vals + j * vocab;
  const int tid = threadIdx.x;

  // Block-wide sum of f(i) over i < n (every thread gets it).
  auto block_sum = [&](long long n, auto f) {
    double s = 0.0;
    for (long long i = tid; i < n; i += kThreads) s += f(i);
    s = ReduceD(tmp.reduce_d).Sum(s);
    if (tid == 0) bcast_d = s;
    __syncthreads();
    const double r = bcast_d;
    __syncthreads();
    return r;
  };
  // The block's smallest candidate, on every thread.
  auto block_min = [&](long long cand) {
    cand = ReduceI(tmp.reduce_i).Reduce(cand, [](long long a, long long x) { return a < x ? a : x; });
    if (tid == 0) bcast_i = cand;
    __syncthreads();
    const long long r = bcast_i;
    __syncthreads();
    return r;
  };
  // Smallest i < n with pred(i) (kNone if none); chunks walk in order and stop early.
  auto first_where = [&](long long start, long long n, auto pred) {
    for (long long c = start; c < n; c += kThreads) {
      const long long i = c + tid;
      const long long r = block_min((i < n && pred(i)) ? i : kNone);
      if (r != kNone) return r;
    }
    return kNone;
  };
  // Smallest i < n whose inclusive running sum of f reaches the predicate (in sorted order).
  auto first_cumulative = [&](long long n, auto f, auto pred) {
    double carry = 0.0;
    for (long long c = 0; c < n; c += kThreads) {
      const long long i = c + tid;
      const double v = i < n ? f(i) : 0.0;
      double incl;
      double chunk_total;
      ScanD(tmp.scan).InclusiveSum(v, incl, chunk_total);
      __syncthreads();
      incl += carry;
      const long long r = block_min((i < n && pred(incl)) ? i : kNone);
      if (r != kNone) return r;
      carry += chunk_total;
    }
    return kNone;
  };

  // Step 3: top_k.
  long long kept = (prm.top_k > 0 && prm.top_k < vocab) ? prm.top_k : vocab;
  // Step 4: softmax over the kept candidates relative to the largest z (double).
  const float z0 = z[0];
  auto weight = [&](long long i) -> double {
    const float zi = z[i];
    return (isinf(z0) && zi == z0) ? 1.0 : exp(static_cast<double>(zi) - static_cast<double>(z0));
  };
  const double total = block_sum(kept, weight);
  auto prob = [&](long long i) -> double { return weight(i) / total; };
  // Step 5: top_p -- the shortest prefix whose cumulative probability reaches top_p.
  if (prm.top_p < 1.0f) {
    const double top_p = prm.top_p;
    const long long hit = first_cumulative(kept, prob, [&](double c) { return c >= top_p; });
    if (hit != kNone) kept = hit + 1;
    kept = kept < 1 ? 1 : kept;
  }
  // Step 6: min_p relative to the most likely candidate.
  if (prm.min_p > 0.0f) {
    const double threshold = static_cast<double>(prm.min_p) * prob(0);
    const long long cut = first_where(1, kept, [&](long long i) { return prob(i) < threshold; });
    if (cut != kNone) kept = cut;
  }
  // Step 7: inverse-CDF draw over the kept candidates.
  const double kept_total = block_sum(kept, prob);
  const double target = static_cast<double>(prm.uniform) * kept_total;
  long long pick = first_cumulative(kept, prob, [&](double c) { return c > target; });
  if (pick == kNone) pick = kept - 1;
  if (tid == 0) {
    const int32_t id = order[pick];
    ids[b] = id;
    logprobs[b] = static_cast<float>(static_cast<double>(logits[b * vocab + id]) - row_max[b] -
                                     row_logsum[b]);
  }
}

}  // namespace

absl::Status LaunchSample(const LaunchContext& ctx, const float* logits, int num_rows,
                          int64_t vocab, const std::vector<DeviceSamplingParams>& params,
                          int32_t* ids, float* logprobs) {
  if (num_rows == 0) return absl::OkStatus();
  if (vocab <= 0 || static_cast<int>(params.size()) != num_rows)
    return absl::InvalidArgumentError("Sample: empty vocabulary or params/rows mismatch");
  std::vector<int32_t> stochastic;
  for (int b = 0; b < num_rows; ++b)
    if (params[b].temperature > 0.0f) stochastic.push_back(b);
  const int num_stochastic = static_cast<int>(stochastic.size());
  if (static_cast<int64_t>(num_stochastic) * vocab > 0x7fffffff)
    return absl::InvalidArgumentError("Sample: too many stochastic rows x vocab for one sort");

  StreamScratch scratch(ctx.stream);
  GPTOSS_ASSIGN_OR_RETURN(auto* params_d, scratch.GetAs<DeviceSamplingParams>(num_rows));
  GPTOSS_ASSIGN_OR_RETURN(auto* row_max, scratch.GetAs<float>(num_rows));
  GPTOSS_ASSIGN_OR_RETURN(auto* row_logsum, scratch.GetAs<double>(num_rows));
  // Pageable source: cudaMemcpyAsync has consumed it when it returns (not capturable; Sample
  // is never part of a CUDA graph).
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(params_d, params.data(),
                                       params.size() * sizeof(DeviceSamplingParams),
                                       cudaMemcpyHostToDevice, ctx.stream));
  f32_sample_stats<<<static_cast<unsigned>(num_rows), kThreads, 0, ctx.stream>>>(
      logits, vocab, params_d, row_max, row_logsum, ids, logprobs);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("f32_sample_stats");
  if (num_stochastic == 0) return absl::OkStatus();

  const int64_t n = static_cast<int64_t>(num_stochastic) * vocab;
  GPTOSS_ASSIGN_OR_RETURN(auto* rows_d, scratch.GetAs<int32_t>(num_stochastic));
  GPTOSS_ASSIGN_OR_RETURN(auto* offsets, scratch.GetAs<int32_t>(num_stochastic + 1));
  GPTOSS_ASSIGN_OR_RETURN(auto* keys_in, scratch.GetAs<float>(n));
  GPTOSS_ASSIGN_OR_RETURN(auto* keys_out, scratch.GetAs<float>(n));
  GPTOSS_ASSIGN_OR_RETURN(auto* vals_in, scratch.GetAs<int32_t>(n));
  GPTOSS_ASSIGN_OR_RETURN(auto* vals_out, scratch.GetAs<int32_t>(n));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(rows_d, stochastic.data(), stochastic.size() * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, ctx.stream));
  const dim3 prep_grid(static_cast<unsigned>(CeilDiv(vocab, 256)),
                       static_cast<unsigned>(num_stochastic));
  if (num_stochastic > 65535) return absl::InvalidArgumentError("Sample: too many rows");
  f32_sample_prepare<<<prep_grid, 256, 0, ctx.stream>>>(logits, vocab, rows_d, params_d,
                                                         num_stochastic, keys_in, vals_in, offsets);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("f32_sample_prepare");
  size_t temp_bytes = 0;
  GPTOSS_CUDA_RETURN_IF_ERROR(cub::DeviceSegmentedRadixSort::SortPairsDescending(
      nullptr, temp_bytes, keys_in, keys_out, vals_in, vals_out, static_cast<int>(n),
      num_stochastic, offsets, offsets + 1, 0, 32, ctx.stream));
  GPTOSS_ASSIGN_OR_RETURN(void* temp, scratch.Get(std::max<size_t>(temp_bytes, 1)));
  GPTOSS_CUDA_RETURN_IF_ERROR(cub::DeviceSegmentedRadixSort::SortPairsDescending(
      temp, temp_bytes, keys_in, keys_out, vals_in, vals_out, static_cast<int>(n), num_stochastic,
      offsets, offsets + 1, 0, 32, ctx.stream));
  f32_sample_draw<<<static_cast<unsigned>(num_stochastic), kThreads, 0, ctx.stream>>>(
      keys_out, vals_out, vocab, rows_d, params_d, logits, row_max, row_logsum, ids, logprobs);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("f32_sample_draw");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
