// LtGemm: the dense bf16 GEMMs of the model (QKV, O, router, lm_head) on cuBLASLt.
//   out[T,N] = x[T,K] · w[N,K]^T (+ bias[N]), x/w BF16, fp32 accumulation, out BF16 or F32.
// Row-major tensors are read as column-major: D[N,T] = op_T(W as [K,N]) · X as [K,T], so the
// bias epilogue (one value per row of D) is one value per output feature.
// Plans (descriptors + heuristic algorithm) are cached per (shape, dtypes, pointer alignment);
// the bias pointer is set per call. When cuBLASLt offers no bias epilogue for a combination
// (e.g. F32 output with a BF16 bias) the plan runs without it and a small kernel adds the bias.
// Contract: not thread-safe (one per CudaOps, which is single-stream). Capturable in CUDA graphs
// once a plan exists (the first call of a shape does host-only heuristics work).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "absl/status/statusor.h"
#include "kernels/core/dtype.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {

class LtGemm {
 public:
  static absl::StatusOr<std::unique_ptr<LtGemm>> Create(size_t workspace_bytes = size_t{32} << 20);
  ~LtGemm();

  absl::Status Run(const LaunchContext& ctx, const void* x, const void* w, const void* bias,
                   DType bias_dtype, void* out, DType out_dtype, int64_t rows, int64_t n,
                   int64_t k);

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool fused_bias = false;
  };
  // rows, n, k, out dtype, bias dtype (-1 none), alignment bits of the pointers.
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, int>;

  LtGemm() = default;
  absl::StatusOr<Plan*> GetPlan(const Key& key);
  // Replaces the key's plan by a plain GEMM (the bias then added by LaunchAddBias).
  absl::StatusOr<Plan*> ReplanWithoutBias(const Key& key);
  absl::Status BuildPlan(const Key& key, bool try_bias, Plan* plan);
  static void DestroyPlan(Plan& plan);

  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<Key, Plan> plans_;
};

}  // namespace gptoss::cuda
