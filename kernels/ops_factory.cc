#include "kernels/ops_factory.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_ops.h"

#if defined(GPTOSS_HAVE_CUDA)
#include "kernels/cuda/cuda_graph.h"
#include "kernels/cuda/cuda_ops.h"
#endif

namespace gptoss {
namespace {

absl::StatusOr<std::unique_ptr<Ops>> CreateCuda() {
#if defined(GPTOSS_HAVE_CUDA)
  auto ops = cuda::CudaOps::Create(0);
  if (!ops.ok()) return ops.status();
  return std::unique_ptr<Ops>(std::move(ops).value());
#else
  return absl::UnavailableError("this build has no CUDA backend (configured with GPTOSS_CUDA=OFF "
                                "or without nvcc)");
#endif
}

}  // namespace

absl::Status SelectKernelSet(Ops* ops, std::string_view name) {
  if (name != "fused" && name != "baseline")
    return absl::InvalidArgumentError(
        absl::StrCat("unknown kernel set '", std::string(name), "': expected fused or baseline"));
#if defined(GPTOSS_HAVE_CUDA)
  if (auto* cuda_ops = dynamic_cast<cuda::CudaOps*>(ops)) {
    auto kernels = cuda::CudaOps::KernelsByName(name);
    if (!kernels.ok()) return kernels.status();
    cuda_ops->set_kernels(*kernels);
  }
#endif
  (void)ops;
  return absl::OkStatus();
}

std::unique_ptr<StepGraphs> CreateStepGraphs(Ops* ops) {
#if defined(GPTOSS_HAVE_CUDA)
  if (auto* cuda_ops = dynamic_cast<cuda::CudaOps*>(ops))
    return std::make_unique<cuda::CudaGraphCache>(cuda_ops);
#endif
  (void)ops;
  return nullptr;
}

bool BuiltWithCuda() {
#if defined(GPTOSS_HAVE_CUDA)
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<Ops>> CreateOps(std::string_view backend) {
  if (backend == "cpu") return std::unique_ptr<Ops>(std::make_unique<CpuOps>());
  if (backend == "cuda") return CreateCuda();
  if (backend == "auto") {
    auto cuda = CreateCuda();
    if (cuda.ok()) return cuda;
    return std::unique_ptr<Ops>(std::make_unique<CpuOps>());
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown backend '", std::string(backend), "': expected cpu, cuda or auto"));
}

}  // namespace gptoss
