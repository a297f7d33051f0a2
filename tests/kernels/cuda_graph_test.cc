// CUDA-graph capture/replay (CudaGraphCache), the synthetic-weight fill kernels and the
// bandwidth probes.
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cuda/cuda_graph.h"
#include "kernels/cuda/synthetic_fill.h"
#include "kernels/core/synthetic_values.h"
#include "tests/kernels/cuda_test_util.h"

namespace gptoss {
namespace {

using testing::CudaOpsTest;
using testing::DeviceZeros;
using testing::ExpectClose;
using testing::RandomVector;
using testing::ToDevice;
using testing::ToHost;

TEST_F(CudaOpsTest, GraphReplayMatchesEagerWithNewInputs) {
  const int64_t n = 4, k = 256, m = 96;
  auto x_d = ToDevice(gpu(), RandomVector(n * k, gen_), DType::kBF16, {n, k});
  auto w_d = ToDevice(gpu(), RandomVector(m * k, gen_, 0.0625f), DType::kBF16, {m, k});
  auto b_d = ToDevice(gpu(), RandomVector(m, gen_), DType::kBF16, {m});
  auto norm_w = ToDevice(gpu(), RandomVector(k, gen_), DType::kBF16, {k});
  auto h_d = DeviceZeros(gpu(), DType::kBF16, {n, k});
  auto out_d = DeviceZeros(gpu(), DType::kF32, {n, m});
  auto step = [&]() -> absl::Status {
    absl::Status st = gpu().RmsNorm(x_d.view, norm_w.view, 1e-5f, h_d.view);
    if (!st.ok()) return st;
    return gpu().Linear(h_d.view, w_d.view, b_d.view, out_d.view);
  };
  cuda::CudaGraphCache graphs(gpu_.get());
  for (int call = 0; call < 4; ++call) {
    // New inputs in the same buffers before every call, as a decode loop does.
    const auto x = RandomVector(n * k, gen_);
    std::vector<uint16_t> bits(x.size());
    for (size_t i = 0; i < x.size(); ++i) bits[i] = F32ToBf16(x[i]);
    ASSERT_TRUE(gpu().CopyFromHost(x_d.view.data, bits.data(), bits.size() * 2).ok());
    ASSERT_TRUE(graphs.Run(/*key=*/n, step).ok());
    const auto via_graph = ToHost(gpu(), out_d.view);
    ASSERT_TRUE(step().ok());
    const auto eager = ToHost(gpu(), out_d.view);
    ExpectClose(via_graph, eager, 0, 0, "graph call " + std::to_string(call));
  }
  EXPECT_EQ(graphs.num_graphs(), 1) << graphs.last_capture_error();
  EXPECT_TRUE(graphs.last_capture_error().ok()) << graphs.last_capture_error();
}

TEST_F(CudaOpsTest, GraphCaptureFailureFallsBackToEager) {
  cuda::CudaGraphCache graphs(gpu_.get());
  int runs = 0;
  auto step = [&]() -> absl::Status {
    ++runs;
    return gpu().Allocate(16).status();  // allocating is refused under capture
  };
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(graphs.Run(7, step).ok());
  EXPECT_EQ(graphs.num_graphs(), 0);
  EXPECT_FALSE(graphs.last_capture_error().ok());
  EXPECT_TRUE(gpu().Synchronize().ok());
}

TEST_F(CudaOpsTest, SyntheticFillMatchesHostValues) {
  SyntheticFill gauss;
  gauss.kind = SyntheticFill::kGaussianBf16;
  gauss.key = 0x1234567890abcdefull;
  gauss.mean = 1.0;
  gauss.scale = 0.05 * 2.6e-5;
  SyntheticFill codes = gauss, scales = gauss;
  codes.kind = SyntheticFill::kMxfp4Codes;
  scales.kind = SyntheticFill::kE8M0Scales;
  scales.exponent = -6;
  const int64_t n = 100003;
  auto bf = DeviceZeros(gpu(), DType::kBF16, {n});
  auto u8a = DeviceZeros(gpu(), DType::kU8, {n});
  auto u8b = DeviceZeros(gpu(), DType::kU8, {n});
  ASSERT_TRUE(cuda::FillSynthetic(gpu().launch_context(), gauss, bf.view).ok());
  ASSERT_TRUE(cuda::FillSynthetic(gpu().launch_context(), codes, u8a.view).ok());
  ASSERT_TRUE(cuda::FillSynthetic(gpu().launch_context(), scales, u8b.view).ok());
  std::vector<uint16_t> got_bf(n);
  std::vector<uint8_t> got_a(n), got_b(n);
  ASSERT_TRUE(gpu().CopyToHost(got_bf.data(), bf.view.data, n * 2).ok());
  ASSERT_TRUE(gpu().CopyToHost(got_a.data(), u8a.view.data, n).ok());
  ASSERT_TRUE(gpu().CopyToHost(got_b.data(), u8b.view.data, n).ok());
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(got_bf[i], SyntheticBf16(gauss, i)) << i;
    ASSERT_EQ(got_a[i], SyntheticByte(codes, i)) << i;
    ASSERT_EQ(got_b[i], SyntheticByte(scales, i)) << i;
  }
}

TEST_F(CudaOpsTest, BandwidthProbesCopyAndRead) {
  const int64_t bytes = 1 << 20;
  std::vector<uint8_t> src(bytes);
  for (int64_t i = 0; i < bytes; ++i) src[i] = static_cast<uint8_t>(i * 7 + 3);
  auto a = testing::ToDeviceU8(gpu(), src, {bytes});
  auto b = DeviceZeros(gpu(), DType::kU8, {bytes});
  auto sink = DeviceZeros(gpu(), DType::kU8, {8});
  ASSERT_TRUE(cuda::LaunchCopyKernel(gpu().launch_context(), a.view.data, b.view.data, bytes).ok());
  ASSERT_TRUE(cuda::LaunchReadKernel(gpu().launch_context(), a.view.data, bytes,
                                     static_cast<unsigned long long*>(sink.view.data))
                  .ok());
  std::vector<uint8_t> back(bytes);
  ASSERT_TRUE(gpu().CopyToHost(back.data(), b.view.data, bytes).ok());
  EXPECT_EQ(back, src);
}

}  // namespace
}  // namespace gptoss
