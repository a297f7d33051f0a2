// CudaOps::MoeMlp (bf16_mxfp4w_moe_mlp) vs CpuOps: random MXFP4 experts (every code, scales
// around the realistic range), interleaved gate/up with clamps, biases, grouped by expert with
// partial row tiles; an expert-parallel slice (rows of non-local experts must be zeros); K and N
// tails (96 / 160: not multiples of the 64-wide tiles); the gpt-oss width (H = I = 2880) and the
// tiny preset's.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/kernels/cuda_test_util.h"

namespace gptoss {
namespace {

using testing::CudaOpsTest;
using testing::DeviceTensor;
using testing::DeviceZeros;
using testing::ExpectClose;
using testing::HostF32;
using testing::HostI32;
using testing::HostU8;
using testing::HostValues;
using testing::RandomVector;
using testing::ToDevice;
using testing::ToDeviceI32;
using testing::ToDeviceU8;
using testing::ToHost;

struct MoeCase {
  std::string name;
  int64_t rows, hidden, inter;
  int experts, top_k, first_local, num_local;
};

class CudaMoeTest : public CudaOpsTest, public ::testing::WithParamInterface<MoeCase> {};

std::vector<uint8_t> RandomBytes(size_t n, std::mt19937& gen) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(gen());
  return v;
}

// E8M0 scales near 2^-(log2(fan_in)/2 + 2): dequantized weights of RMS ~ 1/sqrt(fan_in).
std::vector<uint8_t> RandomScales(size_t n, int64_t fan_in, std::mt19937& gen) {
  int base = 127 - 2;
  for (int64_t f = fan_in; f > 1; f >>= 2) --base;
  std::vector<uint8_t> v(n);
  for (auto& s : v) s = static_cast<uint8_t>(base + static_cast<int>(gen() % 3) - 1);
  return v;
}

TEST_P(CudaMoeTest, MatchesCpu) {
  const MoeCase& c = GetParam();
  const int64_t E = c.num_local, H = c.hidden, I = c.inter, R = c.rows, k = c.top_k;
  auto gu_blocks = RandomBytes(E * 2 * I * (H / 32) * 16, gen_);
  auto gu_scales = RandomScales(E * 2 * I * (H / 32), H, gen_);
  auto gu_bias = RandomVector(E * 2 * I, gen_, 0.1f);
  auto dn_blocks = RandomBytes(E * H * (I / 32) * 16, gen_);
  auto dn_scales = RandomScales(E * H * (I / 32), I, gen_);
  auto dn_bias = RandomVector(E * H, gen_, 0.1f);
  auto x = RandomVector(R * H, gen_, 2.0f);
  // Distinct experts per row (as top-k gives), drawn over ALL experts so some are not local.
  std::vector<int32_t> ids(R * k);
  for (int64_t r = 0; r < R; ++r) {
    std::vector<int32_t> all(c.experts);
    for (int e = 0; e < c.experts; ++e) all[e] = e;
    std::shuffle(all.begin(), all.end(), gen_);
    std::copy_n(all.begin(), k, ids.begin() + r * k);
  }

  auto gub_d = ToDeviceU8(gpu(), gu_blocks, {E, 2 * I, H / 32, 16});
  auto gus_d = ToDeviceU8(gpu(), gu_scales, {E, 2 * I, H / 32});
  auto gubias_d = ToDevice(gpu(), gu_bias, DType::kBF16, {E, 2 * I});
  auto dnb_d = ToDeviceU8(gpu(), dn_blocks, {E, H, I / 32, 16});
  auto dns_d = ToDeviceU8(gpu(), dn_scales, {E, H, I / 32});
  auto dnbias_d = ToDevice(gpu(), dn_bias, DType::kBF16, {E, H});
  auto x_d = ToDevice(gpu(), x, DType::kBF16, {R, H});
  auto ids_d = ToDeviceI32(gpu(), ids, {R, k});
  // Poison the output so that rows the kernel forgets to write are caught.
  auto out_d = ToDevice(gpu(), std::vector<float>(R * k * H, 12345.0f), DType::kBF16, {R, k, H});
  ExpertWeights ew_d{gub_d.view, gus_d.view, gubias_d.view, dnb_d.view, dns_d.view, dnbias_d.view,
                     c.first_local, c.num_local, 7.0f, 1.702f};
  const absl::Status st = gpu().MoeMlp(x_d.view, ids_d.view, ew_d, out_d.view);
  ASSERT_TRUE(st.ok()) << st;
  const auto got = ToHost(gpu(), out_d.view);

  HostTensor gub_h = HostU8(gu_blocks, {E, 2 * I, H / 32, 16}), gus_h = HostU8(gu_scales, {E, 2 * I, H / 32});
  HostTensor gubias_h = HostF32(gu_bias, {E, 2 * I});
  HostTensor dnb_h = HostU8(dn_blocks, {E, H, I / 32, 16}), dns_h = HostU8(dn_scales, {E, H, I / 32});
  HostTensor dnbias_h = HostF32(dn_bias, {E, H});
  HostTensor x_h = HostF32(x, {R, H}), ids_h = HostI32(ids, {R, k}), out_h(DType::kF32, {R, k, H});
  ExpertWeights ew_h{gub_h.view(), gus_h.view(), gubias_h.view(), dnb_h.view(), dns_h.view(),
                     dnbias_h.view(), c.first_local, c.num_local, 7.0f, 1.702f};
  ASSERT_TRUE(cpu_.MoeMlp(x_h.view(), ids_h.view(), ew_h, out_h.view()).ok());
  const auto ref = HostValues(out_h);
  // The intermediate activation is rounded to bf16 on the GPU (fp32 on the CPU): a few bf16
  // ulps of the largest output.
  ExpectClose(got, ref, 2e-2, 1e-3, "moe " + c.name);
  for (int64_t p = 0; p < R * k; ++p) {
    const int local = ids[p] - c.first_local;
    if (local >= 0 && local < c.num_local) continue;
    for (int64_t h = 0; h < H; ++h) ASSERT_EQ(got[p * H + h], 0.0f) << "non-local pair " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Experts, CudaMoeTest,
    ::testing::Values(MoeCase{"tiny_decode", 1, 64, 64, 8, 4, 0, 8},
                      MoeCase{"tiny_batch", 40, 64, 64, 8, 4, 0, 8},
                      MoeCase{"tiny_ep_slice", 37, 64, 64, 8, 4, 2, 4},
                      MoeCase{"wide_k_tail", 9, 96, 160, 6, 2, 0, 6},
                      MoeCase{"gptoss_width_decode", 2, 2880, 2880, 32, 4, 0, 32},
                      MoeCase{"gptoss_width_batch", 24, 2880, 2880, 4, 4, 0, 4}),
    [](const auto& info) { return info.param.name; });

TEST_F(CudaOpsTest, MoeReportsNegativeExpertIds) {
  const int64_t H = 64, I = 64;
  auto z8 = [&](std::initializer_list<int64_t> shape) { return DeviceZeros(gpu(), DType::kU8, shape); };
  DeviceTensor gub = z8({1, 2 * I, H / 32, 16}), gus = z8({1, 2 * I, H / 32});
  DeviceTensor dnb = z8({1, H, I / 32, 16}), dns = z8({1, H, I / 32});
  auto gubias = DeviceZeros(gpu(), DType::kBF16, {1, 2 * I});
  auto dnbias = DeviceZeros(gpu(), DType::kBF16, {1, H});
  auto x = DeviceZeros(gpu(), DType::kBF16, {1, H});
  auto ids = ToDeviceI32(gpu(), {-1}, {1, 1});
  auto out = DeviceZeros(gpu(), DType::kBF16, {1, 1, H});
  ExpertWeights ew{gub.view, gus.view, gubias.view, dnb.view, dns.view, dnbias.view, 0, 1, 7.0f, 1.702f};
  ASSERT_TRUE(gpu().MoeMlp(x.view, ids.view, ew, out.view).ok());
  const absl::Status st = gpu().Synchronize();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gptoss
