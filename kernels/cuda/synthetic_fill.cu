// synthetic fill kernels: write kernels/core/synthetic_values.h values straight into device
// memory (bf16 tensors and MXFP4 code / scale bytes), so benchmarks need no checkpoint file.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/synthetic_fill.h"
#include "kernels/core/synthetic_values.h"

namespace gptoss::cuda {
namespace {

__global__ void bf16_synthetic_fill(uint16_t* __restrict__ dst, int64_t n, SyntheticFill f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    dst[i] = SyntheticBf16(f, static_cast<uint64_t>(i));
}

__global__ void u8_synthetic_fill(uint8_t* __restrict__ dst, int64_t n, SyntheticFill f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    dst[i] = SyntheticByte(f, static_cast<uint64_t>(i));
}

}  // namespace

absl::Status FillSynthetic(const LaunchContext& ctx, const SyntheticFill& fill, TensorView dst) {
  if (dst.device != Device::kCuda)
    return absl::InvalidArgumentError("FillSynthetic: destination is not CUDA device memory");
  const int64_t n = dst.numel();
  if (n == 0) return absl::OkStatus();
  if (dst.data == nullptr) return absl::InvalidArgumentError("FillSynthetic: null destination");
  const int threads = 256;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(CeilDiv(n, threads), 64LL * ctx.num_sms));
  if (fill.kind == SyntheticFill::kGaussianBf16) {
    if (dst.dtype != DType::kBF16)
      return absl::InvalidArgumentError("FillSynthetic: gaussian fill needs a BF16 tensor");
    bf16_synthetic_fill<<<blocks, threads, 0, ctx.stream>>>(dst.as<uint16_t>(), n, fill);
    GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_synthetic_fill");
  } else {
    if (dst.dtype != DType::kU8)
      return absl::InvalidArgumentError("FillSynthetic: MXFP4 fills need a U8 tensor");
    u8_synthetic_fill<<<blocks, threads, 0, ctx.stream>>>(dst.as<uint8_t>(), n, fill);
    GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("u8_synthetic_fill");
  }
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
