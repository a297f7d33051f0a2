#include "worker/comm/nccl_communicator.h"

#include "kernels/cuda/cuda_ops.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "worker/comm/collective_checks.h"

namespace gptoss {
namespace {

absl::StatusOr<ncclDataType_t> NcclType(DType t) {
  switch (t) {
    case DType::kF32: return ncclFloat32;
    case DType::kBF16: return ncclBfloat16;
    case DType::kI32: return ncclInt32;
    case DType::kU8: return ncclUint8;
  }
  return absl::InvalidArgumentError("NCCL: unsupported dtype");
}

}  // namespace

absl::StatusOr<std::string> NcclCommunicator::NewUniqueId() {
  ncclUniqueId id;
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclGetUniqueId(&id));
  return std::string(id.internal, sizeof(id.internal));
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    int rank, int world_size, const std::string& unique_id, cudaStream_t stream) {
  GPTOSS_CHECK_ARG(world_size >= 1 && rank >= 0 && rank < world_size, "NCCL: rank ", rank,
                   " out of world size ", world_size);
  ncclUniqueId id;
  GPTOSS_CHECK_ARG(unique_id.size() == sizeof(id.internal), "NCCL: unique id has ",
                   unique_id.size(), " bytes, expected ", sizeof(id.internal));
  std::memcpy(id.internal, unique_id.data(), sizeof(id.internal));
  std::unique_ptr<NcclCommunicator> comm(new NcclCommunicator(rank, world_size, stream));
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclCommInitRank(&comm->comm_, world_size, id, rank));
  return comm;
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::CreateSingle(
    cudaStream_t stream) {
  GPTOSS_ASSIGN_OR_RETURN(const std::string id, NewUniqueId());
  return Create(0, 1, id, stream);
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::ForOps(
    Ops& ops, int rank, int world_size, const std::string& unique_id) {
  auto* cuda = dynamic_cast<cuda::CudaOps*>(&ops);
  GPTOSS_CHECK_ARG(cuda != nullptr, "NcclCommunicator: the ops are not CudaOps");
  if (world_size == 1) return CreateSingle(cuda->stream());
  GPTOSS_CHECK_ARG(!unique_id.empty(), "NcclCommunicator: no NCCL id for a world of ",
                   world_size);
  return Create(rank, world_size, unique_id, cuda->stream());
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ != nullptr && !aborted_) {  // an aborted communicator is freed by the abort
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
  }
}

void NcclCommunicator::Abort() {
  std::lock_guard<std::mutex> lock(abort_mu_);
  if (aborted_ || comm_ == nullptr) return;
  aborted_ = true;
  // Makes the NCCL kernels still waiting for a peer return, so the stream drains.
  ncclCommAbort(comm_);
}

absl::Status NcclCommunicator::Live() const {
  if (aborted_)
    return absl::UnavailableError(
        "NCCL communicator aborted (a peer died or hung): the world must re-form");
  return absl::OkStatus();
}

absl::Status NcclCommunicator::AllReduceSum(TensorView inout) {
  GPTOSS_RETURN_IF_ERROR(Live());
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckBuffer(inout, "AllReduce inout", Device::kCuda));
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckReducible(inout, "AllReduce inout"));
  GPTOSS_ASSIGN_OR_RETURN(const ncclDataType_t type, NcclType(inout.dtype));
  if (inout.numel() == 0) return absl::OkStatus();
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclAllReduce(inout.data, inout.data, static_cast<size_t>(inout.numel()),
                                     type, ncclSum, comm_, stream_));
  return absl::OkStatus();
}

absl::Status NcclCommunicator::AllGather(const TensorView& in, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(Live());
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckAllGather(in, out, world_, Device::kCuda));
  GPTOSS_ASSIGN_OR_RETURN(const ncclDataType_t type, NcclType(in.dtype));
  if (in.numel() == 0) return absl::OkStatus();
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclAllGather(in.data, out.data, static_cast<size_t>(in.numel()), type,
                                     comm_, stream_));
  return absl::OkStatus();
}

absl::Status NcclCommunicator::ReduceScatterSum(const TensorView& in, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(Live());
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckReduceScatter(in, out, world_, Device::kCuda));
  GPTOSS_ASSIGN_OR_RETURN(const ncclDataType_t type, NcclType(in.dtype));
  if (out.numel() == 0) return absl::OkStatus();
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclReduceScatter(in.data, out.data, static_cast<size_t>(out.numel()), type,
                                         ncclSum, comm_, stream_));
  return absl::OkStatus();
}

absl::Status NcclCommunicator::AllToAllV(const TensorView& send,
                                         const std::vector<int64_t>& send_counts, TensorView recv,
                                         const std::vector<int64_t>& recv_counts) {
  GPTOSS_RETURN_IF_ERROR(Live());
  GPTOSS_ASSIGN_OR_RETURN(const auto g, comm_internal::CheckAllToAllV(send, send_counts, recv, recv_counts,
                                                               world_, Device::kCuda));
  // Rows move as raw bytes: no arithmetic, any dtype.
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclGroupStart());
  ncclResult_t result = ncclSuccess;
  for (int r = 0; r < world_ && result == ncclSuccess; ++r) {
    if (send_counts[r] > 0)
      result = ncclSend(static_cast<const char*>(send.data) + g.send_offsets[r] * g.row_bytes,
                        static_cast<size_t>(send_counts[r] * g.row_bytes), ncclUint8, r, comm_,
                        stream_);
    if (result == ncclSuccess && recv_counts[r] > 0)
      result = ncclRecv(static_cast<char*>(recv.data) + g.recv_offsets[r] * g.row_bytes,
                        static_cast<size_t>(recv_counts[r] * g.row_bytes), ncclUint8, r, comm_,
                        stream_);
  }
  const ncclResult_t end = ncclGroupEnd();
  GPTOSS_NCCL_RETURN_IF_ERROR(result);
  GPTOSS_NCCL_RETURN_IF_ERROR(end);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> NcclCommunicator::ExchangeCounts(
    const std::vector<int64_t>& send_counts) {
  GPTOSS_RETURN_IF_ERROR(Live());
  GPTOSS_CHECK_ARG(static_cast<int>(send_counts.size()) == world_, "ExchangeCounts: ",
                   send_counts.size(), " counts for world size ", world_);
  cuda::StreamScratch scratch(stream_);
  GPTOSS_ASSIGN_OR_RETURN(int64_t* mine, scratch.GetAs<int64_t>(world_));
  GPTOSS_ASSIGN_OR_RETURN(int64_t* all, scratch.GetAs<int64_t>(static_cast<size_t>(world_) * world_));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(mine, send_counts.data(), world_ * sizeof(int64_t),
                                       cudaMemcpyHostToDevice, stream_));
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclAllGather(mine, all, static_cast<size_t>(world_), ncclInt64, comm_, stream_));
  std::vector<int64_t> matrix(static_cast<size_t>(world_) * world_);
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(matrix.data(), all, matrix.size() * sizeof(int64_t),
                                       cudaMemcpyDeviceToHost, stream_));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  std::vector<int64_t> recv(world_);
  for (int r = 0; r < world_; ++r) recv[r] = matrix[static_cast<size_t>(r) * world_ + rank_];
  return recv;
}

absl::Status NcclCommunicator::Synchronize() {
  GPTOSS_RETURN_IF_ERROR(Live());
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  GPTOSS_RETURN_IF_ERROR(Live());  // aborted while we waited
  ncclResult_t async_error = ncclSuccess;
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclCommGetAsyncError(comm_, &async_error));
  if (async_error != ncclSuccess)  // a peer failed: this world is over
    return absl::UnavailableError(absl::StrCat("NCCL: ", ncclGetErrorString(async_error),
                                               " (a peer failed): the world must re-form"));
  return absl::OkStatus();
}

}  // namespace gptoss
