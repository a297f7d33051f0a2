// Argument checks shared by the Communicator implementations, so that NCCL and host
// communicators reject the same malformed calls with the same messages.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/core/tensor.h"
#include "kernels/op_contracts.h"

namespace gptoss::comm_internal {

// Non-null (unless empty), on `device`, non-negative dims.
absl::Status CheckBuffer(const TensorView& t, const char* name, Device device);
// F32, BF16 or I32.
absl::Status CheckReducible(const TensorView& t, const char* name);
absl::Status CheckAllGather(const TensorView& in, const TensorView& out, int world, Device device);
absl::Status CheckReduceScatter(const TensorView& in, const TensorView& out, int world,
                                Device device);

// Validated geometry of an AllToAllV: row width in bytes and row offsets per rank.
struct AllToAllGeometry {
  int64_t row_bytes = 0;
  std::vector<int64_t> send_offsets, recv_offsets;  // in rows, size world
};
absl::StatusOr<AllToAllGeometry> CheckAllToAllV(const TensorView& send,
                                                const std::vector<int64_t>& send_counts,
                                                const TensorView& recv,
                                                const std::vector<int64_t>& recv_counts, int world,
                                                Device device);

// Elements and bytes per leading-dimension row (kernels/op_contracts.h).
using ::gptoss::RowBytes;
using ::gptoss::RowElems;

}  // namespace gptoss::comm_internal
