// Golden parity of the CPU engine (CpuOps + Transformer + SimpleRunner) with Hugging Face
// transformers on checkpoints written by our own generator. For every committed case
// (tests/data/golden/): regenerate the checkpoint and check its sha256 against the fixture, then
//  - all-position logits of prompt + continuation in one prefill: max|d|/max|ref| <= 1e-4;
//  - greedy generation (prefill, then one decode step per token): the same 32 tokens, and the
//    logits each token was chosen from within the same bound (the decode path);
//  - several sequences of different lengths in one batch: identical tokens and bit-identical
//    logits to each sequence run alone.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/worker/golden_fixture.h"
#include "tests/worker/model_io_test_util.h"
#include "worker/model/safetensors.h"
#include "worker/model/simple_runner.h"
#include "worker/model/weights.h"

namespace gptoss {
namespace {

using testing::GoldenCase;
using testing::kGoldenTolerance;
using testing::RelativeMaxError;

class GoldenModelTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto golden = testing::LoadGoldenCase(GetParam());
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = std::move(*golden);
    const std::string dir = testing::ScratchDir("golden_" + GetParam());
    absl::Status written = testing::WriteGoldenCheckpoint(golden_, dir);
    ASSERT_TRUE(written.ok()) << written;
    auto ckpt = Checkpoint::Open(dir);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    checkpoint_ = std::move(*ckpt);
    const ModelConfig& c = golden_.config;
    auto layout = ParallelLayout::Create(0, 1, c.num_attention_heads, c.num_key_value_heads,
                                         c.num_local_experts);
    ASSERT_TRUE(layout.ok());
    auto weights = LoadWeights(*checkpoint_, c, *layout);
    ASSERT_TRUE(weights.ok()) << weights.status();
    weights_ = std::move(*weights);
    size_t longest = 0;
    for (const auto& seq : golden_.sequences)
      longest = std::max(longest, seq.prompt.size() + seq.tokens.size());
    SimpleRunner::Options options;
    options.max_seqs = 2;
    options.max_len = static_cast<int>(longest);
    options.block_size = 8;  // several blocks per sequence and per sliding window
    auto runner = SimpleRunner::Create(c, weights_, &ops_, options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
  }

  SimpleRunner::GenerateOptions Greedy() const {
    SimpleRunner::GenerateOptions options;
    options.max_tokens = 32;
    options.record_logits = true;  // no stop ids: the fixture has exactly 32 tokens
    return options;
  }

  static std::vector<int32_t> Slice(const std::vector<int32_t>& v, size_t n) {
    return std::vector<int32_t>(v.begin(), v.begin() + n);
  }

  GoldenCase golden_;
  std::unique_ptr<Checkpoint> checkpoint_;
  ModelWeights weights_;
  CpuOps ops_;
  std::unique_ptr<SimpleRunner> runner_;
};

TEST_P(GoldenModelTest, AllPositionLogitsMatchTransformers) {
  const int vocab = golden_.config.vocab_size;
  for (size_t s = 0; s < golden_.sequences.size(); ++s) {
    const auto& seq = golden_.sequences[s];
    auto logits = runner_->PromptLogits(seq.full());
    ASSERT_TRUE(logits.ok()) << logits.status();
    ASSERT_EQ(logits->size(), seq.logits.size());
    const double err = RelativeMaxError(logits->data(), seq.logits.data(), seq.logits.size());
    std::printf("[golden %s seq %zu] all-position logits (%zu x %d): max|d|/max|ref| = %.3g\n",
                GetParam().c_str(), s, seq.logits.size() / vocab, vocab, err);
    EXPECT_LE(err, kGoldenTolerance);
  }
}

TEST_P(GoldenModelTest, GreedyDecodeMatchesTransformers) {
  const int vocab = golden_.config.vocab_size;
  for (size_t s = 0; s < golden_.sequences.size(); ++s) {
    const auto& seq = golden_.sequences[s];
    auto out = runner_->Generate({seq.prompt}, Greedy());
    ASSERT_TRUE(out.ok()) << out.status();
    const auto& gen = (*out)[0];
    EXPECT_EQ(gen.tokens, seq.tokens) << "sequence " << s;
    ASSERT_EQ(gen.logits.size(), seq.tokens.size() * vocab);
    // Token j was chosen from the logits at position P - 1 + j.
    const double err = RelativeMaxError(gen.logits.data(), seq.row(seq.prompt.size() - 1, vocab),
                                        gen.logits.size());
    std::printf("[golden %s seq %zu] prefill + %zu decode steps: max|d|/max|ref| = %.3g\n",
                GetParam().c_str(), s, seq.tokens.size() - 1, err);
    EXPECT_LE(err, kGoldenTolerance);
  }
}

TEST_P(GoldenModelTest, BatchedSequencesEqualEachRunAlone) {
  // The fixture's prompts, batched. A case with one prompt is batched with the first half of
  // that prompt, so every case runs two sequences of different lengths in one step.
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& seq : golden_.sequences) prompts.push_back(seq.prompt);
  if (prompts.size() == 1) prompts.push_back(Slice(prompts[0], prompts[0].size() / 2));
  auto batched = runner_->Generate(prompts, Greedy());
  ASSERT_TRUE(batched.ok()) << batched.status();
  for (size_t s = 0; s < prompts.size(); ++s) {
    auto alone = runner_->Generate({prompts[s]}, Greedy());
    ASSERT_TRUE(alone.ok()) << alone.status();
    if (s < golden_.sequences.size()) {
      EXPECT_EQ((*batched)[s].tokens, golden_.sequences[s].tokens) << "sequence " << s;
    }
    EXPECT_EQ((*batched)[s].tokens, (*alone)[0].tokens) << "sequence " << s;
    // CpuOps computes every row independently of the rest of the batch: bit-identical.
    EXPECT_TRUE((*batched)[s].logits == (*alone)[0].logits) << "sequence " << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenModelTest, ::testing::ValuesIn(testing::GoldenCaseNames()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace gptoss
