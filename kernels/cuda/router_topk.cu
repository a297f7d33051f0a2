// f32_router_topk: per token, the top-k expert logits and the softmax over them
// (router_topk.cuh). One warp per token.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/router_topk.cuh"

namespace gptoss::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

__global__ void f32_router_topk(const float* __restrict__ logits, int64_t num_tokens, int experts,
                                int k, int32_t* __restrict__ ids, float* __restrict__ weights) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32;
  if (t >= num_tokens) return;
  WarpRouterTopK(logits + t * experts, experts, k, ids + t * k, weights + t * k);
}

}  // namespace

absl::Status LaunchRouterTopK(const LaunchContext& ctx, const float* logits, int64_t num_tokens,
                              int num_experts, int k, int32_t* ids, float* weights) {
  if (num_tokens == 0) return absl::OkStatus();
  if (k < 1 || k > num_experts || k > kRouterMaxK)
    return absl::InvalidArgumentError("RouterTopK: k must be in [1, min(experts, 32)]");
  const int64_t blocks = CeilDiv(num_tokens, kWarpsPerBlock);
  if (blocks > 0x7fffffff) return absl::InvalidArgumentError("RouterTopK: too many rows");
  f32_router_topk<<<static_cast<unsigned>(blocks), 32 * kWarpsPerBlock, 0, ctx.stream>>>(
      logits, num_tokens, num_experts, k, ids, weights);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("f32_router_topk");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
