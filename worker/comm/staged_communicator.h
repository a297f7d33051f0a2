// StagedCommunicator: a device communicator made of a host one. Every call copies its device
// tensors to host memory (Ops::CopyToHost), runs the host communicator's call there, and copies
// the results back. Far slower than NCCL, but it lets several CUDA ranks share one GPU for
// correctness runs (NCCL refuses two ranks on one device) and runs the device path of the
// engine against Gloo. Synchronous: every call is a synchronization point, so a step that uses
// it cannot be captured in a CUDA graph.
#pragma once

#include <memory>
#include <vector>

#include "kernels/ops.h"
#include "worker/comm/communicator.h"

namespace gptoss {

class StagedCommunicator final : public Communicator {
 public:
  // `ops` (the device's) must outlive this; `host` works on host memory (owned, or borrowed
  // and then outliving this).
  StagedCommunicator(Ops* ops, std::unique_ptr<Communicator> host)
      : ops_(ops), owned_(std::move(host)), host_(owned_.get()) {}
  StagedCommunicator(Ops* ops, Communicator* host) : ops_(ops), host_(host) {}

  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  Device device() const override { return ops_->device(); }

  absl::Status AllReduceSum(TensorView inout) override;
  absl::Status AllGather(const TensorView& in, TensorView out) override;
  absl::Status ReduceScatterSum(const TensorView& in, TensorView out) override;
  absl::Status AllToAllV(const TensorView& send, const std::vector<int64_t>& send_counts,
                         TensorView recv, const std::vector<int64_t>& recv_counts) override;
  absl::StatusOr<std::vector<int64_t>> ExchangeCounts(
      const std::vector<int64_t>& send_counts) override {
    return host_->ExchangeCounts(send_counts);
  }
  absl::Status Synchronize() override { return ops_->Synchronize(); }
  CommStats stats() const override { return host_->stats(); }

 private:
  // A host copy of a device tensor (its contents when `read`), written back by Return().
  struct Staged {
    std::vector<char> bytes;
    TensorView view;
  };
  absl::StatusOr<Staged> Stage(const TensorView& t, bool read);
  absl::Status Return(const Staged& staged, const TensorView& t);

  Ops* const ops_;
  std::unique_ptr<Communicator> owned_;
  Communicator* const host_;
};

}  // namespace gptoss
