// NcclCommunicator: Communicator over NCCL for CUDA device memory, one rank per GPU. The
// collectives are enqueued on the stream given at creation (normally CudaOps::stream(), so
// they are ordered with the math); AllToAllV is a grouped ncclSend/ncclRecv per peer.
//
// Bootstrap: rank 0 calls NewUniqueId() and the coordinator hands the 128 bytes to every rank,
// which calls Create(rank, world, id, stream). Create(stream) alone makes a world of one, which
// runs the exact multi-GPU path (NCCL all-to-all to self) on a single GPU.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "kernels/ops.h"
#include "worker/comm/communicator.h"

namespace gptoss {

class NcclCommunicator final : public Communicator {
 public:
  // The serialized ncclUniqueId (NCCL_UNIQUE_ID_BYTES bytes).
  static absl::StatusOr<std::string> NewUniqueId();
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(int rank, int world_size,
                                                                  const std::string& unique_id,
                                                                  cudaStream_t stream);
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> CreateSingle(cudaStream_t stream);
  // On the stream of `ops` (which must be CudaOps): CreateSingle at world size 1, else Create.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> ForOps(Ops& ops, int rank,
                                                                  int world_size,
                                                                  const std::string& unique_id);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  Device device() const override { return Device::kCuda; }
  // NCCL collectives on the stream can be captured in a CUDA graph (NCCL >= 2.9).
  bool capturable() const override { return true; }

  absl::Status AllReduceSum(TensorView inout) override;
  absl::Status AllGather(const TensorView& in, TensorView out) override;
  absl::Status ReduceScatterSum(const TensorView& in, TensorView out) override;
  absl::Status AllToAllV(const TensorView& send, const std::vector<int64_t>& send_counts,
                         TensorView recv, const std::vector<int64_t>& recv_counts) override;
  absl::StatusOr<std::vector<int64_t>> ExchangeCounts(
      const std::vector<int64_t>& send_counts) override;
  absl::Status Synchronize() override;
  // ncclCommAbort, once; thread-safe. Every call after it fails with UNAVAILABLE.
  void Abort() override;

 private:
  absl::Status Live() const;
  NcclCommunicator(int rank, int world, cudaStream_t stream)
      : rank_(rank), world_(world), stream_(stream) {}

  int rank_;
  int world_;
  cudaStream_t stream_;
  ncclComm_t comm_ = nullptr;
  std::mutex abort_mu_;
  std::atomic<bool> aborted_{false};
};

}  // namespace gptoss
