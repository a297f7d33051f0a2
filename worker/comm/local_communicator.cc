#include "worker/comm/local_communicator.h"

#include <cstring>

#include "kernels/core/dtype.h"
#include "kernels/core/status.h"
#include "worker/comm/collective_checks.h"

namespace gptoss {

using comm_internal::RowElems;

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

absl::Status LocalCommunicator::GatherRows(const TensorView& src, const std::vector<int32_t>& index,
                                           TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckRows(src, index, dst, /*gather=*/true, Device::kCpu));
  const size_t row = static_cast<size_t>(RowElems(src)) * DTypeSize(src.dtype);
  for (size_t i = 0; i < index.size(); ++i)
    std::memmove(static_cast<char*>(dst.data) + i * row,
                 static_cast<const char*>(src.data) + static_cast<size_t>(index[i]) * row, row);
  return absl::OkStatus();
}

absl::Status LocalCommunicator::ScatterAddRows(const TensorView& src,
                                               const std::vector<int32_t>& index, TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckRows(src, index, dst, /*gather=*/false, Device::kCpu));
  const int64_t width = RowElems(src);
  for (size_t i = 0; i < index.size(); ++i) {
    for (int64_t j = 0; j < width; ++j) {
      const int64_t s = static_cast<int64_t>(i) * width + j;
      const int64_t d = static_cast<int64_t>(index[i]) * width + j;
      if (src.dtype == DType::kF32) {
        dst.as<float>()[d] += src.as<float>()[s];
      } else {
        uint16_t* out = dst.as<uint16_t>() + d;
        *out = F32ToBf16(Bf16ToF32(*out) + Bf16ToF32(src.as<uint16_t>()[s]));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace gptoss
