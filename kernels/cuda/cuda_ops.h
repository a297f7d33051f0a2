// CudaOps: kernels/ops.h on one NVIDIA GPU (sm_90a). bf16 activations, fp32 accumulation.
//
// Contract (in addition to Ops'):
//  - Every TensorView must be device memory (Device::kCuda), metadata included; shapes and
//    dtypes are checked on the host and a mismatch is InvalidArgument naming the argument.
//  - Ops are asynchronous on the object's own stream. Errors only the device can see (an id
//    outside the vocabulary, a KV slot outside the cache, an attended block that is released)
//    are recorded in a device error word, the offending access is skipped, and the next
//    Synchronize() or CopyToHost() returns InvalidArgument describing them (and clears them).
//  - Allocate() is cudaMalloc + zero fill; it refuses to run while the stream is being captured
//    into a CUDA graph (warm a shape up eagerly first: see cuda_graph.h).
//  - Not thread-safe: one CudaOps per thread / worker.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/launchers.h"
#include "kernels/ops.h"

namespace gptoss::cuda {

class LtGemm;

class CudaOps final : public Ops {
 public:
  // Fails with Unavailable (and a reason) when no usable sm_90 device exists.
  static absl::StatusOr<std::unique_ptr<CudaOps>> Create(int device_ordinal = 0);
  ~CudaOps() override;

  Device device() const override { return Device::kCuda; }
  DType activation_dtype() const override { return DType::kBF16; }
  absl::Status Synchronize() override;

  absl::StatusOr<std::shared_ptr<void>> Allocate(size_t bytes) override;
  absl::Status CopyFromHost(void* device_dst, const void* host_src, size_t bytes) override;
  absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes) override;

  absl::Status Copy(const TensorView& src, TensorView dst) override;
  absl::Status CopyColumns(const TensorView& src, int64_t first, TensorView dst) override;
  absl::StatusOr<std::unique_ptr<OpTimer>> CreateTimer() override;
  absl::Status Zero(TensorView t) override;
  absl::Status PlanDispatch(const TensorView& expert_ids, int experts_per_rank,
                            TensorView slots) override;
  absl::Status PackRows(const std::vector<TensorView>& srcs, const TensorView& index,
                        TensorView dst) override;
  absl::Status ScatterAddRows(const TensorView& src, const TensorView& index,
                              TensorView dst) override;
  absl::Status Embedding(const TensorView& ids, const TensorView& table, TensorView out) override;
  absl::Status RmsNorm(const TensorView& x, const TensorView& weight, float eps,
                       TensorView out) override;
  absl::Status Linear(const TensorView& x, const TensorView& w, const TensorView& bias,
                      TensorView out) override;
  absl::Status RopeYarn(TensorView q, TensorView k, const TensorView& positions,
                        const RopeTable& rope) override;
  absl::Status AppendKv(const TensorView& k, const TensorView& v, const TensorView& slots,
                        KvLayerView cache) override;
  absl::Status AttentionWithSinks(const TensorView& q, const KvLayerView& cache,
                                  const TensorView& sinks, const AttentionBatch& batch, int window,
                                  float scale, TensorView out) override;
  absl::Status RouterTopK(const TensorView& logits, int k, TensorView expert_ids,
                          TensorView expert_weights) override;
  absl::Status MoeMlp(const TensorView& x, const TensorView& expert_ids,
                      const ExpertWeights& experts, TensorView out) override;
  absl::Status MoeCombine(const TensorView& rows, const TensorView& weights,
                          TensorView residual) override;
  absl::Status AddInPlace(const TensorView& x, TensorView residual) override;
  absl::Status Sample(const TensorView& logits, const std::vector<SamplingParams>& params,
                      TensorView ids, TensorView logprobs) override;
  absl::Status ApplyPenalties(TensorView logits, const TensorView& tokens,
                              const TensorView& counts,
                              const std::vector<PenaltyParams>& params) override;
  absl::Status TopLogprobs(const TensorView& logits, TensorView ids,
                           TensorView logprobs) override;
  absl::Status AddRmsNorm(const TensorView& x, TensorView residual, const TensorView& weight,
                          float eps, TensorView out) override;
  absl::Status RopeAppendKv(TensorView q, TensorView k, const TensorView& v,
                            const TensorView& positions, const RopeTable& rope,
                            const TensorView& slots, KvLayerView cache) override;
  absl::Status QkvRopeAppendKv(const TensorView& qkv, TensorView q_out, TensorView k, TensorView v,
                               const TensorView& positions, const RopeTable& rope,
                               const TensorView& slots, KvLayerView cache) override;
  absl::Status Router(const TensorView& h, const TensorView& w, const TensorView& bias, int k,
                      TensorView logits, TensorView expert_ids,
                      TensorView expert_weights) override;
  absl::Status MoeExperts(const TensorView& x, const TensorView& expert_ids,
                          const TensorView& expert_weights, const ExpertWeights& experts,
                          TensorView rows, TensorView residual) override;

  // Kernel choices for the same math. The first GPU runs measure them side by side
  // (gptoss-bench --kernels baseline,fused); each is tested against CpuOps.
  struct Kernels {
    // AddRmsNorm, RopeAppendKv and QkvRopeAppendKv as one kernel each, and Router on at most
    // 8 rows as one GEMV + top-k launch (false: Ops' compositions of the unfused ops).
    bool fused = true;
    // MoeExperts on at most this many rows runs the MXFP4 GEMVs with the combine fused into
    // down (moe_gemv.cu); more rows, or 0, run the grouped GEMM (moe_mlp.cu) and MoeCombine.
    int moe_gemv_max_rows = 8;
  };
  // "fused" (the default above) or "baseline" (no fused kernel: the ops as first written).
  static absl::StatusOr<Kernels> KernelsByName(std::string_view name);
  void set_kernels(const Kernels& kernels) { kernels_ = kernels; }
  const Kernels& kernels() const { return kernels_; }

  // --- CUDA-specific ---
  cudaStream_t stream() const { return ctx_.stream; }
  const LaunchContext& launch_context() const { return ctx_; }
  const DeviceInfo& info() const { return info_; }
  // True while the stream is being captured into a CUDA graph.
  bool capturing() const;

 private:
  CudaOps() = default;
  // Reads and clears the device error word (the stream must be idle).
  absl::Status TakeDeviceErrors();

  DeviceInfo info_;
  LaunchContext ctx_;
  int* error_host_ = nullptr;  // pinned mirror of *ctx_.error_flags
  std::unique_ptr<LtGemm> gemm_;
  Kernels kernels_;
};

}  // namespace gptoss::cuda
