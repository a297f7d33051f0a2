// The fused decode kernels of CudaOps (kernel set "fused") against their references: the
// CpuOps composition of the ops they stand for (bf16 tolerance), and the same composition on
// the GPU (kernel set "baseline"), which AddRmsNorm and RopeAppendKv must reproduce bit for bit
// because they round exactly where the two ops do. MoeExperts' GEMVs (moe_gemv.cu) cover one
// decode row at the gpt-oss width, rows sharing experts, more rows of one expert than a pass
// stages, an expert-parallel slice with non-local ids, and F32 biases and residuals.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cuda/cuda_graph.h"
#include "kernels/rope_yarn.h"
#include "tests/kernels/cuda_test_util.h"

namespace gptoss {
namespace {

using testing::CudaOpsTest;
using testing::DevicePoisoned;
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
using ::testing::HasSubstr;

class CudaFusedTest : public CudaOpsTest {
 protected:
  void UseKernels(const char* name) {
    auto kernels = cuda::CudaOps::KernelsByName(name);
    ASSERT_TRUE(kernels.ok()) << kernels.status();
    gpu().set_kernels(*kernels);
  }
};

TEST_F(CudaFusedTest, AddRmsNormEqualsAddThenNormBitForBit) {
  for (int64_t hidden : {64, 2880, 100}) {
    const int64_t n = 5;
    const auto x = RandomVector(n * hidden, gen_), res = RandomVector(n * hidden, gen_, 3.0f);
    const auto w = RandomVector(hidden, gen_);
    auto w_d = ToDevice(gpu(), w, DType::kBF16, {hidden});
    auto x_d = ToDevice(gpu(), x, DType::kBF16, {n, hidden});
    std::vector<std::vector<float>> residuals, outs;
    for (const char* set : {"fused", "baseline"}) {
      UseKernels(set);
      auto res_d = ToDevice(gpu(), res, DType::kBF16, {n, hidden});
      auto out_d = DevicePoisoned(gpu(), DType::kBF16, {n, hidden});
      ASSERT_TRUE(gpu().AddRmsNorm(x_d.view, res_d.view, w_d.view, 1e-5f, out_d.view).ok());
      residuals.push_back(ToHost(gpu(), res_d.view));
      outs.push_back(ToHost(gpu(), out_d.view));
    }
    ExpectClose(residuals[0], residuals[1], 0, 0, "fused vs baseline residual");
    ExpectClose(outs[0], outs[1], 0, 0, "fused vs baseline norm");
    HostTensor x_h = HostF32(x, {n, hidden}), res_h = HostF32(res, {n, hidden});
    HostTensor w_h = HostF32(w, {hidden}), out_h(DType::kF32, {n, hidden});
    ASSERT_TRUE(cpu_.AddRmsNorm(x_h.view(), res_h.view(), w_h.view(), 1e-5f, out_h.view()).ok());
    ExpectClose(residuals[0], HostValues(res_h), 8e-3, 1e-6, "residual vs cpu");
    ExpectClose(outs[0], HostValues(out_h), 2e-2, 1e-5, "norm vs cpu");
  }
}

TEST_F(CudaFusedTest, RopeAppendKvEqualsRopeThenAppendBitForBit) {
  YarnConfig yc;
  yc.head_dim = 64;
  const YarnTable table = ComputeYarnTable(yc);
  const std::vector<int32_t> positions = {0, 1, 127, 128, 4096, 131071, 7};
  const int64_t n = static_cast<int64_t>(positions.size()), hq = 8, hk = 2, d = 64;
  const int64_t blocks = 4, bs = 4;
  const std::vector<int32_t> slots = {3, 0, 15, 9, 4, 12, 1};
  const auto q = RandomVector(n * hq * d, gen_), k = RandomVector(n * hk * d, gen_);
  const auto v = RandomVector(n * hk * d, gen_);
  auto pos_d = ToDeviceI32(gpu(), positions, {n});
  auto slots_d = ToDeviceI32(gpu(), slots, {n});
  auto inv_d = ToDevice(gpu(), table.inv_freq, DType::kF32, {d / 2});
  auto v_d = ToDevice(gpu(), v, DType::kBF16, {n, hk, d});
  const RopeTable rope_d{inv_d.view, table.attention_scaling};
  std::vector<std::vector<float>> results;  // q, k, k cache, v cache per kernel set
  for (const char* set : {"fused", "baseline"}) {
    UseKernels(set);
    auto q_d = ToDevice(gpu(), q, DType::kBF16, {n, hq, d});
    auto k_d = ToDevice(gpu(), k, DType::kBF16, {n, hk, d});
    auto kc_d = DevicePoisoned(gpu(), DType::kBF16, {blocks, bs, hk, d});
    auto vc_d = DevicePoisoned(gpu(), DType::kBF16, {blocks, bs, hk, d});
    ASSERT_TRUE(gpu().RopeAppendKv(q_d.view, k_d.view, v_d.view, pos_d.view, rope_d, slots_d.view,
                                   KvLayerView{kc_d.view, vc_d.view}).ok());
    for (const TensorView* t : {&q_d.view, &k_d.view, &kc_d.view, &vc_d.view})
      results.push_back(ToHost(gpu(), *t));
  }
  // Slots never written stay NaN in both; written ones must agree exactly. Compare NaN-aware.
  for (int i = 0; i < 4; ++i) {
    const auto& a = results[i];
    const auto& b = results[i + 4];
    ASSERT_EQ(a.size(), b.size());
    for (size_t j = 0; j < a.size(); ++j) {
      if (std::isnan(a[j]) || std::isnan(b[j])) {
        ASSERT_TRUE(std::isnan(a[j]) && std::isnan(b[j])) << "tensor " << i << " element " << j;
      } else {
        ASSERT_EQ(a[j], b[j]) << "tensor " << i << " element " << j;
      }
    }
  }
  HostTensor q_h = HostF32(q, {n, hq, d}), k_h = HostF32(k, {n, hk, d}), v_h = HostF32(v, {n, hk, d});
  HostTensor pos_h = HostI32(positions, {n}), s_h = HostI32(slots, {n});
  HostTensor inv_h = HostF32(table.inv_freq, {d / 2});
  HostTensor kc_h = HostF32(std::vector<float>(blocks * bs * hk * d), {blocks, bs, hk, d});
  HostTensor vc_h = HostF32(std::vector<float>(blocks * bs * hk * d), {blocks, bs, hk, d});
  ASSERT_TRUE(cpu_.RopeAppendKv(q_h.view(), k_h.view(), v_h.view(), pos_h.view(),
                                RopeTable{inv_h.view(), table.attention_scaling}, s_h.view(),
                                KvLayerView{kc_h.view(), vc_h.view()}).ok());
  ExpectClose(results[0], HostValues(q_h), 8e-3, 1e-6, "q vs cpu");
  ExpectClose(results[1], HostValues(k_h), 8e-3, 1e-6, "k vs cpu");
  // The cache rows of the written slots.
  const int64_t row = hk * d;
  for (int64_t t = 0; t < n; ++t) {
    const std::vector<float> got_k(results[2].begin() + slots[t] * row, results[2].begin() + (slots[t] + 1) * row);
    const std::vector<float> ref_k(kc_h.as<float>() + slots[t] * row, kc_h.as<float>() + (slots[t] + 1) * row);
    ExpectClose(got_k, ref_k, 8e-3, 1e-6, "k cache row");
    const std::vector<float> got_v(results[3].begin() + slots[t] * row, results[3].begin() + (slots[t] + 1) * row);
    const std::vector<float> ref_v(vc_h.as<float>() + slots[t] * row, vc_h.as<float>() + (slots[t] + 1) * row);
    ExpectClose(got_v, ref_v, 0, 0, "v cache row");
  }
}

// The packed variant (one q/k/v GEMM): the fused kernel reads the column blocks in place; the
// baseline copies them out first. Same q and caches, bit for bit, and the CPU's within bf16.
TEST_F(CudaFusedTest, QkvRopeAppendKvReadsThePackedProjection) {
  YarnConfig yc;
  yc.head_dim = 64;
  const YarnTable table = ComputeYarnTable(yc);
  const std::vector<int32_t> positions = {0, 129, 4097, 5};
  const std::vector<int32_t> slots = {6, 1, 3, 0};
  const int64_t n = 4, hq = 8, hk = 2, d = 64, width = (hq + 2 * hk) * d, blocks = 2, bs = 4;
  const auto qkv = RandomVector(n * width, gen_);
  auto qkv_d = ToDevice(gpu(), qkv, DType::kBF16, {n, width});
  auto pos_d = ToDeviceI32(gpu(), positions, {n});
  auto slots_d = ToDeviceI32(gpu(), slots, {n});
  auto inv_d = ToDevice(gpu(), table.inv_freq, DType::kF32, {d / 2});
  const RopeTable rope_d{inv_d.view, table.attention_scaling};
  std::vector<std::vector<float>> results;
  for (const char* set : {"fused", "baseline"}) {
    UseKernels(set);
    auto q_d = DevicePoisoned(gpu(), DType::kBF16, {n, hq, d});
    auto k_d = DeviceZeros(gpu(), DType::kBF16, {n, hk, d});
    auto v_d = DeviceZeros(gpu(), DType::kBF16, {n, hk, d});
    auto kc_d = DeviceZeros(gpu(), DType::kBF16, {blocks, bs, hk, d});
    auto vc_d = DeviceZeros(gpu(), DType::kBF16, {blocks, bs, hk, d});
    ASSERT_TRUE(gpu().QkvRopeAppendKv(qkv_d.view, q_d.view, k_d.view, v_d.view, pos_d.view, rope_d,
                                      slots_d.view, KvLayerView{kc_d.view, vc_d.view}).ok());
    for (const TensorView* t : {&q_d.view, &kc_d.view, &vc_d.view}) results.push_back(ToHost(gpu(), *t));
  }
  for (int i = 0; i < 3; ++i) ExpectClose(results[i], results[i + 3], 0, 0, "fused vs baseline");
  HostTensor qkv_h = HostF32(qkv, {n, width}), pos_h = HostI32(positions, {n});
  HostTensor s_h = HostI32(slots, {n}), inv_h = HostF32(table.inv_freq, {d / 2});
  HostTensor q_h(DType::kF32, {n, hq, d}), k_h(DType::kF32, {n, hk, d}), v_h(DType::kF32, {n, hk, d});
  HostTensor kc_h = HostF32(std::vector<float>(blocks * bs * hk * d), {blocks, bs, hk, d});
  HostTensor vc_h = HostF32(std::vector<float>(blocks * bs * hk * d), {blocks, bs, hk, d});
  ASSERT_TRUE(cpu_.QkvRopeAppendKv(qkv_h.view(), q_h.view(), k_h.view(), v_h.view(), pos_h.view(),
                                   RopeTable{inv_h.view(), table.attention_scaling}, s_h.view(),
                                   KvLayerView{kc_h.view(), vc_h.view()}).ok());
  ExpectClose(results[0], HostValues(q_h), 8e-3, 1e-6, "q vs cpu");
  ExpectClose(results[1], HostValues(kc_h), 8e-3, 1e-6, "k cache vs cpu");
  ExpectClose(results[2], HostValues(vc_h), 0, 0, "v cache vs cpu");
}

TEST_F(CudaFusedTest, RopeAppendKvReportsBadSlotsAndPositions) {
  UseKernels("fused");
  YarnConfig yc;
  yc.head_dim = 16;
  const YarnTable table = ComputeYarnTable(yc);
  auto inv_d = ToDevice(gpu(), table.inv_freq, DType::kF32, {8});
  auto q = DeviceZeros(gpu(), DType::kBF16, {2, 2, 16}), k = DeviceZeros(gpu(), DType::kBF16, {2, 1, 16});
  auto v = DeviceZeros(gpu(), DType::kBF16, {2, 1, 16});
  auto kc = DeviceZeros(gpu(), DType::kBF16, {2, 4, 1, 16}), vc = DeviceZeros(gpu(), DType::kBF16, {2, 4, 1, 16});
  auto pos = ToDeviceI32(gpu(), {3, -1}, {2});
  auto slots = ToDeviceI32(gpu(), {8, 0}, {2});  // 8 is past the 2 x 4 slots
  ASSERT_TRUE(gpu().RopeAppendKv(q.view, k.view, v.view, pos.view, RopeTable{inv_d.view, 1.0f},
                                 slots.view, KvLayerView{kc.view, vc.view}).ok());
  const absl::Status st = gpu().Synchronize();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("slot"));
  EXPECT_THAT(st.message(), HasSubstr("position"));
}

// The fused router (GEMV + top-k in the grid's last block) against Linear + RouterTopK on the
// CPU: logits within fp32-accumulation error, the same experts wherever the k-th and (k+1)-th
// logits are not within that error of each other, weights within it. Replayed from a CUDA graph
// three times on new inputs (the grid counter must be back at zero after every launch).
TEST_F(CudaFusedTest, RouterMatchesLinearThenTopKAndReplaysInAGraph) {
  UseKernels("fused");
  const int64_t H = 2880, E = 128, rows_max = 8;
  const int k = 4;
  const auto w = RandomVector(E * H, gen_, 0.05f), b = RandomVector(E, gen_, 0.1f);
  auto w_d = ToDevice(gpu(), w, DType::kBF16, {E, H});
  auto b_d = ToDevice(gpu(), b, DType::kBF16, {E});
  HostTensor w_h = HostF32(w, {E, H}), b_h = HostF32(b, {E});
  cuda::CudaGraphCache graphs(&gpu());
  for (int64_t n : {int64_t{1}, int64_t{3}, rows_max}) {
    auto h_d = DeviceZeros(gpu(), DType::kBF16, {n, H});
    auto logits_d = DevicePoisoned(gpu(), DType::kF32, {n, E});
    auto ids_d = DevicePoisoned(gpu(), DType::kI32, {n, k});
    auto wts_d = DevicePoisoned(gpu(), DType::kF32, {n, k});
    const auto step = [&] {
      return gpu().Router(h_d.view, w_d.view, b_d.view, k, logits_d.view, ids_d.view, wts_d.view);
    };
    for (int replay = 0; replay < 3; ++replay) {
      const auto h = testing::RoundBf16(RandomVector(n * H, gen_, 2.0f));
      auto fresh = ToDevice(gpu(), h, DType::kBF16, {n, H});
      ASSERT_TRUE(gpu().Copy(fresh.view, h_d.view).ok());
      ASSERT_TRUE(graphs.Run(static_cast<uint64_t>(n), step).ok());
      const auto logits = ToHost(gpu(), logits_d.view), wts = ToHost(gpu(), wts_d.view);
      const auto ids = testing::ToHostI32(gpu(), ids_d.view);
      HostTensor h_h = HostF32(h, {n, H}), l_h(DType::kF32, {n, E});
      HostTensor ids_h(DType::kI32, {n, k}), wts_h(DType::kF32, {n, k});
      ASSERT_TRUE(cpu_.Router(h_h.view(), w_h.view(), b_h.view(), k, l_h.view(), ids_h.view(), wts_h.view()).ok());
      const auto ref = HostValues(l_h);
      ExpectClose(logits, ref, 1e-4, 1e-4, "router logits");
      for (int64_t r = 0; r < n; ++r) {
        std::vector<float> sorted(ref.begin() + r * E, ref.begin() + (r + 1) * E);
        std::sort(sorted.rbegin(), sorted.rend());
        if (sorted[k - 1] - sorted[k] < 1e-3f) continue;  // a near tie at the cut: either is right
        // The same experts with the same weights (their order may differ within a near tie).
        std::map<int32_t, float> got, want;
        for (int j = 0; j < k; ++j) {
          got[ids[r * k + j]] = wts[r * k + j];
          want[ids_h.as<int32_t>()[r * k + j]] = wts_h.as<float>()[r * k + j];
        }
        ASSERT_EQ(got.size(), want.size()) << "row " << r;
        for (const auto& [id, weight] : want) {
          ASSERT_EQ(got.count(id), 1u) << "row " << r << " misses expert " << id;
          EXPECT_NEAR(got[id], weight, 1e-3) << "row " << r << " expert " << id;
        }
      }
    }
  }
}

struct GemvCase {
  std::string name;
  int64_t rows, hidden, inter;
  int experts, top_k, first_local, num_local;
  bool f32_bias, f32_residual;
  bool shared;  // every row routed to the same experts (more pairs per expert than a pass)
};

class CudaMoeGemvTest : public CudaFusedTest, public ::testing::WithParamInterface<GemvCase> {};

// E8M0 scales near 2^-(log2(fan_in)/2 + 2): dequantized weights of RMS ~ 1/sqrt(fan_in).
std::vector<uint8_t> Scales(size_t n, int64_t fan_in, std::mt19937& gen) {
  int base = 127 - 2;
  for (int64_t f = fan_in; f > 1; f >>= 2) --base;
  std::vector<uint8_t> v(n);
  for (auto& s : v) s = static_cast<uint8_t>(base + static_cast<int>(gen() % 3) - 1);
  return v;
}

std::vector<uint8_t> Bytes(size_t n, std::mt19937& gen) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(gen());
  return v;
}

TEST_P(CudaMoeGemvTest, MatchesTheCpuCompositionAndTheGroupedGemm) {
  const GemvCase& c = GetParam();
  const int64_t E = c.num_local, H = c.hidden, I = c.inter, R = c.rows, k = c.top_k;
  const auto gu_blocks = Bytes(E * 2 * I * (H / 32) * 16, gen_);
  const auto gu_scales = Scales(E * 2 * I * (H / 32), H, gen_);
  const auto gu_bias = RandomVector(E * 2 * I, gen_, 0.1f);
  const auto dn_blocks = Bytes(E * H * (I / 32) * 16, gen_);
  const auto dn_scales = Scales(E * H * (I / 32), I, gen_);
  const auto dn_bias = RandomVector(E * H, gen_, 0.1f);
  const auto x = RandomVector(R * H, gen_, 2.0f);
  const auto residual = RandomVector(R * H, gen_, 4.0f);
  std::vector<int32_t> ids(R * k);
  std::vector<float> weights(R * k);
  for (int64_t r = 0; r < R; ++r) {
    std::vector<int32_t> all(c.experts);
    for (int e = 0; e < c.experts; ++e) all[e] = e;
    if (!c.shared || r == 0) std::shuffle(all.begin(), all.end(), gen_);
    std::copy_n(c.shared && r > 0 ? ids.begin() : all.begin(), k, ids.begin() + r * k);
    float sum = 0;
    for (int j = 0; j < k; ++j) sum += weights[r * k + j] = 0.1f + static_cast<float>(gen_() % 100) / 100;
    for (int j = 0; j < k; ++j) weights[r * k + j] /= sum;
  }
  const DType bias_t = c.f32_bias ? DType::kF32 : DType::kBF16;
  const DType res_t = c.f32_residual ? DType::kF32 : DType::kBF16;
  auto gub_d = ToDeviceU8(gpu(), gu_blocks, {E, 2 * I, H / 32, 16});
  auto gus_d = ToDeviceU8(gpu(), gu_scales, {E, 2 * I, H / 32});
  auto gubias_d = ToDevice(gpu(), gu_bias, bias_t, {E, 2 * I});
  auto dnb_d = ToDeviceU8(gpu(), dn_blocks, {E, H, I / 32, 16});
  auto dns_d = ToDeviceU8(gpu(), dn_scales, {E, H, I / 32});
  auto dnbias_d = ToDevice(gpu(), dn_bias, bias_t, {E, H});
  auto x_d = ToDevice(gpu(), x, DType::kBF16, {R, H});
  auto ids_d = ToDeviceI32(gpu(), ids, {R, k});
  auto w_d = ToDevice(gpu(), weights, DType::kF32, {R, k});
  const ExpertWeights ew_d{gub_d.view, gus_d.view, gubias_d.view, dnb_d.view, dns_d.view,
                           dnbias_d.view, c.first_local, c.num_local, 7.0f, 1.702f};
  std::vector<std::vector<float>> got;
  for (const char* set : {"fused", "baseline"}) {
    UseKernels(set);
    auto res_d = ToDevice(gpu(), residual, res_t, {R, H});
    auto rows_d = DevicePoisoned(gpu(), DType::kBF16, {R, k, H});
    const absl::Status st = gpu().MoeExperts(x_d.view, ids_d.view, w_d.view, ew_d, rows_d.view, res_d.view);
    ASSERT_TRUE(st.ok()) << set << ": " << st;
    got.push_back(ToHost(gpu(), res_d.view));
  }
  HostTensor gub_h = HostU8(gu_blocks, {E, 2 * I, H / 32, 16}), gus_h = HostU8(gu_scales, {E, 2 * I, H / 32});
  HostTensor gubias_h = HostF32(gu_bias, {E, 2 * I}), dnbias_h = HostF32(dn_bias, {E, H});
  HostTensor dnb_h = HostU8(dn_blocks, {E, H, I / 32, 16}), dns_h = HostU8(dn_scales, {E, H, I / 32});
  HostTensor x_h = HostF32(x, {R, H}), ids_h = HostI32(ids, {R, k}), w_h = HostF32(weights, {R, k});
  HostTensor res_h = HostF32(residual, {R, H}), rows_h(DType::kF32, {R, k, H});
  const ExpertWeights ew_h{gub_h.view(), gus_h.view(), gubias_h.view(), dnb_h.view(), dns_h.view(),
                           dnbias_h.view(), c.first_local, c.num_local, 7.0f, 1.702f};
  ASSERT_TRUE(cpu_.MoeExperts(x_h.view(), ids_h.view(), w_h.view(), ew_h, rows_h.view(), res_h.view()).ok());
  // The activations and expert rows are rounded to bf16 on the GPU (fp32 on the CPU), and the
  // residual once more: a few bf16 ulps of the largest value.
  ExpectClose(got[0], HostValues(res_h), 2e-2, 1e-3, "gemv vs cpu " + c.name);
  ExpectClose(got[0], got[1], 2e-2, 1e-3, "gemv vs grouped gemm " + c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Gemv, CudaMoeGemvTest,
    ::testing::Values(
        GemvCase{"gptoss_decode", 1, 2880, 2880, 8, 4, 0, 8, false, false, false},
        GemvCase{"gptoss_batch8", 8, 2880, 2880, 12, 4, 0, 12, false, false, false},
        GemvCase{"shared_experts", 6, 64, 96, 8, 4, 0, 8, false, false, true},
        GemvCase{"ep_slice", 5, 128, 64, 16, 4, 4, 6, false, false, false},
        GemvCase{"f32_bias_and_residual", 3, 96, 160, 6, 2, 0, 6, true, true, false},
        GemvCase{"top1_wide", 2, 4096, 1024, 4, 1, 0, 4, false, false, false}),
    [](const auto& info) { return info.param.name; });

TEST_F(CudaFusedTest, MoeGemvReportsNegativeExpertIds) {
  UseKernels("fused");
  const int64_t H = 64, I = 64;
  auto z8 = [&](std::initializer_list<int64_t> shape) { return DeviceZeros(gpu(), DType::kU8, shape); };
  DeviceTensor gub = z8({1, 2 * I, H / 32, 16}), gus = z8({1, 2 * I, H / 32});
  DeviceTensor dnb = z8({1, H, I / 32, 16}), dns = z8({1, H, I / 32});
  auto gubias = DeviceZeros(gpu(), DType::kBF16, {1, 2 * I});
  auto dnbias = DeviceZeros(gpu(), DType::kBF16, {1, H});
  auto x = DeviceZeros(gpu(), DType::kBF16, {1, H});
  auto ids = ToDeviceI32(gpu(), {-1}, {1, 1});
  auto w = ToDevice(gpu(), {1.0f}, DType::kF32, {1, 1});
  auto rows = DeviceZeros(gpu(), DType::kBF16, {1, 1, H});
  auto res = DeviceZeros(gpu(), DType::kBF16, {1, H});
  const ExpertWeights ew{gub.view, gus.view, gubias.view, dnb.view, dns.view, dnbias.view, 0, 1, 7.0f, 1.702f};
  ASSERT_TRUE(gpu().MoeExperts(x.view, ids.view, w.view, ew, rows.view, res.view).ok());
  const absl::Status st = gpu().Synchronize();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("expert"));
}

}  // namespace
}  // namespace gptoss
