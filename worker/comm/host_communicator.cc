#include "worker/comm/host_communicator.h"

#include <cstring>

#include "kernels/core/dtype.h"
#include "kernels/core/status.h"
#include "worker/comm/collective_checks.h"

namespace gptoss {

using comm_internal::RowElems;

absl::Status HostCommunicator::GatherRows(const TensorView& src, const std::vector<int32_t>& index,
                                          TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckRows(src, index, dst, /*gather=*/true, Device::kCpu));
  const size_t row = static_cast<size_t>(RowElems(src)) * DTypeSize(src.dtype);
  for (size_t i = 0; i < index.size(); ++i)
    std::memmove(static_cast<char*>(dst.data) + i * row,
                 static_cast<const char*>(src.data) + static_cast<size_t>(index[i]) * row, row);
  return absl::OkStatus();
}

absl::Status HostCommunicator::ScatterAddRows(const TensorView& src,
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

absl::Status HostCommunicator::PackRows(const std::vector<TensorView>& srcs,
                                        const std::vector<int32_t>& index, TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckPack(srcs, index, dst, Device::kCpu));
  const int64_t width = comm_internal::RowBytes(dst);
  int64_t offset = 0;
  for (const TensorView& src : srcs) {
    const int64_t row = comm_internal::RowBytes(src);
    for (size_t i = 0; i < index.size(); ++i)
      std::memcpy(static_cast<char*>(dst.data) + static_cast<int64_t>(i) * width + offset,
                  static_cast<const char*>(src.data) + index[i] * row, static_cast<size_t>(row));
    offset += row;
  }
  return absl::OkStatus();
}

absl::Status HostCommunicator::UnpackRows(const TensorView& src,
                                          const std::vector<TensorView>& dsts) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckUnpack(src, dsts, Device::kCpu));
  const int64_t width = comm_internal::RowBytes(src), rows = src.dim(0);
  int64_t offset = 0;
  for (const TensorView& dst : dsts) {
    const int64_t row = comm_internal::RowBytes(dst);
    for (int64_t i = 0; i < rows; ++i)
      std::memcpy(static_cast<char*>(dst.data) + i * row,
                  static_cast<const char*>(src.data) + i * width + offset, static_cast<size_t>(row));
    offset += row;
  }
  return absl::OkStatus();
}

namespace comm_internal {

void SumInRankOrder(const void* parts, int world, int64_t n, DType dtype, void* out) {
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == DType::kI32) {
      int64_t sum = 0;  // wraps like NCCL's int32 sum would, without UB in between
      for (int r = 0; r < world; ++r) sum += static_cast<const int32_t*>(parts)[r * n + i];
      static_cast<int32_t*>(out)[i] = static_cast<int32_t>(static_cast<uint32_t>(sum));
    } else if (dtype == DType::kF32) {
      float sum = 0.0f;
      for (int r = 0; r < world; ++r) sum += static_cast<const float*>(parts)[r * n + i];
      static_cast<float*>(out)[i] = sum;
    } else {
      float sum = 0.0f;
      for (int r = 0; r < world; ++r) sum += Bf16ToF32(static_cast<const uint16_t*>(parts)[r * n + i]);
      static_cast<uint16_t*>(out)[i] = F32ToBf16(sum);
    }
  }
}

}  // namespace comm_internal
}  // namespace gptoss
