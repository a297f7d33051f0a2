// The defaults of Ops: the fused ops as compositions of the unfused ones (the reference every
// fused kernel is tested against), and a host-clock timer.
#include "kernels/ops.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {
namespace {

class HostTimer final : public OpTimer {
 public:
  explicit HostTimer(Ops* ops) : ops_(ops) {}

  absl::StatusOr<int> Mark() override {
    GPTOSS_RETURN_IF_ERROR(ops_->Synchronize());
    marks_.push_back(std::chrono::steady_clock::now());
    return static_cast<int>(marks_.size()) - 1;
  }
  absl::StatusOr<double> Seconds(int from, int to) override {
    const int n = static_cast<int>(marks_.size());
    GPTOSS_CHECK_ARG(from >= 0 && to >= 0 && from < n && to < n, "OpTimer: marks ", from, " and ",
                     to, " of ", n);
    return std::chrono::duration<double>(marks_[to] - marks_[from]).count();
  }
  // A synchronous backend runs each op when it is issued: nothing to queue ahead.
  absl::Status HoldDevice(double) override { return absl::OkStatus(); }
  void Reset() override { marks_.clear(); }

 private:
  Ops* ops_;
  std::vector<std::chrono::steady_clock::time_point> marks_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpTimer>> Ops::CreateTimer() {
  return std::unique_ptr<OpTimer>(std::make_unique<HostTimer>(this));
}

absl::Status Ops::AddRmsNorm(const TensorView& x, TensorView residual, const TensorView& weight,
                             float eps, TensorView out) {
  GPTOSS_CHECK_ARG(out.data != residual.data || out.numel() == 0,
                   "AddRmsNorm: out must not alias the residual");
  GPTOSS_RETURN_IF_ERROR(AddInPlace(x, residual));
  return RmsNorm(residual, weight, eps, out);
}

absl::Status Ops::RopeAppendKv(TensorView q, TensorView k, const TensorView& v,
                               const TensorView& positions, const RopeTable& rope,
                               const TensorView& slots, KvLayerView cache) {
  GPTOSS_RETURN_IF_ERROR(RopeYarn(q, k, positions, rope));
  return AppendKv(k, v, slots, cache);
}

absl::Status Ops::QkvRopeAppendKv(const TensorView& qkv, TensorView q_out, TensorView k,
                                  TensorView v, const TensorView& positions,
                                  const RopeTable& rope, const TensorView& slots,
                                  KvLayerView cache) {
  const int64_t n = q_out.dim(0), q_width = q_out.numel() / std::max<int64_t>(n, 1);
  const int64_t kv_width = k.numel() / std::max<int64_t>(n, 1);
  GPTOSS_CHECK_ARG(q_out.rank == 3 && k.rank == 3 && v.rank == 3 && qkv.rank == 2 &&
                       qkv.dim(0) == n && qkv.dim(1) == q_width + 2 * kv_width,
                   "QkvRopeAppendKv: qkv ", qkv.ShapeString(), " must be [T, q + 2 kv] for q ",
                   q_out.ShapeString(), " and k ", k.ShapeString());
  GPTOSS_RETURN_IF_ERROR(CopyColumns(qkv, 0, q_out.Reshaped({n, q_width})));
  GPTOSS_RETURN_IF_ERROR(CopyColumns(qkv, q_width, k.Reshaped({n, kv_width})));
  GPTOSS_RETURN_IF_ERROR(CopyColumns(qkv, q_width + kv_width, v.Reshaped({n, kv_width})));
  return RopeAppendKv(q_out, k, v, positions, rope, slots, cache);
}

absl::Status Ops::Router(const TensorView& h, const TensorView& w, const TensorView& bias, int k,
                         TensorView logits, TensorView expert_ids, TensorView expert_weights) {
  GPTOSS_RETURN_IF_ERROR(Linear(h, w, bias, logits));
  return RouterTopK(logits, k, expert_ids, expert_weights);
}

absl::Status Ops::MoeExperts(const TensorView& x, const TensorView& expert_ids,
                             const TensorView& expert_weights, const ExpertWeights& experts,
                             TensorView rows, TensorView residual) {
  GPTOSS_RETURN_IF_ERROR(MoeMlp(x, expert_ids, experts, rows));
  return MoeCombine(rows, expert_weights, residual);
}

}  // namespace gptoss
