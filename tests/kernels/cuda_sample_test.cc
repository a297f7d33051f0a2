// CudaOps::Sample vs CpuOps: the same ids (same uniform, same sorted order, same filters) and
// the same raw-distribution logprobs, for greedy rows, temperature only, top_k, top_p, min_p
// and their combination, in one mixed batch, at a small vocabulary and at the real one.
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/cuda_test_util.h"

namespace gptoss {
namespace {

using testing::CudaOpsTest;
using testing::DevicePoisoned;
using testing::DeviceZeros;
using testing::ExpectClose;
using testing::HostF32;
using testing::ToDevice;
using testing::ToHost;
using testing::ToHostI32;

TEST_F(CudaOpsTest, SampleMatchesCpu) {
  for (int64_t vocab : {5000, 201088}) {
    std::vector<SamplingParams> params;
    auto add = [&](float t, float top_p, int top_k, float min_p, uint64_t seed, uint64_t step) {
      SamplingParams p;
      p.temperature = t;
      p.top_p = top_p;
      p.top_k = top_k;
      p.min_p = min_p;
      p.seed = seed;
      p.step = step;
      params.push_back(p);
    };
    add(0.0f, 1.0f, 0, 0.0f, 1, 0);       // greedy
    add(1.0f, 1.0f, 0, 0.0f, 7, 3);       // plain sampling
    add(0.7f, 0.9f, 0, 0.0f, 11, 1);      // nucleus
    add(1.3f, 1.0f, 50, 0.0f, 5, 9);      // top-k
    add(1.0f, 1.0f, 0, 0.05f, 3, 2);      // min-p
    add(0.8f, 0.95f, 40, 0.02f, 42, 17);  // everything
    add(0.0f, 0.5f, 10, 0.5f, 9, 9);      // greedy ignores filters
    for (uint64_t step = 0; step < 8; ++step) add(1.0f, 0.8f, 0, 0.0f, 1234, step);
    const int64_t rows = static_cast<int64_t>(params.size());
    // Logits with a peaked head and a long tail, and one exact tie at the top of row 0.
    std::vector<float> logits(rows * vocab);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (auto& l : logits) l = normal(gen_);
    logits[5] = logits[17] = 30.0f;
    auto logits_d = ToDevice(gpu(), logits, DType::kF32, {rows, vocab});
    auto ids_d = DevicePoisoned(gpu(), DType::kI32, {rows});
    auto lp_d = DevicePoisoned(gpu(), DType::kF32, {rows});
    const absl::Status st = gpu().Sample(logits_d.view, params, ids_d.view, lp_d.view);
    ASSERT_TRUE(st.ok()) << st;
    HostTensor logits_h = HostF32(logits, {rows, vocab}), ids_h(DType::kI32, {rows}), lp_h(DType::kF32, {rows});
    ASSERT_TRUE(cpu_.Sample(logits_h.view(), params, ids_h.view(), lp_h.view()).ok());
    const auto ids = ToHostI32(gpu(), ids_d.view);
    EXPECT_EQ(ids[0], 5) << "greedy ties pick the lowest id";
    EXPECT_EQ(ids, std::vector<int32_t>(ids_h.as<int32_t>(), ids_h.as<int32_t>() + rows)) << "vocab " << vocab;
    ExpectClose(ToHost(gpu(), lp_d.view), testing::HostValues(lp_h), 0, 1e-4, "logprobs");
  }
}

TEST_F(CudaOpsTest, SampleRejectsBadParams) {
  auto logits = DeviceZeros(gpu(), DType::kF32, {1, 10});
  auto ids = DeviceZeros(gpu(), DType::kI32, {1});
  auto lp = DeviceZeros(gpu(), DType::kF32, {1});
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.0f;
  EXPECT_EQ(gpu().Sample(logits.view, {p}, ids.view, lp.view).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpu().Sample(logits.view, {}, ids.view, lp.view).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gptoss
