// LocalCommunicator: the world-size-1 communicator on host memory. Every collective is the
// identity (a copy where in and out differ), so the CPU engine and the CPU tests run the exact
// code path of the distributed one (dispatch, combine, gathers) without any transport.
#pragma once

#include "worker/comm/host_communicator.h"

namespace gptoss {

class LocalCommunicator final : public HostCommunicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }

  absl::Status AllReduceSum(TensorView inout) override;
  absl::Status AllGather(const TensorView& in, TensorView out) override;
  absl::Status ReduceScatterSum(const TensorView& in, TensorView out) override;
  absl::Status AllToAllV(const TensorView& send, const std::vector<int64_t>& send_counts,
                         TensorView recv, const std::vector<int64_t>& recv_counts) override;
  absl::StatusOr<std::vector<int64_t>> ExchangeCounts(
      const std::vector<int64_t>& send_counts) override;
};

}  // namespace gptoss
