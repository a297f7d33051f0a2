// Status plumbing for the CUDA backend: every CUDA runtime, cuBLAS(Lt) and NCCL call is wrapped
// in a macro that turns a failure code into an absl::Status carrying the failing expression,
// the library's error string and file:line, and returns it from the enclosing function.
//
// Contract: the macros only evaluate `expr` once. Kernel launches are followed by
// GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR(name), which reports launch-configuration errors synchronously
// (cudaGetLastError); errors raised while a kernel runs surface at the next synchronizing call
// (CudaOps::Synchronize).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include "absl/status/status.h"
#include "kernels/core/status.h"

namespace gptoss::cuda {

absl::Status CudaErrorToStatus(cudaError_t code, const char* expr, const char* file, int line);
absl::Status CublasErrorToStatus(cublasStatus_t code, const char* expr, const char* file,
                                 int line);
absl::Status NcclErrorToStatus(ncclResult_t code, const char* expr, const char* file, int line);

}  // namespace gptoss::cuda

#define GPTOSS_CUDA_RETURN_IF_ERROR(expr)                                                          \
  do {                                                                                      \
    const cudaError_t gptoss_cuda_err_ = (expr);                                            \
    if (gptoss_cuda_err_ != cudaSuccess)                                                    \
      return ::gptoss::cuda::CudaErrorToStatus(gptoss_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define GPTOSS_CUBLAS_RETURN_IF_ERROR(expr)                                                        \
  do {                                                                                      \
    const cublasStatus_t gptoss_cublas_err_ = (expr);                                       \
    if (gptoss_cublas_err_ != CUBLAS_STATUS_SUCCESS)                                        \
      return ::gptoss::cuda::CublasErrorToStatus(gptoss_cublas_err_, #expr, __FILE__,       \
                                                 __LINE__);                                 \
  } while (0)

#define GPTOSS_NCCL_RETURN_IF_ERROR(expr)                                                          \
  do {                                                                                      \
    const ncclResult_t gptoss_nccl_err_ = (expr);                                           \
    if (gptoss_nccl_err_ != ncclSuccess)                                                    \
      return ::gptoss::cuda::NcclErrorToStatus(gptoss_nccl_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// After `kernel<<<...>>>(...)`: a bad launch configuration (grid too large, too much shared
// memory, no device) becomes a Status naming the kernel.
#define GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR(kernel_name)                                             \
  do {                                                                                       \
    const cudaError_t gptoss_launch_err_ = cudaGetLastError();                               \
    if (gptoss_launch_err_ != cudaSuccess)                                                   \
      return ::gptoss::cuda::CudaErrorToStatus(gptoss_launch_err_, "launch of " kernel_name, \
                                               __FILE__, __LINE__);                          \
  } while (0)
