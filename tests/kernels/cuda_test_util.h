// Helpers of the GPU tests (label gpu): skip with a printed reason when no usable GPU exists,
// and move test data between the host (CpuOps reference, fp32) and CudaOps (device, bf16).
//
// The reference always sees exactly the values the GPU sees: data is generated in fp32,
// rounded to bf16 once, and the rounded values are given to CpuOps as F32.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/core/dtype.h"
#include "kernels/core/tensor.h"
#include "kernels/cuda/cuda_device.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"

// Skips the current test when no sm_90 GPU can be used. ctest marks a test binary whose output
// contains GPTOSS_NO_GPU as skipped (SKIP_REGULAR_EXPRESSION in tests/*/CMakeLists.txt); on a
// GPU machine the marker never appears, so real failures are never hidden.
#define GPTOSS_REQUIRE_GPU()                                                         \
  do {                                                                               \
    const ::absl::Status gptoss_gpu_ = ::gptoss::cuda::CudaDeviceAvailable();        \
    if (!gptoss_gpu_.ok()) GTEST_SKIP() << "GPTOSS_NO_GPU: " << gptoss_gpu_.message(); \
  } while (0)

namespace gptoss::testing {

// Owning device tensor (memory from CudaOps::Allocate).
struct DeviceTensor {
  std::shared_ptr<void> memory;
  TensorView view;
};

// Host fp32 data rounded to bf16 (the values both backends see).
std::vector<float> RoundBf16(std::vector<float> v);
std::vector<float> RandomVector(size_t n, std::mt19937& gen, float scale = 1.0f);

DeviceTensor ToDevice(cuda::CudaOps& ops, const std::vector<float>& values, DType dtype,
                      std::initializer_list<int64_t> shape);
DeviceTensor ToDeviceI32(cuda::CudaOps& ops, const std::vector<int32_t>& values,
                         std::initializer_list<int64_t> shape);
DeviceTensor ToDeviceU8(cuda::CudaOps& ops, const std::vector<uint8_t>& values,
                        std::initializer_list<int64_t> shape);
DeviceTensor DeviceZeros(cuda::CudaOps& ops, DType dtype, std::initializer_list<int64_t> shape);
// Every byte 0xFF: NaN in F32 and BF16, -1 in I32. Outputs an op must overwrite start from it,
// so an element the kernel never writes fails the comparison instead of passing as a zero.
DeviceTensor DevicePoisoned(cuda::CudaOps& ops, DType dtype, std::initializer_list<int64_t> shape);
// Device -> host as floats (BF16 and F32 tensors); synchronizes and surfaces device errors.
std::vector<float> ToHost(cuda::CudaOps& ops, const TensorView& t);
std::vector<int32_t> ToHostI32(cuda::CudaOps& ops, const TensorView& t);

// Host tensors for CpuOps.
HostTensor HostF32(const std::vector<float>& values, std::initializer_list<int64_t> shape);
HostTensor HostI32(const std::vector<int32_t>& values, std::initializer_list<int64_t> shape);
HostTensor HostU8(const std::vector<uint8_t>& values, std::initializer_list<int64_t> shape);
std::vector<float> HostValues(const HostTensor& t);

// Base fixture: a CudaOps on device 0 (the test is skipped without a GPU) and the CpuOps
// reference.
class CudaOpsTest : public ::testing::Test {
 protected:
  void SetUp() override;
  cuda::CudaOps& gpu() { return *gpu_; }

  std::unique_ptr<cuda::CudaOps> gpu_;
  CpuOps cpu_;
  std::mt19937 gen_{20240601};
};

// Expects |got - ref| <= atol + rtol * max|ref| elementwise and prints the worst error.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& ref, double rtol,
                 double atol, const std::string& what);

}  // namespace gptoss::testing
