#include "tools/bench/cuda_support.h"

#include <chrono>

#include "kernels/core/status.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/synthetic_fill.h"

namespace gptoss::bench {

struct CudaSupport::Impl {
  cuda::CudaOps* ops = nullptr;
};

CudaSupport::CudaSupport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaSupport::~CudaSupport() = default;

absl::StatusOr<std::unique_ptr<CudaSupport>> CudaSupport::Create(Ops* ops) {
  auto* cuda_ops = dynamic_cast<cuda::CudaOps*>(ops);
  GPTOSS_CHECK_ARG(cuda_ops != nullptr, "CudaSupport needs the CUDA backend");
  auto impl = std::make_unique<Impl>();
  impl->ops = cuda_ops;
  return std::unique_ptr<CudaSupport>(new CudaSupport(std::move(impl)));
}

SyntheticFiller CudaSupport::Filler() {
  cuda::CudaOps* ops = impl_->ops;
  return [ops](const SyntheticFill& fill, TensorView dst) {
    return cuda::FillSynthetic(ops->launch_context(), fill, dst);
  };
}

std::string CudaSupport::device_name() const { return impl_->ops->info().name; }

double CudaSupport::datasheet_bandwidth() const { return impl_->ops->info().theoretical_bandwidth(); }

absl::StatusOr<CudaSupport::Bandwidth> CudaSupport::MeasureBandwidth(size_t bytes, int iterations) {
  bytes = bytes / 16 * 16;
  GPTOSS_CHECK_ARG(bytes > 0 && iterations > 0, "bandwidth probe: empty");
  GPTOSS_ASSIGN_OR_RETURN(cuda::DeviceBuffer a, cuda::DeviceBuffer::Allocate(bytes));
  GPTOSS_ASSIGN_OR_RETURN(cuda::DeviceBuffer b, cuda::DeviceBuffer::Allocate(bytes));
  GPTOSS_ASSIGN_OR_RETURN(cuda::DeviceBuffer sink, cuda::DeviceBuffer::Allocate(sizeof(unsigned long long)));
  const cuda::LaunchContext& ctx = impl_->ops->launch_context();
  auto time = [&](auto&& launch) -> absl::StatusOr<double> {
    GPTOSS_RETURN_IF_ERROR(launch());  // warm-up
    GPTOSS_RETURN_IF_ERROR(impl_->ops->Synchronize());
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) GPTOSS_RETURN_IF_ERROR(launch());
    GPTOSS_RETURN_IF_ERROR(impl_->ops->Synchronize());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iterations;
  };
  Bandwidth bw;
  GPTOSS_ASSIGN_OR_RETURN(const double copy_s,
                   time([&] { return cuda::LaunchCopyKernel(ctx, a.data(), b.data(), bytes); }));
  GPTOSS_ASSIGN_OR_RETURN(const double read_s, time([&] {
    return cuda::LaunchReadKernel(ctx, a.data(), bytes, static_cast<unsigned long long*>(sink.data()));
  }));
  bw.copy_bytes_per_s = 2.0 * static_cast<double>(bytes) / copy_s;
  bw.read_bytes_per_s = static_cast<double>(bytes) / read_s;
  return bw;
}

}  // namespace gptoss::bench
