// CpuOps: argument checking (bad shapes, dtypes, ids, block tables never crash and name the
// problem) and the invariants the contract promises (paging invariance, released blocks never
// read, window edge, sinks, router ties, sampling procedure). Numerical agreement with Hugging
// Face is the golden tests' job (tests/worker/golden_model_test.cc).
#include "kernels/cpu/cpu_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/core/dtype.h"
#include "kernels/core/rng.h"
#include "kernels/rope_yarn.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

HostTensor F32(std::initializer_list<int64_t> shape, std::vector<float> values = {}) {
  HostTensor t(DType::kF32, shape);
  for (size_t i = 0; i < values.size(); ++i) t.as<float>()[i] = values[i];
  return t;
}
HostTensor I32(std::initializer_list<int64_t> shape, std::vector<int32_t> values) {
  HostTensor t(DType::kI32, shape);
  for (size_t i = 0; i < values.size(); ++i) t.as<int32_t>()[i] = values[i];
  return t;
}
HostTensor Bf16(std::initializer_list<int64_t> shape, const std::vector<float>& values) {
  HostTensor t(DType::kBF16, shape);
  for (size_t i = 0; i < values.size(); ++i) t.as<uint16_t>()[i] = F32ToBf16(values[i]);
  return t;
}
void FillRandom(HostTensor& t, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = u(gen);
}

float LoadW(const HostTensor& t, int i) { return Bf16ToF32(t.as<uint16_t>()[i]); }

class CpuOpsTest : public ::testing::Test {
 protected:
  CpuOps ops_;
};

TEST_F(CpuOpsTest, ZeroClearsEveryByteOfTheViewOnly) {
  HostTensor t = F32({3, 4}, std::vector<float>(12, 7.0f));
  const TensorView rows = t.view().Rows(1, 2);
  ASSERT_TRUE(ops_.Zero(rows).ok());
  for (int i = 0; i < 12; ++i) EXPECT_EQ(t.as<float>()[i], i < 4 ? 7.0f : 0.0f) << i;
  TensorView empty(nullptr, DType::kF32, {0, 4}, Device::kCpu);
  EXPECT_TRUE(ops_.Zero(empty).ok());
  TensorView cuda = t.view();
  cuda.device = Device::kCuda;
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.Zero(cuda)));
  TensorView null(nullptr, DType::kF32, {2}, Device::kCpu);
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.Zero(null)));
}

TEST_F(CpuOpsTest, EmbeddingRejectsIdOutsideVocab) {
  HostTensor table = Bf16({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  HostTensor out = F32({2, 2});
  HostTensor ok_ids = I32({2}, {3, 0});
  ASSERT_TRUE(ops_.Embedding(ok_ids.view(), table.view(), out.view()).ok());
  EXPECT_EQ(out.as<float>()[0], 7.0f);
  EXPECT_EQ(out.as<float>()[3], 2.0f);
  for (int32_t bad : {4, -1}) {
    HostTensor ids = I32({2}, {0, bad});
    absl::Status s = ops_.Embedding(ids.view(), table.view(), out.view());
    EXPECT_TRUE(absl::IsInvalidArgument(s));
    EXPECT_THAT(s.message(), HasSubstr("id " + std::to_string(bad)));
  }
}

TEST_F(CpuOpsTest, ShapeAndDtypeMismatchesAreInvalidArgument) {
  HostTensor x = F32({3, 4}), w = Bf16({5, 4}, std::vector<float>(20, 0.5f)), out = F32({3, 5});
  EXPECT_TRUE(ops_.Linear(x.view(), w.view(), TensorView(), out.view()).ok());
  HostTensor wrong_out = F32({3, 4});
  EXPECT_TRUE(
      absl::IsInvalidArgument(ops_.Linear(x.view(), w.view(), TensorView(), wrong_out.view())));
  HostTensor bad_bias = Bf16({4}, {0, 0, 0, 0});
  EXPECT_TRUE(
      absl::IsInvalidArgument(ops_.Linear(x.view(), w.view(), bad_bias.view(), out.view())));
  HostTensor i32_x = I32({3, 4}, {});
  EXPECT_THAT(ops_.Linear(i32_x.view(), w.view(), TensorView(), out.view()).message(),
              HasSubstr("dtype"));
  HostTensor norm_w = Bf16({3}, {1, 1, 1});
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.RmsNorm(x.view(), norm_w.view(), 1e-5f, x.view())));
  TensorView on_gpu = x.view();
  on_gpu.device = Device::kCuda;
  EXPECT_THAT(ops_.AddInPlace(on_gpu, x.view()).message(), HasSubstr("host"));
}

TEST_F(CpuOpsTest, RmsNormMatchesDefinition) {
  HostTensor x = F32({2, 3}, {1, 2, 3, -4, 0, 4});
  HostTensor w = Bf16({3}, {1.0f, 0.5f, 2.0f});
  HostTensor out = F32({2, 3});
  ASSERT_TRUE(ops_.RmsNorm(x.view(), w.view(), 1e-5f, out.view()).ok());
  for (int t = 0; t < 2; ++t) {
    double ms = 0;
    for (int i = 0; i < 3; ++i) ms += x.as<float>()[t * 3 + i] * x.as<float>()[t * 3 + i] / 3.0;
    for (int i = 0; i < 3; ++i)
      EXPECT_NEAR(out.as<float>()[t * 3 + i],
                  x.as<float>()[t * 3 + i] / std::sqrt(ms + 1e-5) * LoadW(w, i), 1e-6);
  }
}

// One kv head, sequences laid out in a paged cache. Returns attention outputs.
struct AttnSetup {
  int heads = 2, kv_heads = 1, dim = 4, block = 4, max_blocks = 6;
  int num_blocks = 12;
  HostTensor kc, vc;
  AttnSetup() : kc(DType::kF32, {12, 4, 1, 4}), vc(DType::kF32, {12, 4, 1, 4}) {
    FillRandom(kc, 1);
    FillRandom(vc, 2);
  }
  KvLayerView cache() { return KvLayerView{kc.view(), vc.view()}; }
};

TEST_F(CpuOpsTest, AttentionIsInvariantToPagingAndNeverReadsReleasedBlocks) {
  AttnSetup a;
  const int ctx = 19, n_new = 3, window = 6;
  HostTensor q = F32({n_new, 2, 4});
  FillRandom(q, 3);
  HostTensor sinks = Bf16({2}, {0.3f, -1.0f});
  HostTensor qs = I32({2}, {0, n_new}), cl = I32({1}, {ctx});
  // Contiguous layout: logical block b -> physical b.
  HostTensor table1 = I32({1, 6}, {0, 1, 2, 3, 4, -1});
  HostTensor out1 = F32({n_new, 8}), out2 = F32({n_new, 8});
  AttentionBatch b1{qs.view(), cl.view(), table1.view(), 1, n_new, ctx};
  ASSERT_TRUE(
      ops_.AttentionWithSinks(q.view(), a.cache(), sinks.view(), b1, window, 0.5f, out1.view())
          .ok());
  // Scrambled layout holding the same rows; blocks wholly outside the window (positions < 16-5=11
  // for the first query at 16: blocks 0 and 1) are released and their memory poisoned.
  HostTensor table2 = I32({1, 6}, {-1, -1, 9, 7, 11, -1});
  const int map2[] = {-1, -1, 9, 7, 11};
  for (int b = 2; b < 5; ++b) {
    std::copy_n(a.kc.as<float>() + b * 16, 16, a.kc.as<float>() + map2[b] * 16);
    std::copy_n(a.vc.as<float>() + b * 16, 16, a.vc.as<float>() + map2[b] * 16);
  }
  std::fill_n(a.kc.as<float>(), 32, std::numeric_limits<float>::quiet_NaN());
  std::fill_n(a.vc.as<float>(), 32, std::numeric_limits<float>::quiet_NaN());
  AttentionBatch b2{qs.view(), cl.view(), table2.view(), 1, n_new, ctx};
  ASSERT_TRUE(
      ops_.AttentionWithSinks(q.view(), a.cache(), sinks.view(), b2, window, 0.5f, out2.view())
          .ok());
  for (int i = 0; i < n_new * 8; ++i) EXPECT_EQ(out1.as<float>()[i], out2.as<float>()[i]) << i;

  // A released block that the window does reach is an error, not a read.
  HostTensor table3 = I32({1, 6}, {-1, -1, -1, 7, 11, -1});
  AttentionBatch b3{qs.view(), cl.view(), table3.view(), 1, n_new, ctx};
  absl::Status s =
      ops_.AttentionWithSinks(q.view(), a.cache(), sinks.view(), b3, window, 0.5f, out2.view());
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("logical block 2"));
  HostTensor table4 = I32({1, 6}, {0, 1, 2, 3, 12, -1});  // physical block out of range
  AttentionBatch b4{qs.view(), cl.view(), table4.view(), 1, n_new, ctx};
  EXPECT_TRUE(absl::IsInvalidArgument(
      ops_.AttentionWithSinks(q.view(), a.cache(), sinks.view(), b4, 0, 0.5f, out2.view())));
}

TEST_F(CpuOpsTest, AttentionWindowEdgeAndSinkFollowTheDefinition) {
  // One query at position p = 5 with window 3 sees keys 3, 4, 5 (kv > p - window) and the sink.
  AttnSetup a;
  HostTensor q = F32({1, 2, 4});
  FillRandom(q, 4);
  HostTensor sinks = Bf16({2}, {0.75f, -0.25f});
  HostTensor qs = I32({2}, {0, 1}), cl = I32({1}, {6}), table = I32({1, 6}, {0, 1, -1, -1, -1, -1});
  HostTensor out = F32({1, 8});
  AttentionBatch batch{qs.view(), cl.view(), table.view(), 1, 1, 6};
  const float scale = 0.5f;
  ASSERT_TRUE(
      ops_.AttentionWithSinks(q.view(), a.cache(), sinks.view(), batch, 3, scale, out.view()).ok());
  for (int h = 0; h < 2; ++h) {
    // GQA: both query heads read kv head 0.
    std::vector<double> e;
    double denom = std::exp(static_cast<double>(LoadW(sinks, h)));
    for (int p = 3; p <= 5; ++p) {
      double dot = 0;
      for (int d = 0; d < 4; ++d) dot += q.as<float>()[h * 4 + d] * a.kc.as<float>()[p * 4 + d];
      e.push_back(std::exp(dot * scale));
      denom += e.back();
    }
    for (int d = 0; d < 4; ++d) {
      double want = 0;
      for (int p = 3; p <= 5; ++p) want += e[p - 3] / denom * a.vc.as<float>()[p * 4 + d];
      EXPECT_NEAR(out.as<float>()[h * 4 + d], want, 1e-5) << "head " << h << " dim " << d;
    }
  }
}

TEST_F(CpuOpsTest, AttentionRejectsInconsistentBatches) {
  AttnSetup a;
  HostTensor q = F32({2, 2, 4}), sinks = Bf16({2}, {0, 0}), out = F32({2, 8});
  HostTensor table = I32({1, 6}, {0, 1, 2, 3, 4, 5});
  HostTensor qs_bad = I32({2}, {0, 3}), cl = I32({1}, {5});
  AttentionBatch b1{qs_bad.view(), cl.view(), table.view(), 1, 2, 5};
  EXPECT_TRUE(absl::IsInvalidArgument(
      ops_.AttentionWithSinks(q.view(), a.cache(), sinks.view(), b1, 0, 1, out.view())));
  HostTensor qs = I32({2}, {0, 2}), cl_short = I32({1}, {1}), cl_long = I32({1}, {25});
  AttentionBatch b2{qs.view(), cl_short.view(), table.view(), 1, 2, 1};
  EXPECT_TRUE(absl::IsInvalidArgument(
      ops_.AttentionWithSinks(q.view(), a.cache(), sinks.view(), b2, 0, 1, out.view())));
  AttentionBatch b3{qs.view(), cl_long.view(), table.view(), 1, 2, 25};
  EXPECT_TRUE(absl::IsInvalidArgument(
      ops_.AttentionWithSinks(q.view(), a.cache(), sinks.view(), b3, 0, 1, out.view())));
}

TEST_F(CpuOpsTest, AppendKvChecksSlots) {
  AttnSetup a;
  HostTensor k = F32({2, 1, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), v = F32({2, 1, 4});
  HostTensor slots = I32({2}, {5, 47});
  ASSERT_TRUE(ops_.AppendKv(k.view(), v.view(), slots.view(), a.cache()).ok());
  EXPECT_EQ(a.kc.as<float>()[5 * 4 + 2], 3.0f);
  EXPECT_EQ(a.kc.as<float>()[47 * 4 + 3], 8.0f);
  HostTensor bad = I32({2}, {5, 48});
  EXPECT_THAT(ops_.AppendKv(k.view(), v.view(), bad.view(), a.cache()).message(),
              HasSubstr("slot 48"));
}

TEST_F(CpuOpsTest, RouterTopKSortsBreaksTiesLowAndNormalizesOverSelected) {
  HostTensor logits =
      F32({1, 5}, {1.0f, 3.0f, 2.0f, 3.0f, std::numeric_limits<float>::quiet_NaN()});
  HostTensor ids = I32({1, 3}, {}), w = F32({1, 3});
  ASSERT_TRUE(ops_.RouterTopK(logits.view(), 3, ids.view(), w.view()).ok());
  EXPECT_EQ(ids.as<int32_t>()[0], 1);
  EXPECT_EQ(ids.as<int32_t>()[1], 3);
  EXPECT_EQ(ids.as<int32_t>()[2], 2);
  const double denom = 2 + std::exp(-1.0);
  EXPECT_NEAR(w.as<float>()[0], 1 / denom, 1e-7);
  EXPECT_NEAR(w.as<float>()[2], std::exp(-1.0) / denom, 1e-7);
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.RouterTopK(logits.view(), 6, ids.view(), w.view())));
}

TEST_F(CpuOpsTest, MoeMlpZeroesNonLocalRowsAndChecksShapes) {
  const int hidden = 32, inter = 32, local = 2;
  HostTensor gub(DType::kU8, {local, 2 * inter, hidden / 32, 16}),
      gus(DType::kU8, {local, 2 * inter, hidden / 32});
  HostTensor db(DType::kU8, {local, hidden, inter / 32, 16}),
      ds(DType::kU8, {local, hidden, inter / 32});
  HostTensor gbias = Bf16({local, 2 * inter}, std::vector<float>(2 * local * inter, 0.25f));
  HostTensor dbias = Bf16({local, hidden}, std::vector<float>(local * hidden, -0.5f));
  for (int64_t i = 0; i < gub.numel(); ++i) gub.as<uint8_t>()[i] = static_cast<uint8_t>(i * 37);
  for (int64_t i = 0; i < db.numel(); ++i) db.as<uint8_t>()[i] = static_cast<uint8_t>(i * 91);
  std::fill_n(gus.as<uint8_t>(), gus.numel(), 124);
  std::fill_n(ds.as<uint8_t>(), ds.numel(), 123);
  ExpertWeights ew{gub.view(),   gus.view(), gbias.view(), db.view(), ds.view(),
                   dbias.view(), 2,          local};
  HostTensor x = F32({2, hidden});
  FillRandom(x, 7);
  HostTensor ids = I32({2, 2}, {2, 0, 3, 5});  // experts 2, 3 are local (first_expert = 2)
  HostTensor out = F32({2, 2, hidden});
  ASSERT_TRUE(ops_.MoeMlp(x.view(), ids.view(), ew, out.view()).ok());
  for (int i = 0; i < hidden; ++i) {
    EXPECT_EQ(out.as<float>()[1 * hidden + i], 0.0f);  // expert 0: not local
    EXPECT_EQ(out.as<float>()[3 * hidden + i], 0.0f);  // expert 5: not local
  }
  bool any_nonzero = false;
  for (int i = 0; i < hidden; ++i) any_nonzero |= out.as<float>()[i] != 0.0f;
  EXPECT_TRUE(any_nonzero);
  HostTensor neg = I32({2, 2}, {2, -1, 3, 3});
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.MoeMlp(x.view(), neg.view(), ew, out.view())));
  ExpertWeights wrong = ew;
  wrong.num_local = 3;
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.MoeMlp(x.view(), ids.view(), wrong, out.view())));
}

TEST_F(CpuOpsTest, SampleGreedyTiesAndLogprob) {
  HostTensor logits = F32({2, 4}, {1.0f, 5.0f, 5.0f, -2.0f, 0.0f, 0.0f, 0.0f, 0.0f});
  HostTensor ids = I32({2}, {}), lp = F32({2});
  ASSERT_TRUE(
      ops_.Sample(logits.view(), {SamplingParams{}, SamplingParams{}}, ids.view(), lp.view()).ok());
  EXPECT_EQ(ids.as<int32_t>()[0], 1);
  EXPECT_EQ(ids.as<int32_t>()[1], 0);
  const double lse = std::log(std::exp(1.0) + 2 * std::exp(5.0) + std::exp(-2.0));
  EXPECT_NEAR(lp.as<float>()[0], 5.0 - lse, 1e-6);
  EXPECT_NEAR(lp.as<float>()[1], -std::log(4.0), 1e-6);
}

TEST_F(CpuOpsTest, SampleFiltersAndSeededDraws) {
  const int vocab = 50;
  HostTensor logits = F32({1, vocab});
  FillRandom(logits, 9, 3.0f);
  HostTensor ids = I32({1}, {}), lp = F32({1});
  int greedy = 0;
  for (int i = 1; i < vocab; ++i)
    if (logits.as<float>()[i] > logits.as<float>()[greedy]) greedy = i;
  auto draw = [&](SamplingParams p) {
    EXPECT_TRUE(ops_.Sample(logits.view(), {p}, ids.view(), lp.view()).ok());
    return ids.as<int32_t>()[0];
  };
  SamplingParams p;
  p.temperature = 1.0f;
  // top_k = 1, a tiny top_p and min_p = 1 each leave only the argmax.
  for (uint64_t step = 0; step < 20; ++step) {
    p.step = step;
    SamplingParams k1 = p, p_small = p, m1 = p;
    k1.top_k = 1;
    p_small.top_p = 1e-6f;
    m1.min_p = 1.0f;
    EXPECT_EQ(draw(k1), greedy);
    EXPECT_EQ(draw(p_small), greedy);
    EXPECT_EQ(draw(m1), greedy);
  }
  // Same (seed, step) -> same id; the draws cover more than one id; top_k bounds the support.
  std::vector<int> seen(vocab, 0);
  std::vector<float> sorted(logits.as<float>(), logits.as<float>() + vocab);
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  for (uint64_t step = 0; step < 200; ++step) {
    p.seed = 42;
    p.step = step;
    p.top_k = 5;
    const int a = draw(p), b = draw(p);
    EXPECT_EQ(a, b);
    EXPECT_GE(logits.as<float>()[a], sorted[4]);
    seen[a] = 1;
  }
  EXPECT_GT(std::count(seen.begin(), seen.end(), 1), 1);
  // The draw follows the documented inverse CDF: with u from the counter RNG and two candidates.
  HostTensor two = F32({1, 2}, {0.0f, 0.0f});
  SamplingParams half;
  half.temperature = 1.0f;
  half.seed = 7;
  for (uint64_t step = 0; step < 16; ++step) {
    half.step = step;
    ASSERT_TRUE(ops_.Sample(two.view(), {half}, ids.view(), lp.view()).ok());
    EXPECT_EQ(ids.as<int32_t>()[0], UniformFromSeed(7, step) < 0.5f ? 0 : 1);
  }
  SamplingParams bad = p;
  bad.top_p = 0.0f;
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.Sample(logits.view(), {bad}, ids.view(), lp.view())));
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.Sample(logits.view(), {p, p}, ids.view(), lp.view())));
}

TEST_F(CpuOpsTest, CopyAndCopyColumnsMoveExactlyTheirBlock) {
  HostTensor src = F32({3, 5}), col = F32({3, 2}), whole = F32({3, 5});
  FillRandom(src, 5);
  ASSERT_TRUE(ops_.CopyColumns(src.view(), 3, col.view()).ok());
  for (int t = 0; t < 3; ++t)
    for (int c = 0; c < 2; ++c) EXPECT_EQ(col.as<float>()[t * 2 + c], src.as<float>()[t * 5 + 3 + c]);
  ASSERT_TRUE(ops_.Copy(src.view(), whole.view()).ok());
  for (int i = 0; i < 15; ++i) EXPECT_EQ(whole.as<float>()[i], src.as<float>()[i]);
  EXPECT_THAT(std::string(ops_.CopyColumns(src.view(), 4, col.view()).message()), HasSubstr("outside"));
  EXPECT_THAT(std::string(ops_.Copy(src.view(), col.view()).message()), HasSubstr("shape"));
  EXPECT_THAT(std::string(ops_.Copy(src.view(), src.view()).message()), HasSubstr("overlap"));
}

// The dispatch plan: each rank's tokens ascending, -1 after them; a token goes once to every
// rank owning one of its experts; ids outside the experts go nowhere.
TEST_F(CpuOpsTest, PlanDispatchListsEachRanksTokensThenPadding) {
  // 4 ranks x 2 experts; token 3 has an id outside [0, 8).
  HostTensor ids = I32({4, 2}, {0, 3, 2, 2, 7, 6, 9, 1});
  HostTensor slots(DType::kI32, {4, 5});
  ASSERT_TRUE(ops_.PlanDispatch(ids.view(), 2, slots.view()).ok());
  const std::vector<int32_t> got(slots.as<int32_t>(), slots.as<int32_t>() + 20);
  EXPECT_EQ(got, (std::vector<int32_t>{0, 3, -1, -1, -1,    // rank 0: experts 0, 1
                                       0, 1, -1, -1, -1,    // rank 1: experts 2, 3 (token 1 once)
                                       -1, -1, -1, -1, -1,  // rank 2: nobody
                                       2, -1, -1, -1, -1}));
  HostTensor small(DType::kI32, {4, 3});
  EXPECT_THAT(std::string(ops_.PlanDispatch(ids.view(), 2, small.view()).message()),
              HasSubstr("capacity"));
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.PlanDispatch(ids.view(), 0, slots.view())));
}

TEST_F(CpuOpsTest, PackRowsPlacesSourcesSideBySideAndZeroesPadding) {
  HostTensor a = F32({3, 2}, {0, 1, 2, 3, 4, 5}), b = I32({3, 1}, {100, 101, 102});
  HostTensor index = I32({3}, {2, -1, 0}), packed(DType::kU8, {3, 12});
  std::fill(packed.as<uint8_t>(), packed.as<uint8_t>() + 36, 0xAB);
  ASSERT_TRUE(ops_.PackRows({a.view(), b.view()}, index.view(), packed.view()).ok());
  auto f = [&](int row, int col) {
    float v;
    std::memcpy(&v, packed.as<uint8_t>() + row * 12 + col * 4, 4);
    return v;
  };
  auto i = [&](int row) {
    int32_t v;
    std::memcpy(&v, packed.as<uint8_t>() + row * 12 + 8, 4);
    return v;
  };
  EXPECT_EQ(f(0, 0), 4.0f);
  EXPECT_EQ(f(0, 1), 5.0f);
  EXPECT_EQ(i(0), 102);
  EXPECT_EQ(f(1, 0), 0.0f);  // -1: a zero row
  EXPECT_EQ(i(1), 0);
  EXPECT_EQ(f(2, 1), 1.0f);
  EXPECT_EQ(i(2), 100);
  // The identity index (none): row i of every source.
  HostTensor two(DType::kU8, {2, 12});
  ASSERT_TRUE(ops_.PackRows({a.view(), b.view()}, TensorView(), two.view()).ok());
  EXPECT_EQ(std::memcmp(two.as<uint8_t>() + 12, a.as<float>() + 2, 8), 0);
  // Widths that do not add up, an index of the wrong length, and aliasing are refused.
  HostTensor narrow(DType::kU8, {3, 11});
  EXPECT_THAT(std::string(ops_.PackRows({a.view(), b.view()}, index.view(), narrow.view()).message()),
              HasSubstr("bytes"));
  HostTensor short_index = I32({2}, {0, 1});
  EXPECT_TRUE(absl::IsInvalidArgument(
      ops_.PackRows({a.view(), b.view()}, short_index.view(), packed.view())));
  HostTensor four(DType::kU8, {4, 12});
  EXPECT_THAT(std::string(ops_.PackRows({a.view(), b.view()}, TensorView(), four.view()).message()),
              HasSubstr("fewer rows"));
  // Sources with no rows (a rank that owns none of a short step's tokens): every row is padding,
  // written as zeros over its whole width, whatever the buffer held.
  HostTensor none_a = F32({0, 2}), none_b = I32({0, 1}, {}), all_pad = I32({2}, {-1, -1});
  HostTensor stale(DType::kU8, {2, 12});
  std::fill(stale.as<uint8_t>(), stale.as<uint8_t>() + 24, 0xAB);
  ASSERT_TRUE(ops_.PackRows({none_a.view(), none_b.view()}, all_pad.view(), stale.view()).ok());
  EXPECT_EQ(std::count(stale.as<uint8_t>(), stale.as<uint8_t>() + 24, 0), 24);
}

TEST_F(CpuOpsTest, ScatterAddRowsSkipsPaddingAndRejectsRepeats) {
  HostTensor src = F32({3, 2}, {1, 2, 3, 4, 5, 6}), dst = F32({2, 2}, {10, 20, 30, 40});
  HostTensor index = I32({3}, {1, -1, 0});
  ASSERT_TRUE(ops_.ScatterAddRows(src.view(), index.view(), dst.view()).ok());
  EXPECT_EQ(std::vector<float>(dst.as<float>(), dst.as<float>() + 4),
            (std::vector<float>{15, 26, 31, 42}));
  // BF16 rows: the fp32 sum, rounded once.
  HostTensor sb = Bf16({1, 1}, {1.0f}), db = Bf16({1, 1}, {256.0f}), at = I32({1}, {0});
  ASSERT_TRUE(ops_.ScatterAddRows(sb.view(), at.view(), db.view()).ok());
  EXPECT_EQ(Bf16ToF32(db.as<uint16_t>()[0]), 256.0f);  // 257 rounds to even in bf16
  HostTensor repeat = I32({3}, {0, 0, -1});
  EXPECT_THAT(std::string(ops_.ScatterAddRows(src.view(), repeat.view(), dst.view()).message()),
              HasSubstr("repeats"));
  HostTensor ints = I32({3, 2}, {});
  EXPECT_TRUE(absl::IsInvalidArgument(ops_.ScatterAddRows(ints.view(), index.view(), dst.view())));
}

// The fused ops' defaults are their compositions: QkvRopeAppendKv on a packed projection equals
// RopeAppendKv on its three column blocks, bit for bit.
TEST_F(CpuOpsTest, QkvRopeAppendKvIsRopeAppendKvOnTheColumnBlocks) {
  const int64_t n = 3, hq = 4, hk = 2, d = 8, q_w = hq * d, kv_w = hk * d;
  YarnConfig yc;
  yc.head_dim = d;
  const YarnTable table = ComputeYarnTable(yc);
  HostTensor inv = F32({d / 2}, table.inv_freq);
  const RopeTable rope{inv.view(), table.attention_scaling};
  HostTensor qkv = F32({n, q_w + 2 * kv_w});
  FillRandom(qkv, 9);
  HostTensor pos = I32({n}, {5, 6, 300}), slots = I32({n}, {2, 7, 4});
  HostTensor q_a = F32({n, hq, d}), k_a = F32({n, hk, d}), v_a = F32({n, hk, d});
  HostTensor kc_a = F32({2, 4, hk, d}), vc_a = F32({2, 4, hk, d});
  ASSERT_TRUE(ops_.QkvRopeAppendKv(qkv.view(), q_a.view(), k_a.view(), v_a.view(), pos.view(),
                                   rope, slots.view(), KvLayerView{kc_a.view(), vc_a.view()}).ok());
  HostTensor q_b = F32({n, hq, d}), k_b = F32({n, hk, d}), v_b = F32({n, hk, d});
  HostTensor kc_b = F32({2, 4, hk, d}), vc_b = F32({2, 4, hk, d});
  for (int64_t t = 0; t < n; ++t) {
    const float* row = qkv.as<float>() + t * (q_w + 2 * kv_w);
    std::copy(row, row + q_w, q_b.as<float>() + t * q_w);
    std::copy(row + q_w, row + q_w + kv_w, k_b.as<float>() + t * kv_w);
    std::copy(row + q_w + kv_w, row + q_w + 2 * kv_w, v_b.as<float>() + t * kv_w);
  }
  ASSERT_TRUE(ops_.RopeYarn(q_b.view(), k_b.view(), pos.view(), rope).ok());
  ASSERT_TRUE(ops_.AppendKv(k_b.view(), v_b.view(), slots.view(), KvLayerView{kc_b.view(), vc_b.view()}).ok());
  for (int64_t i = 0; i < q_a.numel(); ++i) ASSERT_EQ(q_a.as<float>()[i], q_b.as<float>()[i]) << i;
  for (int64_t i = 0; i < kc_a.numel(); ++i) {
    ASSERT_EQ(kc_a.as<float>()[i], kc_b.as<float>()[i]) << i;
    ASSERT_EQ(vc_a.as<float>()[i], vc_b.as<float>()[i]) << i;
  }
  // A packed width that does not match the heads is refused.
  HostTensor narrow = F32({n, q_w + kv_w});
  EXPECT_EQ(ops_.QkvRopeAppendKv(narrow.view(), q_a.view(), k_a.view(), v_a.view(), pos.view(), rope,
                                 slots.view(), KvLayerView{kc_a.view(), vc_a.view()}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CpuOpsTest, AllocateIsZeroedAndCopiesRoundTrip) {
  auto mem = ops_.Allocate(100);
  ASSERT_TRUE(mem.ok());
  const char* p = static_cast<const char*>(mem->get());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(p[i], 0);
  const int src[3] = {1, 2, 3};
  int back[3] = {};
  ASSERT_TRUE(ops_.CopyFromHost(mem->get(), src, sizeof(src)).ok());
  ASSERT_TRUE(ops_.CopyToHost(back, mem->get(), sizeof(back)).ok());
  EXPECT_EQ(back[2], 3);
}

}  // namespace
}  // namespace gptoss
