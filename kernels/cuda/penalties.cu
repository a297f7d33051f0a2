// f32_apply_penalties: Ops::ApplyPenalties on the GPU (CpuOps is the reference). One thread per
// listed (row, id): ids are unique within a row, so no two threads touch the same logit.
// The arithmetic is spelled with _rn intrinsics so that nvcc cannot contract it into an FMA:
// the result must be bit-identical to the CPU's separately rounded float operations.
// Ids outside [-1, vocab) are skipped (the engine builds these lists; the CPU reference checks
// them on the host, which device memory does not allow without a copy).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

__global__ void f32_apply_penalties(float* logits, int64_t vocab, const int32_t* tokens,
                                    const int32_t* counts, int64_t width,
                                    const DevicePenaltyParams* params, int64_t total) {
  const int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (k >= total) return;
  const int64_t b = k / width;
  const int32_t id = tokens[k];
  if (id < 0 || id >= vocab) return;
  const DevicePenaltyParams p = params[b];
  float l = logits[b * vocab + id];
  // repetition (HF/CTRL): over every seen token
  if (p.repetition != 1.0f) l = l > 0.0f ? __fdiv_rn(l, p.repetition) : __fmul_rn(l, p.repetition);
  // presence/frequency (OpenAI): over completion tokens
  const int32_t count = counts[k];
  if (count > 0)
    l = __fsub_rn(l, __fadd_rn(__fmul_rn(p.frequency, static_cast<float>(count)), p.presence));
  logits[b * vocab + id] = l;
}

}  // namespace

absl::Status LaunchApplyPenalties(const LaunchContext& ctx, float* logits, int num_rows,
                                  int64_t vocab, const int32_t* tokens, const int32_t* counts,
                                  int64_t width, const std::vector<DevicePenaltyParams>& params) {
  const int64_t total = static_cast<int64_t>(num_rows) * width;
  if (total == 0) return absl::OkStatus();
  if (static_cast<int>(params.size()) != num_rows)
    return absl::InvalidArgumentError("ApplyPenalties: params/rows mismatch");
  StreamScratch scratch(ctx.stream);
  GPTOSS_ASSIGN_OR_RETURN(auto* params_d, scratch.GetAs<DevicePenaltyParams>(num_rows));
  // Pageable source: consumed when cudaMemcpyAsync returns (not capturable, like Sample).
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(params_d, params.data(),
                                              params.size() * sizeof(DevicePenaltyParams),
                                              cudaMemcpyHostToDevice, ctx.stream));
  const int threads = 256;
  f32_apply_penalties<<<static_cast<unsigned>(CeilDiv(total, threads)), threads, 0, ctx.stream>>>(
      logits, vocab, tokens, counts, width, params_d, total);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("f32_apply_penalties");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
