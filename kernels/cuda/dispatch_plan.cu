// plan_dispatch: Ops::PlanDispatch on the device. One block per destination rank scans the
// tokens in order (a block-wide prefix sum over "has an expert on this rank"), so the slots list
// each rank's tokens ascending exactly as CpuOps does, and pads the rest with -1. The plan never
// leaves the device: a decode step's dispatch needs no host round trip and replays in a graph.
#include <cub/block/block_scan.cuh>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void plan_dispatch(const int32_t* __restrict__ ids, int64_t tokens, int64_t k,
                              int experts_per_rank, int32_t* __restrict__ slots,
                              int64_t capacity) {
  using Scan = cub::BlockScan<int, kThreads>;
  __shared__ typename Scan::TempStorage scan;
  const int64_t lo = static_cast<int64_t>(blockIdx.x) * experts_per_rank;
  const int64_t hi = lo + experts_per_rank;
  int32_t* row = slots + static_cast<int64_t>(blockIdx.x) * capacity;
  int64_t used = 0;
  for (int64_t start = 0; start < tokens; start += kThreads) {
    const int64_t t = start + threadIdx.x;
    int needs = 0;
    if (t < tokens)
      for (int64_t j = 0; j < k; ++j) {
        const int64_t e = ids[t * k + j];
        needs |= e >= lo && e < hi;
      }
    int at = 0, total = 0;
    Scan(scan).ExclusiveSum(needs, at, total);
    if (needs) row[used + at] = static_cast<int32_t>(t);
    used += total;
    __syncthreads();  // the scan's shared storage is reused by the next chunk
  }
  for (int64_t j = used + threadIdx.x; j < capacity; j += kThreads) row[j] = -1;
}

}  // namespace

absl::Status LaunchPlanDispatch(const LaunchContext& ctx, const int32_t* ids, int64_t tokens,
                                int64_t k, int experts_per_rank, int32_t* slots, int64_t world,
                                int64_t capacity) {
  if (world == 0 || capacity == 0) return absl::OkStatus();
  if (world > 0x7fffffff) return absl::InvalidArgumentError("PlanDispatch: world too large");
  plan_dispatch<<<static_cast<unsigned>(world), kThreads, 0, ctx.stream>>>(
      ids, tokens, k, experts_per_rank, slots, capacity);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("plan_dispatch");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
