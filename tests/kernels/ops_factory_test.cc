// CreateOps picks the backend at start-up and never fails for "cpu"/"auto".
#include "kernels/ops_factory.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

TEST(OpsFactoryTest, CpuAlwaysWorks) {
  auto ops = CreateOps("cpu");
  ASSERT_TRUE(ops.ok()) << ops.status();
  EXPECT_EQ((*ops)->device(), Device::kCpu);
  EXPECT_EQ((*ops)->activation_dtype(), DType::kF32);
}

TEST(OpsFactoryTest, AutoFallsBackToCpuWithoutGpu) {
  auto ops = CreateOps("auto");
  ASSERT_TRUE(ops.ok()) << ops.status();
  auto cuda = CreateOps("cuda");
  if (cuda.ok()) {
    EXPECT_EQ((*ops)->device(), Device::kCuda);
    EXPECT_EQ((*cuda)->activation_dtype(), DType::kBF16);
  } else {
    EXPECT_EQ(cuda.status().code(), absl::StatusCode::kUnavailable) << cuda.status();
    EXPECT_EQ((*ops)->device(), Device::kCpu);
    std::printf("cuda backend unavailable here: %s\n", std::string(cuda.status().message()).c_str());
  }
}

TEST(OpsFactoryTest, UnknownBackendIsNamed) {
  auto ops = CreateOps("tpu");
  EXPECT_EQ(ops.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ops.status().message(), HasSubstr("tpu"));
  EXPECT_THAT(ops.status().message(), HasSubstr("cpu, cuda or auto"));
}

}  // namespace
}  // namespace gptoss
