// The CPU-side parts of the CUDA backend, which run on any machine of a CUDA build: status
// conversion macros (expression, library text, file:line, code mapping), device discovery and
// CudaOps creation failing cleanly (Unavailable with the reason) when there is no usable GPU.
#include "kernels/cuda/cuda_check.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/cuda_ops.h"

namespace gptoss::cuda {
namespace {

using ::testing::HasSubstr;

absl::Status FailCuda() {
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaErrorMemoryAllocation);
  return absl::OkStatus();
}
absl::Status FailCublas() {
  GPTOSS_CUBLAS_RETURN_IF_ERROR(CUBLAS_STATUS_NOT_SUPPORTED);
  return absl::OkStatus();
}
absl::Status FailNccl() {
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclInvalidArgument);
  return absl::OkStatus();
}
absl::Status PassAll() {
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaSuccess);
  GPTOSS_CUBLAS_RETURN_IF_ERROR(CUBLAS_STATUS_SUCCESS);
  GPTOSS_NCCL_RETURN_IF_ERROR(ncclSuccess);
  return absl::OkStatus();
}

TEST(CudaCheckTest, MacrosKeepExpressionLocationAndCode) {
  const absl::Status cuda = FailCuda();
  EXPECT_EQ(cuda.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(cuda.message(), HasSubstr("cudaErrorMemoryAllocation"));
  EXPECT_THAT(cuda.message(), HasSubstr("cuda_check_test.cc:"));
  const absl::Status cublas = FailCublas();
  EXPECT_EQ(cublas.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(cublas.message(), HasSubstr("CUBLAS_STATUS_NOT_SUPPORTED"));
  EXPECT_THAT(cublas.message(), HasSubstr("cuda_check_test.cc:"));
  const absl::Status nccl = FailNccl();
  EXPECT_EQ(nccl.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nccl.message(), HasSubstr("ncclInvalidArgument"));
  EXPECT_TRUE(PassAll().ok());
}

TEST(CudaCheckTest, DeviceDiscoveryAndCreateNeverCrash) {
  const absl::Status available = CudaDeviceAvailable();
  auto ops = CudaOps::Create(0);
  if (available.ok()) {
    EXPECT_TRUE(ops.ok()) << ops.status();
  } else {
    std::printf("no GPU here: %s\n", std::string(available.message()).c_str());
    EXPECT_EQ(available.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(ops.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(ops.status().message(), HasSubstr("no usable CUDA device"));
  }
}

}  // namespace
}  // namespace gptoss::cuda
