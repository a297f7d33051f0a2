// Transformer + SimpleRunner on CpuOps: how a step is cut must not change the numbers
// (chunked prefill, prefill mixed with decode, several sequences), and bad input is an error
// naming the problem. Numerical parity with HF is golden_model_test's job.
#include "worker/model/transformer.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"
#include "worker/comm/local_communicator.h"
#include "tests/worker/model_io_test_util.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/safetensors.h"
#include "tests/worker/simple_runner.h"
#include "worker/model/weights.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

class TransformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The golden swa_yarn config: sliding window 16, YaRN beyond 48 positions, top-2 of 8.
    auto config = LoadModelConfig(std::string(GPTOSS_SOURCE_DIR) +
                                  "/tests/data/golden/configs/swa_yarn.json");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    const std::string dir = testing::ScratchDir("transformer_test");
    CheckpointWriterOptions options;
    options.seed = 5;
    ASSERT_TRUE(WriteCheckpoint(config_, dir, options).ok());
    auto ckpt = Checkpoint::Open(dir);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    checkpoint_ = std::move(*ckpt);
    auto weights = LoadWeights(*checkpoint_, config_, Layout());
    ASSERT_TRUE(weights.ok()) << weights.status();
    weights_ = std::move(*weights);
  }

  ParallelLayout Layout(int world = 1) const {
    return ParallelLayout::Create(0, world, config_.num_attention_heads,
                                  config_.num_key_value_heads, config_.num_local_experts)
        .value();
  }
  std::unique_ptr<SimpleRunner> Runner(int max_seqs = 3, int max_len = 80, int block_size = 8) {
    SimpleRunner::Options options;
    options.max_seqs = max_seqs;
    options.max_len = max_len;
    options.block_size = block_size;
    auto runner = SimpleRunner::Create(config_, weights_, &ops_, options);
    EXPECT_TRUE(runner.ok()) << runner.status();
    return runner.ok() ? std::move(*runner) : nullptr;
  }
  std::vector<int32_t> Tokens(int n, int salt) const {
    std::vector<int32_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back((i * 131 + salt * 17 + 7) % config_.vocab_size);
    return ids;
  }
  static std::vector<int32_t> Slice(const std::vector<int32_t>& v, size_t a, size_t b) {
    return std::vector<int32_t>(v.begin() + a, v.begin() + b);
  }

  ModelConfig config_;
  std::unique_ptr<Checkpoint> checkpoint_;
  ModelWeights weights_;
  CpuOps ops_;
};

TEST_F(TransformerTest, ChunkedPrefillEqualsOneShotBitForBit) {
  auto runner = Runner();
  const std::vector<int32_t> ids = Tokens(60, 1);
  auto whole = runner->PromptLogits(ids);
  ASSERT_TRUE(whole.ok()) << whole.status();
  runner->Reset(0);
  std::vector<float> chunked;
  // Chunks that straddle blocks (8), the window (16) and the YaRN original length (48).
  for (auto [a, b] : std::vector<std::pair<int, int>>{{0, 7}, {7, 27}, {27, 28}, {28, 60}}) {
    auto out = runner->Step({SimpleRunner::SeqInput{0, Slice(ids, a, b), true}});
    ASSERT_TRUE(out.ok()) << out.status();
    chunked.insert(chunked.end(), (*out)[0].begin(), (*out)[0].end());
  }
  EXPECT_EQ(runner->length(0), 60);
  EXPECT_TRUE(chunked == *whole);
}

TEST_F(TransformerTest, MixedPrefillAndDecodeStepEqualsSeparateSteps) {
  const std::vector<int32_t> a = Tokens(30, 2), b = Tokens(41, 3);
  // Reference: each sequence alone.
  auto alone = Runner();
  auto a_prefill = alone->Step({{0, Slice(a, 0, 29), false}});
  auto a_decode = alone->Step({{0, {a[29]}, false}});
  auto b_first = alone->Step({{1, Slice(b, 0, 20), true}});
  auto b_rest = alone->Step({{1, Slice(b, 20, 41), false}});
  ASSERT_TRUE(a_prefill.ok() && a_decode.ok() && b_first.ok() && b_rest.ok());
  // Together: a decodes while b prefills its first chunk, then b finishes alone.
  auto mixed = Runner();
  ASSERT_TRUE(mixed->Step({{0, Slice(a, 0, 29), false}}).ok());
  auto together = mixed->Step({{1, Slice(b, 0, 20), true}, {0, {a[29]}, false}});
  ASSERT_TRUE(together.ok()) << together.status();
  auto b_rest2 = mixed->Step({{1, Slice(b, 20, 41), false}});
  ASSERT_TRUE(b_rest2.ok());
  EXPECT_TRUE((*together)[0] == (*b_first)[0]);
  EXPECT_TRUE((*together)[1] == (*a_decode)[0]);
  EXPECT_TRUE((*b_rest2)[0] == (*b_rest)[0]);
}

TEST_F(TransformerTest, GenerateStopsAtStopIdsAndSamplingIsSeeded) {
  auto runner = Runner();
  const std::vector<int32_t> prompt = Tokens(12, 4);
  SimpleRunner::GenerateOptions greedy;
  greedy.max_tokens = 6;
  auto first = runner->Generate({prompt}, greedy);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ((*first)[0].tokens.size(), 6u);
  greedy.stop_ids = {(*first)[0].tokens[2]};
  auto stopped = runner->Generate({prompt}, greedy);
  ASSERT_TRUE(stopped.ok());
  const auto& t = (*stopped)[0].tokens;
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t.back(), (*first)[0].tokens[2]);  // the stop id is emitted, then generation ends
  EXPECT_LE(t.size(), 3u);

  SimpleRunner::GenerateOptions sampled;
  sampled.max_tokens = 8;
  sampled.sampling.temperature = 1.0f;
  sampled.sampling.seed = 99;
  auto s1 = runner->Generate({prompt, prompt}, sampled);
  auto s2 = runner->Generate({prompt}, sampled);
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_EQ((*s1)[0].tokens, (*s2)[0].tokens);  // same (seed, step): same draws, any batch
  EXPECT_EQ((*s1)[1].tokens, (*s2)[0].tokens);
}

TEST_F(TransformerTest, BadInputIsAnErrorNamingTheProblem) {
  auto runner = Runner(2, 20);
  auto bad_id = runner->Step({{0, {1, config_.vocab_size}, false}});
  EXPECT_TRUE(absl::IsInvalidArgument(bad_id.status()));
  EXPECT_THAT(bad_id.status().message(), HasSubstr(std::to_string(config_.vocab_size)));
  EXPECT_TRUE(absl::IsInvalidArgument(runner->Step({{0, {-1}, false}}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(runner->Step({{2, {1}, false}}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(runner->Step({{0, {1}, false}, {0, {2}, false}}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(runner->Step({{0, {}, false}}).status()));
  auto too_long = runner->Step({{0, Tokens(21, 5), false}});
  EXPECT_TRUE(absl::IsResourceExhausted(too_long.status()));
  EXPECT_THAT(too_long.status().message(), HasSubstr("max_len 20"));
  EXPECT_EQ(runner->length(0), 0);  // failed steps change nothing
  EXPECT_TRUE(runner->Step({{0, Tokens(20, 5), false}}).ok());

  // More than one rank needs a communicator of that world.
  const absl::Status no_comm = Transformer::Create(config_, weights_, Layout(2), &ops_).status();
  EXPECT_TRUE(absl::IsInvalidArgument(no_comm));
  EXPECT_THAT(no_comm.message(), HasSubstr("needs a communicator"));
  LocalCommunicator one_rank;
  EXPECT_TRUE(absl::IsInvalidArgument(
      Transformer::Create(config_, weights_, Layout(2), &ops_, &one_rank).status()));
  ModelWeights missing_layer = weights_;
  missing_layer.layers.pop_back();
  EXPECT_TRUE(absl::IsInvalidArgument(
      Transformer::Create(config_, missing_layer, Layout(), &ops_).status()));

  auto transformer = Transformer::Create(config_, weights_, Layout(), &ops_);
  ASSERT_TRUE(transformer.ok());
  HostTensor ids(DType::kI32, {1}), logit_rows(DType::kI32, {1}), logits(DType::kF32, {1, 3});
  StepBatch batch;
  batch.token_ids = ids.view();
  batch.positions = ids.view();
  batch.logit_rows = logit_rows.view();
  KvCache empty_cache;
  EXPECT_TRUE(absl::IsInvalidArgument((*transformer)->Forward(batch, empty_cache, logits.view())));
}

}  // namespace
}  // namespace gptoss
