// ProfilingOps: an Ops that forwards every call to another and records, per call, the device
// time between timer marks around it and the bytes and FLOPs the call moves and computes by its
// shapes, so that one run says where a step's time goes and how far each op class is from the
// memory or compute roofline (gptoss-bench --breakdown).
//
// Counted, not guessed: what depends on the data — the distinct experts a MoE call reads, the
// keys an attention call reads — is counted from the call's own metadata (expert ids, query
// starts, context lengths), copied on the device when the call is issued (stream-ordered, after
// the call's end mark) and read back by Report().
//
// Meant for eager runs: wrap the ops, run a few steps, Report(). Per-op marks cost a little
// host time per call; HoldDevice() before a step lets the host queue the whole step so that the
// marks measure kernels, not launch latency.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace gptoss {

class ProfilingOps final : public Ops {
 public:
  static absl::StatusOr<std::unique_ptr<ProfilingOps>> Create(Ops* inner);

  struct Row {
    std::string op;  // the method; Linear by its weight shape ("Linear 5120x2880")
    int64_t calls = 0;
    double seconds = 0, bytes = 0, flops = 0;
  };
  struct Summary {
    std::vector<Row> rows;  // slowest first
    double op_seconds = 0;  // sum over the rows
    // Calls that wait for the device or move data to or from the host (CopyToHost,
    // CopyFromHost, Synchronize): none may happen inside a step that a CUDA graph replays.
    int64_t host_syncs = 0;
  };
  // Synchronizes and sums the calls since the last Reset() by op class.
  absl::StatusOr<Summary> Report();
  // Forgets the recorded calls; the metadata copies' device buffers are kept for reuse, so a
  // step profiled after a warm-up one allocates nothing.
  void Reset();
  absl::Status HoldDevice(double seconds) { return timer_->HoldDevice(seconds); }

  Device device() const override { return inner_->device(); }
  DType activation_dtype() const override { return inner_->activation_dtype(); }
  absl::Status Synchronize() override {
    ++host_syncs_;
    return inner_->Synchronize();
  }
  absl::StatusOr<std::shared_ptr<void>> Allocate(size_t bytes) override {
    return inner_->Allocate(bytes);
  }
  absl::Status CopyFromHost(void* dst, const void* src, size_t bytes) override {
    ++host_syncs_;
    return inner_->CopyFromHost(dst, src, bytes);
  }
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes) override {
    ++host_syncs_;
    return inner_->CopyToHost(dst, src, bytes);
  }
  absl::StatusOr<std::unique_ptr<OpTimer>> CreateTimer() override { return inner_->CreateTimer(); }

  absl::Status Copy(const TensorView& src, TensorView dst) override;
  absl::Status CopyColumns(const TensorView& src, int64_t first, TensorView dst) override;
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

 private:
  // Host copies of a call's metadata snapshots, in the order the call took them.
  using Snapshots = std::vector<std::vector<int32_t>>;
  struct Call {
    std::string op;
    int begin = 0, end = 0;
    double bytes = 0, flops = 0;
    std::vector<int> snapshots;  // indices into snapshots_
    // Adds the data-dependent bytes and FLOPs once the snapshots are on the host.
    std::function<void(const Snapshots&, Call&)> finish;
  };
  struct Snapshot {
    std::shared_ptr<void> memory;
    size_t capacity = 0;
    int64_t count = 0;  // I32 values held
  };

  ProfilingOps(Ops* inner, std::unique_ptr<OpTimer> timer)
      : inner_(inner), timer_(std::move(timer)) {}
  // Runs `run` between two marks and records the call.
  absl::Status Timed(std::string op, double bytes, double flops,
                     const std::function<absl::Status()>& run);
  // A device copy of an I32 tensor, attached to the last recorded call.
  absl::Status SnapshotIntoLastCall(const TensorView& t);
  // Bytes and FLOPs of a MoE call from its expert ids (MoeMlp and MoeExperts).
  absl::Status RecordMoe(const char* op, const TensorView& x, const TensorView& expert_ids,
                         const ExpertWeights& experts, double other_bytes,
                         const std::function<absl::Status()>& run);

  Ops* inner_;
  std::unique_ptr<OpTimer> timer_;
  std::vector<Call> calls_;
  std::vector<Snapshot> snapshots_;
  size_t next_snapshot_ = 0;
  int64_t host_syncs_ = 0;
};

}  // namespace gptoss
