// Golden parity of the CPU engine (CpuOps + Transformer + SimpleRunner) with Hugging Face
// transformers on checkpoints written by our own generator. For every committed case
// (tests/data/golden/): regenerate the checkpoint and check its sha256 against the fixture, then
//  - all-position logits of prompt + continuation in one prefill: max|d|/max|ref| <= 1e-4;
//  - greedy generation (prefill, then one decode step per token): the same 32 tokens, and the
//    logits each token was chosen from within the same bound (the decode path);
//  - several sequences of different lengths in one batch: identical tokens and bit-identical
//    logits to each sequence run alone.
// And the trained toy model (tools/toy/gptoss-toy, real vocabulary) against its own fixture.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/worker/golden_checks.h"
#include "tests/worker/golden_fixture.h"
#include "tests/worker/model_io_test_util.h"
#include "tests/worker/sha256_for_test.h"
#include "worker/model/config.h"
#include "worker/model/safetensors.h"
#include "tests/worker/simple_runner.h"
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
  testing::ExpectAllPositionLogits(*runner_, golden_, kGoldenTolerance,
                                   ("golden " + GetParam()).c_str());
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

// The trained toy model (tools/toy/gptoss-toy: real o200k vocabulary, MXFP4 experts) against
// tests/data/golden/toy.safetensors (tools/toy/make_toy_fixture.py): HF's logits on the stored
// columns (every trained token + one untrained one, which stands for all untrained tokens: they
// share one lm_head row) at every position of prompt + continuation, and HF's greedy
// continuation up to its stop id. The checkpoint files must be the ones the fixture was made from.
TEST(GoldenToyTest, TrainedToyMatchesTransformers) {
  const std::string root = GPTOSS_SOURCE_DIR;
  const std::string dir = root + "/tools/toy/gptoss-toy";
  auto fixture = Checkpoint::Open(root + "/tests/data/golden/toy.safetensors");
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  auto ints = [&](const std::string& name) {
    auto t = (*fixture)->Get(name);
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return std::vector<int32_t>();
    return std::vector<int32_t>(t->as<int32_t>(), t->as<int32_t>() + t->numel());
  };
  const std::vector<int32_t> prompt = ints("prompt_0"), tokens = ints("tokens_0"),
                             columns = ints("logit_ids");
  int digests = 0;
  for (const std::string& name : (*fixture)->names()) {
    if (name.rfind("sha256.", 0) != 0) continue;
    auto digest = (*fixture)->Get(name);
    ASSERT_TRUE(digest.ok()) << digest.status();
    std::string hex;
    char buf[3];
    for (int64_t i = 0; i < digest->numel(); ++i) {
      std::snprintf(buf, sizeof(buf), "%02x", digest->as<uint8_t>()[i]);
      hex += buf;
    }
    EXPECT_EQ(testing::Sha256OfFile(dir + "/" + name.substr(7)), hex)
        << name.substr(7) << " changed: rerun tools/toy/make_toy_fixture.py";
    ++digests;
  }
  ASSERT_GT(digests, 0);

  auto config = LoadModelConfig(dir + "/config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto layout = ParallelLayout::Create(0, 1, config->num_attention_heads,
                                       config->num_key_value_heads, config->num_local_experts);
  ASSERT_TRUE(layout.ok());
  auto weights = LoadWeights(**ckpt, *config, *layout);
  ASSERT_TRUE(weights.ok()) << weights.status();
  CpuOps ops;
  SimpleRunner::Options options;
  options.max_seqs = 1;
  options.max_len = static_cast<int>(prompt.size() + tokens.size());
  auto runner = SimpleRunner::Create(*config, *weights, &ops, options);
  ASSERT_TRUE(runner.ok()) << runner.status();

  std::vector<int32_t> full = prompt;
  full.insert(full.end(), tokens.begin(), tokens.end());
  auto logits = (*runner)->PromptLogits(full);
  ASSERT_TRUE(logits.ok()) << logits.status();
  auto ref = (*fixture)->Get("logits_0");
  ASSERT_TRUE(ref.ok()) << ref.status();
  const int64_t vocab = config->vocab_size, k = static_cast<int64_t>(columns.size());
  ASSERT_EQ(ref->numel(), static_cast<int64_t>(full.size()) * k);
  ASSERT_EQ(static_cast<int64_t>(logits->size()), static_cast<int64_t>(full.size()) * vocab);
  const float* r = ref->as<float>();
  double max_diff = 0, max_ref = 0;
  for (size_t p = 0; p < full.size(); ++p) {
    for (int64_t c = 0; c < k; ++c) {
      const double want = r[p * k + c], got = (*logits)[p * vocab + columns[c]];
      max_diff = std::isnan(got) ? INFINITY : std::max(max_diff, std::fabs(got - want));
      max_ref = std::max(max_ref, std::fabs(want));
    }
  }
  std::printf("[golden toy] logits (%zu positions x %lld columns): max|d|/max|ref| = %.3g\n",
              full.size(), static_cast<long long>(k), max_diff / max_ref);
  EXPECT_LE(max_diff / max_ref, kGoldenTolerance);

  SimpleRunner::GenerateOptions greedy;
  greedy.max_tokens = static_cast<int>(tokens.size());
  greedy.stop_ids = {200002, 200012, 199999};  // <|return|>, <|call|>, <|endoftext|>
  auto out = (*runner)->Generate({prompt}, greedy);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].tokens, tokens);
}

}  // namespace
}  // namespace gptoss
