// f32_router_topk: per token, the top-k expert logits (torch.topk order: descending, ties to the
// lower expert id; NaN ranks below every number), then gpt-oss's softmax over the k selected
// logits only. One warp per token; k rounds of a warp-wide argmax.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

constexpr int kMaxK = 32;
constexpr int kWarpsPerBlock = 4;

__device__ __forceinline__ float RankKey(float v) { return isnan(v) ? -INFINITY : v; }

// True when (va, ia) ranks before (vb, ib).
__device__ __forceinline__ bool Before(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

__global__ void f32_router_topk(const float* __restrict__ logits, int64_t num_tokens, int experts,
                                int k, int32_t* __restrict__ ids, float* __restrict__ weights) {
  const int lane = threadIdx.x % 32;
  const int64_t t = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / 32;
  if (t >= num_tokens) return;
  const float* l = logits + t * experts;
  int chosen[kMaxK];
  float top[kMaxK];
  for (int j = 0; j < k; ++j) {
    float best_v = -INFINITY;
    int best_i = 0x7fffffff;
    for (int e = lane; e < experts; e += 32) {
      bool taken = false;
      for (int q = 0; q < j; ++q) taken |= (chosen[q] == e);
      if (taken) continue;
      const float v = RankKey(l[e]);
      if (best_i == 0x7fffffff || Before(v, e, best_v, best_i)) {
        best_v = v;
        best_i = e;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, best_v, o);
      const int oi = __shfl_xor_sync(0xffffffffu, best_i, o);
      if (oi != 0x7fffffff && (best_i == 0x7fffffff || Before(ov, oi, best_v, best_i))) {
        best_v = ov;
        best_i = oi;
      }
    }
    chosen[j] = best_i;
    top[j] = l[best_i];  // the raw logit (NaN stays NaN, as on the CPU)
  }
  if (lane != 0) return;
  // gpt-oss: softmax over the k selected logits only, relative to the largest.
  float sum = 0.0f;
  for (int j = 0; j < k; ++j) {
    top[j] = expf(top[j] - top[0]);
    sum += top[j];
  }
  for (int j = 0; j < k; ++j) {
    ids[t * k + j] = chosen[j];
    weights[t * k + j] = top[j] / sum;
  }
}

}  // namespace

absl::Status LaunchRouterTopK(const LaunchContext& ctx, const float* logits, int64_t num_tokens,
                              int num_experts, int k, int32_t* ids, float* weights) {
  if (num_tokens == 0) return absl::OkStatus();
  if (k < 1 || k > num_experts || k > kMaxK)
    return absl::InvalidArgumentError("RouterTopK: k must be in [1, min(experts, 32)]");
  const int64_t blocks = CeilDiv(num_tokens, kWarpsPerBlock);
  if (blocks > 0x7fffffff) return absl::InvalidArgumentError("RouterTopK: too many rows");
  f32_router_topk<<<static_cast<unsigned>(blocks), 32 * kWarpsPerBlock, 0, ctx.stream>>>(
      logits, num_tokens, num_experts, k, ids, weights);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("f32_router_topk");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
