// Ops::PackRows and Ops::ScatterAddRows (the rows of expert dispatch, worker/comm):
// u8_gather_rows copies rows by a device index between strided row layouts (any dtype; 16-byte
// vectors when rows, strides and pointers allow), writing a zero row for an index outside the
// source (the dispatch plan's -1 padding); bf16_scatter_add_rows accumulates rows into indexed
// destination rows in fp32, skipping indices outside the destination. The indices are read on
// the device only, so a dispatch needs no host round trip (CUDA-graph capturable).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

// Strides and widths in units of V; a null index is the identity.
template <typename V>
__global__ void u8_gather_rows(const V* __restrict__ src, int64_t src_stride, int64_t src_rows,
                               const int32_t* __restrict__ index, int64_t row_vecs,
                               V* __restrict__ dst, int64_t dst_stride) {
  const int64_t i = blockIdx.x;
  const int64_t from = index != nullptr ? static_cast<int64_t>(index[i]) : i;
  V* d = dst + i * dst_stride;
  if (from < 0 || from >= src_rows) {
    for (int64_t j = threadIdx.x; j < row_vecs; j += blockDim.x) d[j] = V{};
    return;
  }
  const V* s = src + from * src_stride;
  for (int64_t j = threadIdx.x; j < row_vecs; j += blockDim.x) d[j] = s[j];
}

template <typename T>
__global__ void bf16_scatter_add_rows(const T* __restrict__ src, const int32_t* __restrict__ index,
                                      int64_t width, T* __restrict__ dst, int64_t dst_rows) {
  const int64_t i = blockIdx.x;
  const int64_t to = index[i];
  if (to < 0 || to >= dst_rows) return;
  const T* s = src + i * width;
  T* d = dst + to * width;
  for (int64_t j = threadIdx.x; j < width; j += blockDim.x)
    d[j] = FromFloat<T>(ToFloat(d[j]) + ToFloat(s[j]));
}

}  // namespace

absl::Status LaunchGatherRows(const LaunchContext& ctx, const void* src, int64_t src_stride,
                              int64_t src_rows, const int32_t* index, int64_t count,
                              int64_t row_bytes, void* dst, int64_t dst_stride) {
  if (count == 0 || row_bytes == 0) return absl::OkStatus();
  if (count > 0x7fffffff) return absl::InvalidArgumentError("GatherRows: too many rows");
  const bool vec = row_bytes % 16 == 0 && src_stride % 16 == 0 && dst_stride % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(src) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(dst) % 16 == 0;
  if (vec) {
    u8_gather_rows<uint4><<<static_cast<unsigned>(count), 128, 0, ctx.stream>>>(
        static_cast<const uint4*>(src), src_stride / 16, src_rows, index, row_bytes / 16,
        static_cast<uint4*>(dst), dst_stride / 16);
  } else {
    u8_gather_rows<uint8_t><<<static_cast<unsigned>(count), 128, 0, ctx.stream>>>(
        static_cast<const uint8_t*>(src), src_stride, src_rows, index, row_bytes,
        static_cast<uint8_t*>(dst), dst_stride);
  }
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("u8_gather_rows");
  return absl::OkStatus();
}

absl::Status LaunchScatterAddRows(const LaunchContext& ctx, const void* src, DType dtype,
                                  const int32_t* index, int64_t count, int64_t width, void* dst,
                                  int64_t dst_rows) {
  if (count == 0 || width == 0) return absl::OkStatus();
  if (count > 0x7fffffff) return absl::InvalidArgumentError("ScatterAddRows: too many rows");
  if (!IsFloatDType(dtype)) return absl::InvalidArgumentError("ScatterAddRows: F32 or BF16 only");
  DispatchFloat(dtype, [&](auto tv) {
    using T = decltype(tv);
    bf16_scatter_add_rows<T><<<static_cast<unsigned>(count), 256, 0, ctx.stream>>>(
        static_cast<const T*>(src), index, width, static_cast<T*>(dst), dst_rows);
  });
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_scatter_add_rows");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
