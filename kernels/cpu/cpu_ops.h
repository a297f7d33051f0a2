// CpuOps: the executable specification of kernels/ops.h. Plain loops, fp32 activations, fp32
// math with double accumulation for dot products and softmax sums (the most accurate reading of
// the model, which the golden tests compare against Hugging Face transformers). Every argument
// is checked (shapes, dtypes, ids < V, block ids in range, slots in range) and a mismatch is an
// InvalidArgument naming the argument; nothing is read or written out of bounds.
//
// Threading: none. CpuOps is the reference and the CI workhorse for tiny models; speed is the
// CUDA backend's job.
#pragma once

#include <memory>
#include <vector>

#include "kernels/ops.h"

namespace gptoss {

class CpuOps final : public Ops {
 public:
  Device device() const override { return Device::kCpu; }
  DType activation_dtype() const override { return DType::kF32; }
  absl::Status Synchronize() override { return absl::OkStatus(); }

  absl::StatusOr<std::shared_ptr<void>> Allocate(size_t bytes) override;
  absl::Status CopyFromHost(void* device_dst, const void* host_src, size_t bytes) override;
  absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes) override;

  absl::Status Copy(const TensorView& src, TensorView dst) override;
  absl::Status CopyColumns(const TensorView& src, int64_t first, TensorView dst) override;
  absl::Status Zero(TensorView t) override;
  // cpu_rows.cc
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
  // cpu_penalties.cc, cpu_top_logprobs.cc
  absl::Status ApplyPenalties(TensorView logits, const TensorView& tokens, const TensorView& counts,
                              const std::vector<PenaltyParams>& params) override;
  absl::Status TopLogprobs(const TensorView& logits, TensorView ids, TensorView logprobs) override;
};

// Shared argument checks of the CPU op files (kernels/cpu/*.cc).
namespace cpu_internal {

// `t` lives on the host, has `dtype`, rank `rank` and non-null data (unless it has no elements).
absl::Status CheckTensor(const TensorView& t, const char* name, DType dtype, int rank);
// Reads element i of a BF16 or F32 tensor as float.
float LoadFloat(const TensorView& t, int64_t i);

}  // namespace cpu_internal
}  // namespace gptoss
