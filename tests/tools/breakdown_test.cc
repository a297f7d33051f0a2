// gptoss-bench --breakdown's engine on CpuOps with the tiny preset: every op of an eager decode
// step is attributed to its class with the call counts the model implies, and the counted bytes
// and FLOPs are the ones its shapes and its contexts give.
#include "tools/bench/breakdown.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"
#include "worker/model/device_weights.h"
#include "worker/model/presets.h"

namespace gptoss::bench {
namespace {

TEST(BreakdownTest, AttributesADecodeStepToItsOps) {
  auto config = PresetConfig("tiny");
  ASSERT_TRUE(config.ok()) << config.status();
  CpuOps cpu;
  auto weights = SyntheticWeights(*config, 7, cpu, FillSyntheticHost);
  ASSERT_TRUE(weights.ok()) << weights.status();
  BreakdownSettings s;
  s.batch = 2;
  s.context = 20;
  s.steps = 2;
  auto b = ProfileDecode(*config, weights->weights, &cpu, s);
  ASSERT_TRUE(b.ok()) << b.status();

  std::map<std::string, ProfilingOps::Row> rows;
  double sum = 0;
  for (const auto& row : b->rows) {
    rows[row.op] = row;
    sum += row.seconds;
    EXPECT_GE(row.seconds, 0.0) << row.op;
  }
  EXPECT_NEAR(b->op_seconds, sum, 1e-12);
  const ModelConfig& c = *config;
  const int L = c.num_hidden_layers, B = s.batch;
  int sliding = 0;
  for (LayerType t : c.layer_types) sliding += t == LayerType::kSlidingAttention;
  EXPECT_EQ(rows["MoeExperts"].calls, L);
  EXPECT_EQ(rows["AddRmsNorm"].calls, L);
  // Synthetic weights stack q/k/v: one GEMM and the packed rope + append per layer.
  EXPECT_EQ(rows["QkvRopeAppendKv"].calls, L);
  const int64_t qkv_rows = (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim;
  EXPECT_EQ(rows["Linear " + std::to_string(qkv_rows) + "x" + std::to_string(c.hidden_size)].calls, L);
  EXPECT_EQ(rows["Router"].calls, L);
  EXPECT_EQ(rows["RmsNorm"].calls, L + 1);       // input norms and the final norm
  EXPECT_EQ(rows["Embedding"].calls, 2);         // the tokens, then the logit rows
  EXPECT_EQ(rows["Sample"].calls, 1);
  EXPECT_EQ(rows["Attention (sliding)"].calls, sliding);
  EXPECT_EQ(rows["Attention (full)"].calls, L - sliding);
  // lm_head: B rows x V x H.
  const std::string lm_head = "Linear " + std::to_string(c.vocab_size) + "x" + std::to_string(c.hidden_size);
  ASSERT_EQ(rows.count(lm_head), 1u);
  EXPECT_DOUBLE_EQ(rows[lm_head].flops, 2.0 * B * c.vocab_size * c.hidden_size);
  // Full attention: the two profiled steps decode positions context+1 and context+2 (one
  // warm-up step first), so each sequence reads context+2 and context+3 keys.
  const double key_bytes = 2.0 * c.num_key_value_heads * c.head_dim * sizeof(float);
  const double q_out = 2.0 * B * c.num_attention_heads * c.head_dim * sizeof(float);
  const double sinks = c.num_attention_heads * 2.0;  // BF16
  const double keys = B * ((s.context + 2) + (s.context + 3)) / 2.0;
  EXPECT_DOUBLE_EQ(rows["Attention (full)"].bytes, (L - sliding) * (q_out + sinks + keys * key_bytes));
  // MoE: the rows plus the weights of between one and B * top_k distinct experts per layer.
  const double H = c.hidden_size, I = c.intermediate_size, k = c.num_experts_per_tok;
  const double per_expert = 2 * I * (H / 32) * 17 + 2 * I * 2 + H * (I / 32) * 17 + H * 2;
  const double other = B * H * 4 + 2 * B * k * 4 + 2 * B * H * 4;  // x, ids, weights, residual
  const double distinct = (rows["MoeExperts"].bytes / L - other) / per_expert;
  EXPECT_GE(distinct, 1.0);
  EXPECT_LE(distinct, B * k);
  EXPECT_DOUBLE_EQ(rows["MoeExperts"].flops,
                   L * B * c.num_experts_per_tok * 2.0 * c.hidden_size * 3 * c.intermediate_size);
}

}  // namespace
}  // namespace gptoss::bench
