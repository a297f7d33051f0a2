#include "worker/comm/local_communicator.h"

#include <cstring>

#include "kernels/core/dtype.h"
#include "kernels/core/status.h"
#include "worker/comm/collective_checks.h"

namespace gptoss {

absl::Status LocalCommunicator::AllReduceSum(TensorView inout) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckBuffer(inout, "AllReduce inout", Device::kCpu));
  return comm_internal::CheckReducible(inout, "AllReduce inout");
}

absl::Status LocalCommunicator::AllGather(const TensorView& in, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckAllGather(in, out, 1, Device::kCpu));
  if (in.data != out.data && in.bytes() > 0) std::memmove(out.data, in.data, in.bytes());
  return absl::OkStatus();
}

absl::Status LocalCommunicator::ReduceScatterSum(const TensorView& in, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckReduceScatter(in, out, 1, Device::kCpu));
  if (in.data != out.data && in.bytes() > 0) std::memmove(out.data, in.data, in.bytes());
  return absl::OkStatus();
}

absl::Status LocalCommunicator::AllToAllV(const TensorView& send,
                                          const std::vector<int64_t>& send_counts, TensorView recv,
                                          const std::vector<int64_t>& recv_counts) {
  GPTOSS_ASSIGN_OR_RETURN(const auto geometry,
                   comm_internal::CheckAllToAllV(send, send_counts, recv, recv_counts, 1, Device::kCpu));
  GPTOSS_CHECK_ARG(send_counts[0] == recv_counts[0], "AllToAllV: rank 0 sends ", send_counts[0],
                   " rows to itself but expects ", recv_counts[0]);
  const size_t bytes = static_cast<size_t>(send_counts[0] * geometry.row_bytes);
  if (bytes > 0 && send.data != recv.data) std::memmove(recv.data, send.data, bytes);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> LocalCommunicator::ExchangeCounts(
    const std::vector<int64_t>& send_counts) {
  GPTOSS_CHECK_ARG(send_counts.size() == 1, "ExchangeCounts: ", send_counts.size(),
                   " counts for world size 1");
  return send_counts;
}

}  // namespace gptoss
