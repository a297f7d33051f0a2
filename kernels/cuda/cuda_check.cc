#include "kernels/cuda/cuda_check.h"

#include "absl/strings/str_cat.h"

namespace gptoss::cuda {
namespace {

std::string Where(const char* expr, const char* file, int line) {
  return absl::StrCat(" in `", expr, "` at ", BaseName(file), ":", line);
}

}  // namespace

absl::Status CudaErrorToStatus(cudaError_t code, const char* expr, const char* file, int line) {
  const std::string msg = absl::StrCat("CUDA error ", static_cast<int>(code), " (",
                                       cudaGetErrorName(code), ": ", cudaGetErrorString(code),
                                       ")", Where(expr, file, line));
  switch (code) {
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(msg);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorDevicesUnavailable:
    case cudaErrorInvalidDevice:
      return absl::UnavailableError(msg);
    case cudaErrorInvalidValue:
    case cudaErrorInvalidConfiguration:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status CublasErrorToStatus(cublasStatus_t code, const char* expr, const char* file,
                                 int line) {
  const std::string msg = absl::StrCat("cuBLAS error ", static_cast<int>(code), " (",
                                       cublasGetStatusName(code), ": ",
                                       cublasGetStatusString(code), ")", Where(expr, file, line));
  switch (code) {
    case CUBLAS_STATUS_ALLOC_FAILED:
      return absl::ResourceExhaustedError(msg);
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return absl::UnimplementedError(msg);
    case CUBLAS_STATUS_INVALID_VALUE:
      return absl::InvalidArgumentError(msg);
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status NcclErrorToStatus(ncclResult_t code, const char* expr, const char* file, int line) {
  const std::string msg = absl::StrCat("NCCL error ", static_cast<int>(code), " (",
                                       ncclGetErrorString(code), ")", Where(expr, file, line));
  switch (code) {
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return absl::InvalidArgumentError(msg);
    case ncclRemoteError:
    case ncclSystemError:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace gptoss::cuda
