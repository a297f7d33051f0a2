#include "worker/comm/collective_checks.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss::comm_internal {

absl::Status CheckBuffer(const TensorView& t, const char* name, Device device) {
  if (t.device != device)
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": tensor is in ", t.device == Device::kCuda ? "CUDA" : "host",
        " memory but the communicator works on ", device == Device::kCuda ? "CUDA" : "host",
        " memory"));
  if (t.rank < 1 || t.rank > 4)
    return absl::InvalidArgumentError(absl::StrCat(name, ": rank ", t.rank, " must be 1..4"));
  for (int i = 0; i < t.rank; ++i)
    if (t.dims[i] < 0)
      return absl::InvalidArgumentError(absl::StrCat(name, ": negative dimension in ", t.ShapeString()));
  if (t.numel() > 0 && t.data == nullptr)
    return absl::InvalidArgumentError(absl::StrCat(name, ": null data for ", t.ShapeString()));
  return absl::OkStatus();
}

absl::Status CheckReducible(const TensorView& t, const char* name) {
  if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 && t.dtype != DType::kI32)
    return absl::InvalidArgumentError(absl::StrCat(name, ": dtype ", std::string(DTypeName(t.dtype)),
                                                   " cannot be summed (F32, BF16 or I32)"));
  return absl::OkStatus();
}

absl::Status CheckAllGather(const TensorView& in, const TensorView& out, int world, Device device) {
  GPTOSS_RETURN_IF_ERROR(CheckBuffer(in, "AllGather in", device));
  GPTOSS_RETURN_IF_ERROR(CheckBuffer(out, "AllGather out", device));
  GPTOSS_CHECK_ARG(in.dtype == out.dtype, "AllGather: in and out dtypes differ");
  GPTOSS_CHECK_ARG(out.numel() == in.numel() * world, "AllGather: out ", out.ShapeString(),
                   " must hold ", world, " x in ", in.ShapeString());
  return absl::OkStatus();
}

absl::Status CheckReduceScatter(const TensorView& in, const TensorView& out, int world,
                                Device device) {
  GPTOSS_RETURN_IF_ERROR(CheckBuffer(in, "ReduceScatter in", device));
  GPTOSS_RETURN_IF_ERROR(CheckBuffer(out, "ReduceScatter out", device));
  GPTOSS_RETURN_IF_ERROR(CheckReducible(in, "ReduceScatter in"));
  GPTOSS_CHECK_ARG(in.dtype == out.dtype, "ReduceScatter: in and out dtypes differ");
  GPTOSS_CHECK_ARG(in.numel() == out.numel() * world, "ReduceScatter: in ", in.ShapeString(),
                   " must hold ", world, " x out ", out.ShapeString());
  return absl::OkStatus();
}

absl::StatusOr<AllToAllGeometry> CheckAllToAllV(const TensorView& send,
                                                const std::vector<int64_t>& send_counts,
                                                const TensorView& recv,
                                                const std::vector<int64_t>& recv_counts, int world,
                                                Device device) {
  GPTOSS_RETURN_IF_ERROR(CheckBuffer(send, "AllToAllV send", device));
  GPTOSS_RETURN_IF_ERROR(CheckBuffer(recv, "AllToAllV recv", device));
  GPTOSS_CHECK_ARG(send.dtype == recv.dtype, "AllToAllV: send and recv dtypes differ");
  GPTOSS_CHECK_ARG(static_cast<int>(send_counts.size()) == world &&
                       static_cast<int>(recv_counts.size()) == world,
                   "AllToAllV: ", send_counts.size(), " send and ", recv_counts.size(),
                   " recv counts for world size ", world);
  const int64_t width = RowElems(send);
  GPTOSS_CHECK_ARG(RowElems(recv) == width, "AllToAllV: send rows ", send.ShapeString(),
                   " and recv rows ", recv.ShapeString(), " differ in width");
  AllToAllGeometry g;
  g.row_bytes = width * static_cast<int64_t>(DTypeSize(send.dtype));
  int64_t s = 0, r = 0;
  for (int i = 0; i < world; ++i) {
    GPTOSS_CHECK_ARG(send_counts[i] >= 0 && recv_counts[i] >= 0, "AllToAllV: negative count for rank ", i);
    g.send_offsets.push_back(s);
    g.recv_offsets.push_back(r);
    s += send_counts[i];
    r += recv_counts[i];
  }
  GPTOSS_CHECK_ARG(s <= send.dim(0), "AllToAllV: sending ", s, " rows from ", send.dim(0));
  GPTOSS_CHECK_ARG(r <= recv.dim(0), "AllToAllV: receiving ", r, " rows into ", recv.dim(0));
  return g;
}

}  // namespace gptoss::comm_internal
