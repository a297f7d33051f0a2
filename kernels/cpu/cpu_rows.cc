// CpuOps: the rows of expert-parallel dispatch (Ops::PlanDispatch, PackRows, ScatterAddRows).
// The reference for kernels/cuda/dispatch_plan.cu and rows.cu: the same plan, byte-exact
// packing, and the scatter's sum in fp32 rounded once per element.
#include <cstring>
#include <vector>

#include "kernels/core/dtype.h"
#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/op_contracts.h"

namespace gptoss {

absl::Status CpuOps::PlanDispatch(const TensorView& expert_ids, int experts_per_rank,
                                  TensorView slots) {
  GPTOSS_RETURN_IF_ERROR(CheckPlanDispatch(expert_ids, experts_per_rank, slots, Device::kCpu));
  const int64_t tokens = expert_ids.dim(0), k = expert_ids.dim(1);
  const int64_t world = slots.dim(0), capacity = slots.dim(1);
  const int32_t* ids = expert_ids.as<int32_t>();
  for (int64_t d = 0; d < world; ++d) {
    int32_t* row = slots.as<int32_t>() + d * capacity;
    const int64_t lo = d * experts_per_rank, hi = lo + experts_per_rank;
    int64_t used = 0;
    for (int64_t t = 0; t < tokens; ++t) {
      bool needs = false;
      for (int64_t j = 0; j < k; ++j) needs |= ids[t * k + j] >= lo && ids[t * k + j] < hi;
      if (needs) row[used++] = static_cast<int32_t>(t);
    }
    for (int64_t j = used; j < capacity; ++j) row[j] = -1;
  }
  return absl::OkStatus();
}

absl::Status CpuOps::PackRows(const std::vector<TensorView>& srcs, const TensorView& index,
                              TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(CheckPackRows(srcs, index, dst, Device::kCpu));
  const int64_t rows = dst.dim(0), width = dst.dim(1);
  int64_t offset = 0;
  for (const TensorView& src : srcs) {
    const int64_t row_bytes = RowBytes(src);  // from the shape: a source may have no rows
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t from = index.empty() ? i : index.as<int32_t>()[i];
      char* out = static_cast<char*>(dst.data) + i * width + offset;
      if (from >= 0 && from < src.dim(0)) {
        std::memcpy(out, static_cast<const char*>(src.data) + from * row_bytes,
                    static_cast<size_t>(row_bytes));
      } else {
        std::memset(out, 0, static_cast<size_t>(row_bytes));
      }
    }
    offset += row_bytes;
  }
  return absl::OkStatus();
}

absl::Status CpuOps::ScatterAddRows(const TensorView& src, const TensorView& index,
                                    TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(CheckScatterAddRows(src, index, dst, Device::kCpu));
  const int64_t rows = src.dim(0), targets = dst.dim(0);
  const int64_t width = rows == 0 ? 0 : src.numel() / rows;
  const int32_t* at = index.as<int32_t>();
  std::vector<char> seen(static_cast<size_t>(targets), 0);
  for (int64_t i = 0; i < rows; ++i) {
    if (at[i] < 0 || at[i] >= targets) continue;
    GPTOSS_CHECK_ARG(!seen[at[i]], "ScatterAddRows: index ", at[i], " repeats");
    seen[at[i]] = 1;
  }
  for (int64_t i = 0; i < rows; ++i) {
    if (at[i] < 0 || at[i] >= targets) continue;
    const int64_t s = i * width, d = static_cast<int64_t>(at[i]) * width;
    for (int64_t j = 0; j < width; ++j) {
      if (src.dtype == DType::kF32) {
        dst.as<float>()[d + j] += src.as<float>()[s + j];
      } else {
        uint16_t* out = dst.as<uint16_t>() + d + j;
        *out = F32ToBf16(Bf16ToF32(*out) + Bf16ToF32(src.as<uint16_t>()[s + j]));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace gptoss
