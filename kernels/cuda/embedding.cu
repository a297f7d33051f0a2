// bf16_embedding: out[t,:] = table[ids[t],:]. One block per token row; an id outside [0, V)
// sets kErrEmbeddingId and yields a zero row (Synchronize reports it).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

template <typename TIn, typename TOut>
__global__ void bf16_embedding(const int32_t* __restrict__ ids, const TIn* __restrict__ table,
                               int64_t vocab, int64_t hidden, TOut* __restrict__ out,
                               int* error_flags) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  const bool valid = id >= 0 && id < vocab;
  if (!valid && threadIdx.x == 0) atomicOr(error_flags, kErrEmbeddingId);
  const TIn* src = table + (valid ? static_cast<int64_t>(id) * hidden : 0);
  TOut* dst = out + t * hidden;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x)
    dst[i] = FromFloat<TOut>(valid ? ToFloat(src[i]) : 0.0f);
}

}  // namespace

absl::Status LaunchEmbedding(const LaunchContext& ctx, const int32_t* ids, int64_t num_tokens,
                             const void* table, DType table_dtype, int64_t vocab, int64_t hidden,
                             void* out, DType out_dtype) {
  if (num_tokens == 0 || hidden == 0) return absl::OkStatus();
  if (num_tokens > 0x7fffffff) return absl::InvalidArgumentError("Embedding: too many rows");
  if (!IsFloatDType(out_dtype)) return absl::InvalidArgumentError("Embedding: unsupported out dtype");
  const bool ok = DispatchFloat(table_dtype, [&](auto tin) {
    using TIn = decltype(tin);
    DispatchFloat(out_dtype, [&](auto tout) {
      using TOut = decltype(tout);
      bf16_embedding<TIn, TOut><<<static_cast<unsigned>(num_tokens), 256, 0, ctx.stream>>>(
          ids, static_cast<const TIn*>(table), vocab, hidden, static_cast<TOut*>(out),
          ctx.error_flags);
    });
  });
  if (!ok) return absl::InvalidArgumentError("Embedding: unsupported table dtype");
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_embedding");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
