// CudaOps vs CpuOps on fresh random inputs, dense ops: Embedding, RmsNorm, Linear (cuBLASLt,
// with and without the bias epilogue, bf16 and f32 outputs), RopeYarn, AppendKv, RouterTopK,
// MoeCombine, AddInPlace, the dispatch rows (PlanDispatch, PackRows, ScatterAddRows) and the sampling helpers ApplyPenalties and TopLogprobs (bit-exact). Shapes include partial tiles and widths that are not multiples of
// the block sizes. bf16 tolerances: outputs are rounded once to bf16 (relative 2^-9), so the
// bounds are a few bf16 ulps of the largest reference value.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/rope_yarn.h"
#include "tests/kernels/cuda_test_util.h"

namespace gptoss {
namespace {

using testing::CudaOpsTest;
using testing::DevicePoisoned;
using testing::DeviceZeros;
using testing::ExpectClose;
using testing::HostF32;
using testing::HostI32;
using testing::HostValues;
using testing::RandomVector;
using testing::ToDevice;
using testing::ToDeviceI32;
using testing::ToHost;
using testing::ToHostI32;
using ::testing::HasSubstr;

TEST_F(CudaOpsTest, ZeroClearsTheViewOnly) {
  auto t = DevicePoisoned(gpu(), DType::kF32, {3, 5});
  const TensorView rows = t.view.Rows(1, 2);
  ASSERT_TRUE(gpu().Zero(rows).ok());
  const std::vector<float> got = ToHost(gpu(), t.view);
  for (int i = 0; i < 15; ++i) {
    if (i < 5) EXPECT_TRUE(std::isnan(got[i])) << i << ": the row before the view is untouched";
    else EXPECT_EQ(got[i], 0.0f) << i;
  }
  HostTensor host(DType::kF32, {2});
  EXPECT_TRUE(absl::IsInvalidArgument(gpu().Zero(host.view())));
}

TEST_F(CudaOpsTest, EmbeddingMatchesCpuAndRejectsBadIds) {
  for (int64_t hidden : {72, 2880}) {
    const int64_t vocab = 1000, n = 37;
    const auto table = RandomVector(vocab * hidden, gen_);
    std::vector<int32_t> ids(n);
    for (int64_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>(gen_() % vocab);
    ids[0] = 0;
    ids[1] = vocab - 1;
    auto table_d = ToDevice(gpu(), table, DType::kBF16, {vocab, hidden});
    auto ids_d = ToDeviceI32(gpu(), ids, {n});
    auto out_d = DevicePoisoned(gpu(), DType::kBF16, {n, hidden});
    ASSERT_TRUE(gpu().Embedding(ids_d.view, table_d.view, out_d.view).ok());
    HostTensor table_h = HostF32(table, {vocab, hidden}), ids_h = HostI32(ids, {n});
    HostTensor out_h(DType::kF32, {n, hidden});
    ASSERT_TRUE(cpu_.Embedding(ids_h.view(), table_h.view(), out_h.view()).ok());
    ExpectClose(ToHost(gpu(), out_d.view), HostValues(out_h), 0, 0, "embedding");
  }
  // An id outside the table is reported by the next synchronizing call, not a crash.
  auto table_d = ToDevice(gpu(), RandomVector(8 * 4, gen_), DType::kBF16, {8, 4});
  auto bad_d = ToDeviceI32(gpu(), {3, 8}, {2});
  auto out_d = DeviceZeros(gpu(), DType::kBF16, {2, 4});
  ASSERT_TRUE(gpu().Embedding(bad_d.view, table_d.view, out_d.view).ok());
  const absl::Status st = gpu().Synchronize();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("Embedding id"));
  EXPECT_TRUE(gpu().Synchronize().ok()) << "errors are cleared once reported";
}

TEST_F(CudaOpsTest, HostChecksRejectHostMemoryAndBadShapes) {
  HostTensor host(DType::kBF16, {2, 4});
  auto w = DeviceZeros(gpu(), DType::kBF16, {4});
  auto out = DeviceZeros(gpu(), DType::kBF16, {2, 4});
  absl::Status st = gpu().RmsNorm(host.view(), w.view, 1e-5f, out.view);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("not in CUDA device memory"));
  auto bad_w = DeviceZeros(gpu(), DType::kBF16, {5});
  auto x = DeviceZeros(gpu(), DType::kBF16, {2, 4});
  st = gpu().RmsNorm(x.view, bad_w.view, 1e-5f, out.view);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("weight"));
}

TEST_F(CudaOpsTest, RmsNormMatchesCpu) {
  for (auto [n, hidden] : {std::pair<int64_t, int64_t>{1, 64}, {5, 2880}, {33, 200}}) {
    auto x = RandomVector(n * hidden, gen_, 3.0f);
    std::vector<float> w(hidden);
    for (auto& v : w) v = 1.0f + 0.1f * std::uniform_real_distribution<float>(-1, 1)(gen_);
    w = testing::RoundBf16(w);
    auto x_d = ToDevice(gpu(), x, DType::kBF16, {n, hidden});
    auto w_d = ToDevice(gpu(), w, DType::kBF16, {hidden});
    auto out_d = DevicePoisoned(gpu(), DType::kBF16, {n, hidden});
    ASSERT_TRUE(gpu().RmsNorm(x_d.view, w_d.view, 1e-5f, out_d.view).ok());
    HostTensor x_h = HostF32(x, {n, hidden}), w_h = HostF32(w, {hidden}), out_h(DType::kF32, {n, hidden});
    ASSERT_TRUE(cpu_.RmsNorm(x_h.view(), w_h.view(), 1e-5f, out_h.view()).ok());
    ExpectClose(ToHost(gpu(), out_d.view), HostValues(out_h), 8e-3, 1e-6, "rms_norm");
  }
}

struct LinearCase {
  int64_t rows, k, n;
  bool bias;
  DType out;
};

TEST_F(CudaOpsTest, LinearMatchesCpu) {
  const LinearCase cases[] = {
      {1, 64, 48, true, DType::kBF16},      // decode-sized, tiny
      {7, 2880, 640, true, DType::kBF16},   // QKV-like with bias epilogue, partial tiles
      {33, 2880, 128, true, DType::kF32},   // router: f32 logits + bf16 bias
      {3, 256, 1000, false, DType::kF32},   // lm_head-like: f32 logits, no bias
      {64, 512, 2880, true, DType::kBF16},  // o_proj-like
      {0, 64, 48, true, DType::kBF16},      // empty batch
  };
  for (const LinearCase& c : cases) {
    const float xs = 1.0f, ws = 1.0f / std::sqrt(static_cast<float>(c.k));
    auto x = RandomVector(c.rows * c.k, gen_, xs);
    auto w = RandomVector(c.n * c.k, gen_, ws);
    auto b = RandomVector(c.n, gen_, 0.5f);
    auto x_d = ToDevice(gpu(), x, DType::kBF16, {c.rows, c.k});
    auto w_d = ToDevice(gpu(), w, DType::kBF16, {c.n, c.k});
    auto b_d = ToDevice(gpu(), b, DType::kBF16, {c.n});
    auto out_d = DevicePoisoned(gpu(), c.out, {c.rows, c.n});
    const absl::Status st = gpu().Linear(x_d.view, w_d.view, c.bias ? b_d.view : TensorView(), out_d.view);
    ASSERT_TRUE(st.ok()) << st;
    HostTensor x_h = HostF32(x, {c.rows, c.k}), w_h = HostF32(w, {c.n, c.k}), b_h = HostF32(b, {c.n});
    HostTensor out_h(DType::kF32, {c.rows, c.n});
    ASSERT_TRUE(cpu_.Linear(x_h.view(), w_h.view(), c.bias ? b_h.view() : TensorView(), out_h.view()).ok());
    const double rtol = c.out == DType::kBF16 ? 8e-3 : 1e-4;
    ExpectClose(ToHost(gpu(), out_d.view), HostValues(out_h), rtol, 1e-5,
                absl::StrCat("linear ", c.rows, "x", c.k, "x", c.n));
  }
}

TEST_F(CudaOpsTest, LinearAcceptsUnalignedViews) {
  // A row slice at an odd offset (2-byte aligned) must still work (cuBLASLt alignment prefs).
  const int64_t rows = 3, k = 64, n = 40;
  auto x = RandomVector((rows + 1) * k + 1, gen_);
  auto w = RandomVector(n * k, gen_, 0.125f);
  auto x_d = ToDevice(gpu(), x, DType::kBF16, {(rows + 1) * k + 1});
  TensorView x_view(static_cast<uint16_t*>(x_d.view.data) + 1, DType::kBF16, {rows, k}, Device::kCuda);
  auto w_d = ToDevice(gpu(), w, DType::kBF16, {n, k});
  auto out_d = DevicePoisoned(gpu(), DType::kF32, {rows, n});
  const absl::Status st = gpu().Linear(x_view, w_d.view, TensorView(), out_d.view);
  ASSERT_TRUE(st.ok()) << st;
  std::vector<float> xs(x.begin() + 1, x.begin() + 1 + rows * k);
  HostTensor x_h = HostF32(xs, {rows, k}), w_h = HostF32(w, {n, k}), out_h(DType::kF32, {rows, n});
  ASSERT_TRUE(cpu_.Linear(x_h.view(), w_h.view(), TensorView(), out_h.view()).ok());
  ExpectClose(ToHost(gpu(), out_d.view), HostValues(out_h), 1e-4, 1e-5, "linear unaligned");
}

TEST_F(CudaOpsTest, RopeYarnMatchesCpu) {
  for (int head_dim : {64, 16}) {
    YarnConfig yc;
    yc.head_dim = head_dim;
    const YarnTable table = ComputeYarnTable(yc);
    const std::vector<int32_t> positions = {0, 1, 2, 127, 128, 4095, 4096, 65536, 131071};
    const int64_t n = static_cast<int64_t>(positions.size()), hq = 8, hk = 2;
    auto q = RandomVector(n * hq * head_dim, gen_);
    auto k = RandomVector(n * hk * head_dim, gen_);
    auto q_d = ToDevice(gpu(), q, DType::kBF16, {n, hq, head_dim});
    auto k_d = ToDevice(gpu(), k, DType::kBF16, {n, hk, head_dim});
    auto pos_d = ToDeviceI32(gpu(), positions, {n});
    auto inv_d = ToDevice(gpu(), table.inv_freq, DType::kF32, {head_dim / 2});
    RopeTable rope_d{inv_d.view, table.attention_scaling};
    ASSERT_TRUE(gpu().RopeYarn(q_d.view, k_d.view, pos_d.view, rope_d).ok());
    HostTensor q_h = HostF32(q, {n, hq, head_dim}), k_h = HostF32(k, {n, hk, head_dim});
    HostTensor pos_h = HostI32(positions, {n}), inv_h = HostF32(table.inv_freq, {head_dim / 2});
    RopeTable rope_h{inv_h.view(), table.attention_scaling};
    ASSERT_TRUE(cpu_.RopeYarn(q_h.view(), k_h.view(), pos_h.view(), rope_h).ok());
    ExpectClose(ToHost(gpu(), q_d.view), HostValues(q_h), 8e-3, 1e-6, "rope q");
    ExpectClose(ToHost(gpu(), k_d.view), HostValues(k_h), 8e-3, 1e-6, "rope k");
  }
}

TEST_F(CudaOpsTest, AppendKvWritesSlotsAndRejectsOutOfRange) {
  const int64_t blocks = 6, bs = 5, hk = 2, d = 16, n = 9;
  std::vector<int32_t> slots(blocks * bs);
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), gen_);
  slots.resize(n);
  auto k = RandomVector(n * hk * d, gen_), v = RandomVector(n * hk * d, gen_);
  auto k_d = ToDevice(gpu(), k, DType::kBF16, {n, hk, d});
  auto v_d = ToDevice(gpu(), v, DType::kBF16, {n, hk, d});
  auto slots_d = ToDeviceI32(gpu(), slots, {n});
  auto kc_d = DeviceZeros(gpu(), DType::kBF16, {blocks, bs, hk, d});
  auto vc_d = DeviceZeros(gpu(), DType::kBF16, {blocks, bs, hk, d});
  ASSERT_TRUE(gpu().AppendKv(k_d.view, v_d.view, slots_d.view, KvLayerView{kc_d.view, vc_d.view}).ok());
  HostTensor k_h = HostF32(k, {n, hk, d}), v_h = HostF32(v, {n, hk, d}), s_h = HostI32(slots, {n});
  HostTensor kc_h = HostF32(std::vector<float>(blocks * bs * hk * d), {blocks, bs, hk, d});
  HostTensor vc_h = HostF32(std::vector<float>(blocks * bs * hk * d), {blocks, bs, hk, d});
  ASSERT_TRUE(cpu_.AppendKv(k_h.view(), v_h.view(), s_h.view(), KvLayerView{kc_h.view(), vc_h.view()}).ok());
  ExpectClose(ToHost(gpu(), kc_d.view), HostValues(kc_h), 0, 0, "k cache");
  ExpectClose(ToHost(gpu(), vc_d.view), HostValues(vc_h), 0, 0, "v cache");

  auto bad = ToDeviceI32(gpu(), {0, static_cast<int32_t>(blocks * bs)}, {2});
  TensorView k2 = k_d.view, v2 = v_d.view;
  k2.dims[0] = v2.dims[0] = 2;
  ASSERT_TRUE(gpu().AppendKv(k2, v2, bad.view, KvLayerView{kc_d.view, vc_d.view}).ok());
  const absl::Status st = gpu().Synchronize();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("slot"));
}

TEST_F(CudaOpsTest, RouterTopKMatchesCpuIncludingTies) {
  for (int experts : {32, 128}) {
    const int64_t n = 33;
    const int k = 4;
    // Logits on a coarse grid so that ties are frequent: ties must pick the lower id.
    std::vector<float> logits(n * experts);
    for (auto& l : logits) l = static_cast<float>(static_cast<int>(gen_() % 9) - 4) * 0.5f;
    auto l_d = ToDevice(gpu(), logits, DType::kF32, {n, experts});
    auto ids_d = DevicePoisoned(gpu(), DType::kI32, {n, k});
    auto w_d = DevicePoisoned(gpu(), DType::kF32, {n, k});
    ASSERT_TRUE(gpu().RouterTopK(l_d.view, k, ids_d.view, w_d.view).ok());
    HostTensor l_h = HostF32(logits, {n, experts}), ids_h(DType::kI32, {n, k}), w_h(DType::kF32, {n, k});
    ASSERT_TRUE(cpu_.RouterTopK(l_h.view(), k, ids_h.view(), w_h.view()).ok());
    const auto ids = ToHostI32(gpu(), ids_d.view);
    EXPECT_EQ(ids, std::vector<int32_t>(ids_h.as<int32_t>(), ids_h.as<int32_t>() + n * k));
    ExpectClose(ToHost(gpu(), w_d.view), HostValues(w_h), 1e-6, 1e-7, "router weights");
  }
}

TEST_F(CudaOpsTest, MoeCombineAndAddInPlaceMatchCpu) {
  const int64_t n = 7, k = 4, hidden = 300;
  auto rows = RandomVector(n * k * hidden, gen_);
  std::vector<float> weights(n * k);
  for (auto& w : weights) w = std::uniform_real_distribution<float>(0, 1)(gen_);
  auto res = RandomVector(n * hidden, gen_, 4.0f);
  auto rows_d = ToDevice(gpu(), rows, DType::kBF16, {n, k, hidden});
  auto w_d = ToDevice(gpu(), weights, DType::kF32, {n, k});
  auto res_d = ToDevice(gpu(), res, DType::kBF16, {n, hidden});
  ASSERT_TRUE(gpu().MoeCombine(rows_d.view, w_d.view, res_d.view).ok());
  HostTensor rows_h = HostF32(rows, {n, k, hidden}), w_h = HostF32(weights, {n, k});
  HostTensor res_h = HostF32(res, {n, hidden});
  ASSERT_TRUE(cpu_.MoeCombine(rows_h.view(), w_h.view(), res_h.view()).ok());
  ExpectClose(ToHost(gpu(), res_d.view), HostValues(res_h), 8e-3, 1e-6, "moe_combine");

  auto x = RandomVector(n * hidden, gen_);
  auto x_d = ToDevice(gpu(), x, DType::kBF16, {n, hidden});
  auto acc = RandomVector(n * hidden, gen_);
  auto acc_d = ToDevice(gpu(), acc, DType::kBF16, {n, hidden});
  ASSERT_TRUE(gpu().AddInPlace(x_d.view, acc_d.view).ok());
  HostTensor x_h = HostF32(x, {n, hidden}), acc_h = HostF32(acc, {n, hidden});
  ASSERT_TRUE(cpu_.AddInPlace(x_h.view(), acc_h.view()).ok());
  // One rounding of the same fp32 sum: bf16(ref) exactly.
  ExpectClose(ToHost(gpu(), acc_d.view), testing::RoundBf16(HostValues(acc_h)), 0, 0, "add_in_place");
}

TEST_F(CudaOpsTest, ApplyPenaltiesMatchesCpuBitForBit) {
  const int64_t rows = 3, vocab = 1000, width = 9;
  auto logits = RandomVector(rows * vocab, gen_, 5.0f);
  std::vector<int32_t> tokens(rows * width, -1), counts(rows * width, 0);
  for (int64_t b = 0; b < rows; ++b) {
    for (int64_t j = 0; j < width - static_cast<int64_t>(b); ++j) {  // unique ids, -1 padding
      tokens[b * width + j] = static_cast<int32_t>((b * 331 + j * 97) % vocab);
      counts[b * width + j] = static_cast<int32_t>(gen_() % 4);  // 0: prompt only
    }
  }
  const std::vector<PenaltyParams> params = {
      {0.5f, 0.25f, 1.3f}, {0.0f, 1.1f, 1.0f}, {-0.7f, 0.0f, 0.8f}};
  auto logits_d = ToDevice(gpu(), logits, DType::kF32, {rows, vocab});
  auto tokens_d = ToDeviceI32(gpu(), tokens, {rows, width});
  auto counts_d = ToDeviceI32(gpu(), counts, {rows, width});
  ASSERT_TRUE(gpu().ApplyPenalties(logits_d.view, tokens_d.view, counts_d.view, params).ok());
  HostTensor logits_h = HostF32(logits, {rows, vocab});
  HostTensor tokens_h = HostI32(tokens, {rows, width}), counts_h = HostI32(counts, {rows, width});
  ASSERT_TRUE(cpu_.ApplyPenalties(logits_h.view(), tokens_h.view(), counts_h.view(), params).ok());
  ExpectClose(ToHost(gpu(), logits_d.view), HostValues(logits_h), 0, 0, "apply_penalties");
  const std::vector<PenaltyParams> bad = {{0, 0, 0.0f}, {0, 0, 1}, {0, 0, 1}};
  EXPECT_EQ(gpu().ApplyPenalties(logits_d.view, tokens_d.view, counts_d.view, bad).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CudaOpsTest, TopLogprobsMatchesCpuAndSample) {
  const int64_t rows = 4, vocab = 5003;
  auto logits = RandomVector(rows * vocab, gen_, 4.0f);
  logits[7] = logits[11] = 9.0f;  // a tie at the top of row 0: lower id first
  logits[vocab + 3] = std::nanf("");  // NaN ranks lowest
  for (int64_t n : {1, 20}) {
    auto logits_d = ToDevice(gpu(), logits, DType::kF32, {rows, vocab});
    auto ids_d = DevicePoisoned(gpu(), DType::kI32, {rows, n});
    auto lp_d = DevicePoisoned(gpu(), DType::kF32, {rows, n});
    ASSERT_TRUE(gpu().TopLogprobs(logits_d.view, ids_d.view, lp_d.view).ok());
    HostTensor logits_h = HostF32(logits, {rows, vocab});
    HostTensor ids_h(DType::kI32, {rows, n}), lp_h(DType::kF32, {rows, n});
    ASSERT_TRUE(cpu_.TopLogprobs(logits_h.view(), ids_h.view(), lp_h.view()).ok());
    const std::vector<int32_t> ids = ToHostI32(gpu(), ids_d.view);
    EXPECT_EQ(ids, std::vector<int32_t>(ids_h.view().as<int32_t>(),
                                        ids_h.view().as<int32_t>() + rows * n));
    EXPECT_EQ(ids[0], 7);
    ExpectClose(ToHost(gpu(), lp_d.view), HostValues(lp_h), 0, 0, "top_logprobs");
    // Greedy Sample's logprob is the top entry, bit for bit (the same row statistics).
    std::vector<SamplingParams> greedy(rows);
    for (auto& p : greedy) p.temperature = 0.0f;
    auto sid_d = DevicePoisoned(gpu(), DType::kI32, {rows});
    auto slp_d = DevicePoisoned(gpu(), DType::kF32, {rows});
    ASSERT_TRUE(gpu().Sample(logits_d.view, greedy, sid_d.view, slp_d.view).ok());
    const std::vector<float> slp = ToHost(gpu(), slp_d.view), lp = ToHost(gpu(), lp_d.view);
    const std::vector<int32_t> sid = ToHostI32(gpu(), sid_d.view);
    for (int64_t b = 0; b < rows; ++b) {
      EXPECT_EQ(sid[b], ids[b * n]) << "row " << b;
      EXPECT_EQ(slp[b], lp[b * n]) << "row " << b;
    }
  }
}

// The rows of expert dispatch, with every index on the device: the plan (several 256-token
// chunks of the block scan), packing with -1 padding and the identity, and the scatter-add
// (F32 and BF16, fp32 sums rounded once: bit-exact against CpuOps).
TEST_F(CudaOpsTest, DispatchRowsMatchCpu) {
  const int64_t tokens = 300, k = 4, world = 8, per_rank = 4, capacity = 310;
  std::vector<int32_t> ids(tokens * k);
  for (auto& e : ids) e = static_cast<int32_t>(gen_() % (world * per_rank + 2));  // some outside
  auto ids_d = ToDeviceI32(gpu(), ids, {tokens, k});
  auto slots_d = DevicePoisoned(gpu(), DType::kI32, {world, capacity});
  ASSERT_TRUE(gpu().PlanDispatch(ids_d.view, per_rank, slots_d.view).ok());
  HostTensor ids_h = HostI32(ids, {tokens, k}), slots_h(DType::kI32, {world, capacity});
  ASSERT_TRUE(cpu_.PlanDispatch(ids_h.view(), per_rank, slots_h.view()).ok());
  EXPECT_EQ(ToHostI32(gpu(), slots_d.view),
            std::vector<int32_t>(slots_h.as<int32_t>(), slots_h.as<int32_t>() + world * capacity));

  // Pack [x F32 (5 wide) | ids I32 (k)] rows by a shuffled index with padding.
  const int64_t rows = 40, hidden = 5, width = (hidden + k) * 4;
  const auto x = RandomVector(tokens * hidden, gen_);
  std::vector<int32_t> index(rows);
  for (auto& i : index) i = gen_() % 5 == 0 ? -1 : static_cast<int32_t>(gen_() % tokens);
  auto x_d = ToDevice(gpu(), x, DType::kF32, {tokens, hidden});
  auto index_d = ToDeviceI32(gpu(), index, {rows});
  auto packed_d = DevicePoisoned(gpu(), DType::kI32, {rows, width / 4});
  const TensorView packed_u8(packed_d.view.data, DType::kU8, {rows, width}, Device::kCuda);
  ASSERT_TRUE(gpu().PackRows({x_d.view, ids_d.view}, index_d.view, packed_u8).ok());
  HostTensor x_h = HostF32(x, {tokens, hidden}), index_h = HostI32(index, {rows});
  HostTensor packed_h(DType::kU8, {rows, width});
  ASSERT_TRUE(cpu_.PackRows({x_h.view(), ids_h.view()}, index_h.view(), packed_h.view()).ok());
  const std::vector<int32_t> got = ToHostI32(gpu(), packed_d.view);
  EXPECT_EQ(std::memcmp(got.data(), packed_h.as<uint8_t>(), rows * width), 0);
  // 16-byte rows take the vectorized copy (the dispatcher's and the logits' case), padding too.
  {
    const int64_t wide = 8;  // [x F32 (8) | ids I32 (4)] = 48 bytes per packed row
    const auto xw = RandomVector(tokens * wide, gen_);
    auto xw_d = ToDevice(gpu(), xw, DType::kF32, {tokens, wide});
    auto vec_d = DevicePoisoned(gpu(), DType::kI32, {rows, wide + k});
    const TensorView vec_u8(vec_d.view.data, DType::kU8, {rows, (wide + k) * 4}, Device::kCuda);
    ASSERT_TRUE(gpu().PackRows({xw_d.view, ids_d.view}, index_d.view, vec_u8).ok());
    HostTensor xw_h = HostF32(xw, {tokens, wide}), vec_h(DType::kU8, {rows, (wide + k) * 4});
    ASSERT_TRUE(cpu_.PackRows({xw_h.view(), ids_h.view()}, index_h.view(), vec_h.view()).ok());
    const std::vector<int32_t> vec = ToHostI32(gpu(), vec_d.view);
    EXPECT_EQ(std::memcmp(vec.data(), vec_h.as<uint8_t>(), rows * (wide + k) * 4), 0);
  }
  // Sources with no rows: all padding, zero over the whole width.
  {
    auto none_x = DeviceZeros(gpu(), DType::kF32, {0, hidden});
    auto none_ids = DeviceZeros(gpu(), DType::kI32, {0, k});
    auto pad_d = ToDeviceI32(gpu(), std::vector<int32_t>(rows, -1), {rows});
    ASSERT_TRUE(gpu().PackRows({none_x.view, none_ids.view}, pad_d.view, packed_u8).ok());
    const std::vector<int32_t> zeros = ToHostI32(gpu(), packed_d.view);
    EXPECT_EQ(std::count(zeros.begin(), zeros.end(), 0), static_cast<long>(zeros.size()));
  }
  // The identity index.
  ASSERT_TRUE(gpu().PackRows({x_d.view, ids_d.view}, TensorView(), packed_u8).ok());
  ASSERT_TRUE(cpu_.PackRows({x_h.view(), ids_h.view()}, TensorView(), packed_h.view()).ok());
  const std::vector<int32_t> same = ToHostI32(gpu(), packed_d.view);
  EXPECT_EQ(std::memcmp(same.data(), packed_h.as<uint8_t>(), rows * width), 0);

  // Scatter-add: distinct targets (a permutation), some skipped.
  std::vector<int32_t> targets(rows);
  std::iota(targets.begin(), targets.end(), 0);
  std::shuffle(targets.begin(), targets.end(), gen_);
  for (int i = 0; i < rows; i += 7) targets[i] = i % 2 ? -1 : static_cast<int32_t>(rows + 3);
  auto targets_d = ToDeviceI32(gpu(), targets, {rows});
  HostTensor targets_h = HostI32(targets, {rows});
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const auto src = RandomVector(rows * hidden, gen_), dst = RandomVector(rows * hidden, gen_);
    auto src_d = ToDevice(gpu(), src, dtype, {rows, hidden});
    auto dst_d = ToDevice(gpu(), dst, dtype, {rows, hidden});
    ASSERT_TRUE(gpu().ScatterAddRows(src_d.view, targets_d.view, dst_d.view).ok());
    // The CPU reference on the same (rounded) values, in the same dtype.
    HostTensor src_h(dtype, {rows, hidden}), dst_h(dtype, {rows, hidden});
    for (int64_t i = 0; i < rows * hidden; ++i) {
      if (dtype == DType::kF32) {
        src_h.as<float>()[i] = src[i];
        dst_h.as<float>()[i] = dst[i];
      } else {
        src_h.as<uint16_t>()[i] = F32ToBf16(src[i]);
        dst_h.as<uint16_t>()[i] = F32ToBf16(dst[i]);
      }
    }
    ASSERT_TRUE(cpu_.ScatterAddRows(src_h.view(), targets_h.view(), dst_h.view()).ok());
    std::vector<float> want(rows * hidden);
    for (int64_t i = 0; i < rows * hidden; ++i)
      want[i] = dtype == DType::kF32 ? dst_h.as<float>()[i] : Bf16ToF32(dst_h.as<uint16_t>()[i]);
    EXPECT_EQ(ToHost(gpu(), dst_d.view), want) << DTypeName(dtype);
  }
}

}  // namespace
}  // namespace gptoss
