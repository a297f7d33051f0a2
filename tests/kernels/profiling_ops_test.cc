// ProfilingOps over CpuOps: it forwards every call unchanged, and counts calls, bytes and FLOPs
// exactly — from the shapes, and from the data where the data decides (the distinct local
// experts a MoE call reads, the keys an attention call reads); Reset() forgets.
#include "kernels/profiling_ops.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/core/dtype.h"
#include "kernels/cpu/cpu_ops.h"

namespace gptoss {
namespace {

HostTensor F32(std::initializer_list<int64_t> shape, float value = 0.5f) {
  HostTensor t(DType::kF32, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = value + 0.01f * (i % 7);
  return t;
}
HostTensor Bf16(std::initializer_list<int64_t> shape, float value = 0.25f) {
  HostTensor t(DType::kBF16, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.as<uint16_t>()[i] = F32ToBf16(value - 0.02f * (i % 5));
  return t;
}
HostTensor I32(std::initializer_list<int64_t> shape, const std::vector<int32_t>& values) {
  HostTensor t(DType::kI32, shape);
  for (size_t i = 0; i < values.size(); ++i) t.as<int32_t>()[i] = values[i];
  return t;
}
HostTensor U8(std::initializer_list<int64_t> shape, uint8_t value) {
  HostTensor t(DType::kU8, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.as<uint8_t>()[i] = static_cast<uint8_t>(value + i % 3);
  return t;
}

std::map<std::string, ProfilingOps::Row> ByOp(const ProfilingOps::Summary& summary) {
  std::map<std::string, ProfilingOps::Row> rows;
  for (const auto& row : summary.rows) rows[row.op] = row;
  return rows;
}

class ProfilingOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ops = ProfilingOps::Create(&cpu_);
    ASSERT_TRUE(ops.ok()) << ops.status();
    prof_ = std::move(*ops);
  }
  CpuOps cpu_;
  std::unique_ptr<ProfilingOps> prof_;
};

TEST_F(ProfilingOpsTest, LinearIsForwardedAndCountedByItsShapes) {
  HostTensor x = F32({3, 8}), w = Bf16({5, 8}), b = Bf16({5});
  HostTensor got(DType::kF32, {3, 5}), want(DType::kF32, {3, 5});
  ASSERT_TRUE(prof_->Linear(x.view(), w.view(), b.view(), got.view()).ok());
  ASSERT_TRUE(prof_->Linear(x.view(), w.view(), b.view(), got.view()).ok());
  ASSERT_TRUE(cpu_.Linear(x.view(), w.view(), b.view(), want.view()).ok());
  for (int i = 0; i < 15; ++i) EXPECT_EQ(got.as<float>()[i], want.as<float>()[i]);

  auto summary = prof_->Report();
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(summary->rows.size(), 1u);
  const ProfilingOps::Row& row = summary->rows[0];
  EXPECT_EQ(row.op, "Linear 5x8");
  EXPECT_EQ(row.calls, 2);
  EXPECT_DOUBLE_EQ(row.flops, 2 * (2.0 * 3 * 5 * 8));
  EXPECT_DOUBLE_EQ(row.bytes, 2 * (3 * 8 * 4 + 5 * 8 * 2 + 5 * 2 + 3 * 5 * 4.0));
  EXPECT_GE(row.seconds, 0.0);
  EXPECT_DOUBLE_EQ(summary->op_seconds, row.seconds);

  prof_->Reset();
  auto empty = prof_->Report();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->rows.empty());
}

TEST_F(ProfilingOpsTest, ErrorsOfTheInnerOpsPassThrough) {
  HostTensor x = F32({3, 8}), w = Bf16({5, 7}), out(DType::kF32, {3, 5});
  const absl::Status st = prof_->Linear(x.view(), w.view(), TensorView(), out.view());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ProfilingOpsTest, MoeCountsTheDistinctLocalExpertsOfItsIds) {
  // 3 local experts (ids 2..4) of H = I = 32; 3 rows x top-2: ids 2, 4 | 4, 7 | 2, 1. Local
  // pairs: 4 (2, 4, 4, 2); distinct local experts: 2 (2 and 4).
  const int64_t E = 3, H = 32, I = 32, R = 3, k = 2;
  HostTensor gub = U8({E, 2 * I, H / 32, 16}, 0x21), gus = U8({E, 2 * I, H / 32}, 120);
  HostTensor gubias = Bf16({E, 2 * I}), dnb = U8({E, H, I / 32, 16}, 0x13);
  HostTensor dns = U8({E, H, I / 32}, 121), dnbias = Bf16({E, H});
  ExpertWeights ew{gub.view(), gus.view(), gubias.view(), dnb.view(), dns.view(), dnbias.view(),
                   /*first_expert=*/2, /*num_local=*/3, 7.0f, 1.702f};
  HostTensor x = F32({R, H}), ids = I32({R, k}, {2, 4, 4, 7, 2, 1});
  HostTensor weights = F32({R, k}, 0.5f), rows(DType::kF32, {R, k, H});
  HostTensor got = F32({R, H}, 1.0f), want = F32({R, H}, 1.0f);
  ASSERT_TRUE(prof_->MoeExperts(x.view(), ids.view(), weights.view(), ew, rows.view(), got.view()).ok());
  HostTensor rows2(DType::kF32, {R, k, H});
  ASSERT_TRUE(cpu_.MoeExperts(x.view(), ids.view(), weights.view(), ew, rows2.view(), want.view()).ok());
  for (int i = 0; i < R * H; ++i) ASSERT_EQ(got.as<float>()[i], want.as<float>()[i]) << i;

  auto summary = prof_->Report();
  ASSERT_TRUE(summary.ok()) << summary.status();
  const auto rows_by_op = ByOp(*summary);
  ASSERT_EQ(rows_by_op.count("MoeExperts"), 1u);
  const ProfilingOps::Row& row = rows_by_op.at("MoeExperts");
  const double per_expert =
      (2 * I * (H / 32) * 16 + 2 * I * (H / 32) + 2 * I * 2 + H * (I / 32) * 16 + H * (I / 32) + H * 2.0);
  const double other = R * H * 4 + R * k * 4 + R * k * 4 + 2 * (R * H * 4.0);  // x, ids, weights, residual
  EXPECT_DOUBLE_EQ(row.bytes, other + 2 * per_expert);
  EXPECT_DOUBLE_EQ(row.flops, 4 * (2.0 * H * 3 * I));
  // Counted once, also when the report is asked for again.
  auto again = prof_->Report();
  ASSERT_TRUE(again.ok());
  EXPECT_DOUBLE_EQ(ByOp(*again).at("MoeExperts").bytes, row.bytes);
}

TEST_F(ProfilingOpsTest, AttentionCountsTheKeysEachSequenceReads) {
  // Two sequences: A prefills 3 new tokens at context 10, B decodes 1 token at context 40.
  // block 8, 8 blocks; 2 heads of dim 4 over 1 kv head.
  const int64_t heads = 2, D = 4, kv = 1, bs = 8, blocks = 8;
  HostTensor kc = F32({blocks, bs, kv, D}), vc = F32({blocks, bs, kv, D});
  KvLayerView cache{kc.view(), vc.view()};
  HostTensor q = F32({4, heads, D}), sinks = Bf16({heads}), out(DType::kF32, {4, heads * D});
  HostTensor starts = I32({3}, {0, 3, 4}), lens = I32({2}, {10, 40});
  HostTensor tables = I32({2, 5}, {0, 1, -1, -1, -1, 2, 3, 4, 5, 6});
  AttentionBatch batch{starts.view(), lens.view(), tables.view(), 2, 4, 40};
  const double key_bytes = 2.0 * kv * D * 4;  // one position's k and v rows (F32)
  const double base = q.view().bytes() + out.view().bytes() + sinks.view().bytes();
  const double head_flops = 4.0 * heads * D;

  // Full attention: A reads keys 0..9 (queries at 7, 8, 9 see 8, 9, 10 keys), B keys 0..39.
  ASSERT_TRUE(prof_->AttentionWithSinks(q.view(), cache, sinks.view(), batch, 0, 0.5f, out.view()).ok());
  // Window 16: A's queries see keys > p - 16: all of 0..9; B's query at 39 sees 24..39.
  ASSERT_TRUE(prof_->AttentionWithSinks(q.view(), cache, sinks.view(), batch, 16, 0.5f, out.view()).ok());
  auto summary = prof_->Report();
  ASSERT_TRUE(summary.ok()) << summary.status();
  const auto rows = ByOp(*summary);
  const ProfilingOps::Row& full = rows.at("Attention (full)");
  EXPECT_DOUBLE_EQ(full.bytes, base + (10 + 40) * key_bytes);
  EXPECT_DOUBLE_EQ(full.flops, (8 + 9 + 10 + 40) * head_flops);
  const ProfilingOps::Row& sliding = rows.at("Attention (sliding)");
  EXPECT_DOUBLE_EQ(sliding.bytes, base + (10 + 16) * key_bytes);
  EXPECT_DOUBLE_EQ(sliding.flops, (8 + 9 + 10 + 16) * head_flops);
}

TEST_F(ProfilingOpsTest, FusedOpsRecordOneCallEach) {
  HostTensor x = F32({2, 8}), res = F32({2, 8}, 1.0f), res2 = F32({2, 8}, 1.0f), w = Bf16({8});
  HostTensor out(DType::kF32, {2, 8}), out2(DType::kF32, {2, 8});
  ASSERT_TRUE(prof_->AddRmsNorm(x.view(), res.view(), w.view(), 1e-5f, out.view()).ok());
  ASSERT_TRUE(cpu_.AddInPlace(x.view(), res2.view()).ok());
  ASSERT_TRUE(cpu_.RmsNorm(res2.view(), w.view(), 1e-5f, out2.view()).ok());
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(res.as<float>()[i], res2.as<float>()[i]);
    EXPECT_EQ(out.as<float>()[i], out2.as<float>()[i]);
  }
  auto summary = prof_->Report();
  ASSERT_TRUE(summary.ok());
  ASSERT_EQ(summary->rows.size(), 1u);
  EXPECT_EQ(summary->rows[0].op, "AddRmsNorm");
  // The composition refuses an output that would overwrite its residual before the norm.
  EXPECT_EQ(prof_->AddRmsNorm(x.view(), res.view(), w.view(), 1e-5f, res.view()).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gptoss
