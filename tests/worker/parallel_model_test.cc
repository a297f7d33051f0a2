// The model at world sizes 2, 4 and 8 (ranks are threads joined by GlooCommunicator over TCP
// loopback; each loads only its shard): tensor-parallel attention, expert-parallel MoE and the
// vocab-parallel lm_head must reproduce world size 1 and the transformers fixtures.
//  - all-position logits of prompt + continuation within 1e-5 relative of world size 1, and
//    within the golden bound of Hugging Face's;
//  - the same greedy continuation (the fixture's), every rank bit-identical to rank 0;
//  - several sequences batched == each alone, bit-identical, with N ranks;
//  - short steps (fewer tokens than ranks, counts not divisible by N) through the decode path.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/worker/golden_fixture.h"
#include "tests/worker/model_io_test_util.h"
#include "tests/worker/multi_rank.h"
#include "worker/comm/staged_communicator.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/presets.h"
#include "worker/model/safetensors.h"
#include "tests/worker/simple_runner.h"
#include "worker/model/weights.h"

namespace gptoss {
namespace {

using testing::RelativeMaxError;
using testing::RunRanks;

constexpr double kParallelTolerance = 1e-5;  // vs world size 1 (the bar)

struct Case {
  std::string name;
  ModelConfig config;
  std::string dir;                           // checkpoint
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<int32_t>> expected;  // transformers' greedy tokens, when known
  std::vector<std::vector<float>> reference;   // transformers' all-position logits, when known
};

// What one rank computed.
struct RankOutput {
  std::vector<std::vector<float>> prompt_logits;  // per prompt: prompt + continuation, all rows
  std::vector<SimpleRunner::Generation> alone;    // greedy, each prompt alone
  std::vector<SimpleRunner::Generation> batched;  // greedy, all prompts in one batch
};

constexpr int kTokens = 12;

// staged: the ranks talk through StagedCommunicator (the GPU-sharing path: every collective
// copied out to host memory and back through Ops), here over CpuOps.
std::vector<RankOutput> RunWorld(const Case& c, int world, DispatchOptions dispatch = {},
                                 bool staged = false) {
  std::vector<RankOutput> out(world);
  absl::Status st = RunRanks(world, [&](int rank, GlooCommunicator& comm) -> absl::Status {
    GPTOSS_ASSIGN_OR_RETURN(auto ckpt, Checkpoint::Open(c.dir));
    GPTOSS_ASSIGN_OR_RETURN(
        ParallelLayout layout,
        ParallelLayout::Create(rank, world, c.config.num_attention_heads,
                               c.config.num_key_value_heads, c.config.num_local_experts));
    GPTOSS_ASSIGN_OR_RETURN(ModelWeights weights, LoadWeights(*ckpt, c.config, layout));
    CpuOps ops;
    StagedCommunicator staging(&ops, &comm);
    SimpleRunner::Options options;
    options.max_seqs = static_cast<int>(c.prompts.size());
    options.max_len = 0;
    for (const auto& p : c.prompts)
      options.max_len = std::max(options.max_len, static_cast<int>(p.size()) + kTokens);
    options.block_size = 8;
    options.comm = world == 1 ? nullptr : staged ? static_cast<Communicator*>(&staging) : &comm;
    options.dispatch = dispatch;
    GPTOSS_ASSIGN_OR_RETURN(auto runner, SimpleRunner::Create(c.config, weights, &ops, options));
    SimpleRunner::GenerateOptions greedy;
    greedy.max_tokens = kTokens;
    greedy.record_logits = true;
    RankOutput& mine = out[rank];
    GPTOSS_ASSIGN_OR_RETURN(mine.batched, runner->Generate(c.prompts, greedy));
    for (const auto& prompt : c.prompts) {
      GPTOSS_ASSIGN_OR_RETURN(auto alone, runner->Generate({prompt}, greedy));
      mine.alone.push_back(alone[0]);
      std::vector<int32_t> full = prompt;
      full.insert(full.end(), alone[0].tokens.begin(), alone[0].tokens.end());
      GPTOSS_ASSIGN_OR_RETURN(auto logits, runner->PromptLogits(full));
      mine.prompt_logits.push_back(std::move(logits));
    }
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << c.name << " at world size " << world << ": " << st;
  return out;
}

void CheckWorld(const Case& c, int world, const RankOutput& single) {
  SCOPED_TRACE(absl::StrCat(c.name, " at world size ", world));
  // The default dispatch: fixed capacity for the decode steps and short prompts, exact counts
  // for longer prefills. Then every step in the exact mode: bit-identical.
  const std::vector<RankOutput> ranks = RunWorld(c, world);
  const std::vector<RankOutput> exact = RunWorld(c, world, DispatchOptions{0});
  if (::testing::Test::HasFailure()) return;
  for (size_t s = 0; s < c.prompts.size(); ++s) {
    EXPECT_EQ(exact[0].alone[s].tokens, ranks[0].alone[s].tokens) << "exact vs fixed capacity";
    EXPECT_EQ(exact[0].alone[s].logits, ranks[0].alone[s].logits) << "exact vs fixed capacity";
    EXPECT_EQ(exact[0].prompt_logits[s], ranks[0].prompt_logits[s]) << "exact vs fixed capacity";
  }
  const RankOutput& r0 = ranks[0];
  for (int r = 1; r < world; ++r) {  // every rank ends with the same tokens and logits
    for (size_t s = 0; s < c.prompts.size(); ++s) {
      EXPECT_EQ(ranks[r].alone[s].tokens, r0.alone[s].tokens) << "rank " << r;
      EXPECT_EQ(ranks[r].prompt_logits[s], r0.prompt_logits[s]) << "rank " << r;
    }
  }
  const int vocab = c.config.vocab_size;
  for (size_t s = 0; s < c.prompts.size(); ++s) {
    EXPECT_EQ(r0.alone[s].tokens, single.alone[s].tokens) << "sequence " << s;
    if (s < c.expected.size()) {
      const std::vector<int32_t> want(c.expected[s].begin(), c.expected[s].begin() + kTokens);
      EXPECT_EQ(r0.alone[s].tokens, want) << "sequence " << s << " vs transformers";
    }
    ASSERT_EQ(r0.prompt_logits[s].size(), single.prompt_logits[s].size());
    const double err = RelativeMaxError(r0.prompt_logits[s].data(), single.prompt_logits[s].data(),
                                        single.prompt_logits[s].size());
    const double decode_err =
        RelativeMaxError(r0.alone[s].logits.data(), single.alone[s].logits.data(),
                         single.alone[s].logits.size());
    std::printf("[parallel %s N=%d seq %zu] all-position logits vs N=1: %.3g, decode: %.3g\n",
                c.name.c_str(), world, s, err, decode_err);
    EXPECT_LE(err, kParallelTolerance);
    EXPECT_LE(decode_err, kParallelTolerance);
    if (s < c.reference.size()) {
      const size_t n = std::min(c.reference[s].size(), r0.prompt_logits[s].size());
      EXPECT_LE(RelativeMaxError(r0.prompt_logits[s].data(), c.reference[s].data(), n),
                testing::kGoldenTolerance)
          << "vs transformers";
    }
    // Batched == alone, bit-identical, at N ranks too.
    EXPECT_EQ(r0.batched[s].tokens, r0.alone[s].tokens) << "sequence " << s;
    EXPECT_EQ(r0.batched[s].logits, r0.alone[s].logits) << "sequence " << s;
  }
  (void)vocab;
}

void CheckWorlds(const Case& c) {
  const std::vector<RankOutput> single = RunWorld(c, 1);
  ASSERT_FALSE(::testing::Test::HasFailure());
  int checked = 0;
  for (int world : {2, 4, 8}) {
    if (c.config.num_key_value_heads % world || c.config.num_attention_heads % world ||
        c.config.num_local_experts % world)
      continue;
    CheckWorld(c, world, single[0]);
    ++checked;
  }
  EXPECT_GT(checked, 0) << c.name << " divides over no world size";
}

class ParallelGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ParallelGoldenTest, ShardedRanksReproduceOneRankAndTransformers) {
  auto golden = testing::LoadGoldenCase(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  Case c;
  c.name = GetParam();
  c.config = golden->config;
  c.dir = testing::ScratchDir("parallel_" + GetParam());
  ASSERT_TRUE(testing::WriteGoldenCheckpoint(*golden, c.dir).ok());
  for (const auto& seq : golden->sequences) {
    c.prompts.push_back(seq.prompt);
    c.expected.push_back(seq.tokens);
    // HF's logits of prompt + its first kTokens tokens (what PromptLogits runs when they agree).
    c.reference.push_back(std::vector<float>(
        seq.logits.begin(),
        seq.logits.begin() + (seq.prompt.size() + kTokens) * c.config.vocab_size));
  }
  // Two sequences at least, and one shorter than the world: fewer tokens than ranks.
  c.prompts.push_back({c.prompts[0][0]});
  CheckWorlds(c);
}

// The golden cases whose heads, kv heads and experts divide by 2 (batch2 has one kv head).
INSTANTIATE_TEST_SUITE_P(Cases, ParallelGoldenTest,
                         ::testing::Values("mha_top1", "swa_yarn", "deep_gqa"));

TEST(ParallelToyTest, TrainedToyModelAtTwoAndFourRanks) {
  Case c;
  c.name = "toy";
  c.dir = std::string(GPTOSS_SOURCE_DIR) + "/tools/toy/gptoss-toy";
  auto text = testing::ReadBytes(c.dir + "/config.json");
  auto config = ParseModelConfig(text);
  ASSERT_TRUE(config.ok()) << config.status();
  c.config = *config;
  // Harmony-shaped prompts (ids of the o200k_harmony vocabulary): 7 and 3 tokens.
  c.prompts = {{200006, 17360, 200008, 3575, 553, 17554, 200007}, {200006, 1428, 200008}};
  CheckWorlds(c);
}

// The presets served in the tests and benchmarks (real vocabulary: the vocab-parallel lm_head
// splits 201088 rows): tiny over 2 ranks, wide over 2, 4 and 8.
class ParallelPresetTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ParallelPresetTest, ShardedRanksReproduceOneRank) {
  Case c;
  c.name = GetParam();
  auto config = PresetConfig(GetParam());
  ASSERT_TRUE(config.ok());
  c.config = *config;
  c.config.num_hidden_layers = 2;  // both attention kinds; keeps the checkpoint small
  c.config.layer_types.resize(2);
  c.dir = testing::ScratchDir("parallel_preset_" + GetParam());
  ASSERT_TRUE(WriteCheckpoint(c.config, c.dir, CheckpointWriterOptions{}).ok());
  c.prompts = {{200006, 17360, 200008, 3575, 553, 17554, 200007, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                11, 12, 13},
               {200006, 1428, 200008}};
  CheckWorlds(c);
}

INSTANTIATE_TEST_SUITE_P(Presets, ParallelPresetTest, ::testing::Values("tiny", "wide"));

TEST(ParallelStagedTest, StagedCollectivesGiveTheSameBits) {
  Case c;
  c.name = "staged";
  c.config = testing::SmallConfig();
  c.dir = testing::ScratchDir("parallel_staged");
  ASSERT_TRUE(WriteCheckpoint(c.config, c.dir, CheckpointWriterOptions{}).ok());
  c.prompts = {{5, 17, 300, 2, 44, 9}, {400, 12}};
  const std::vector<RankOutput> direct = RunWorld(c, 2);
  const std::vector<RankOutput> staged = RunWorld(c, 2, {}, /*staged=*/true);
  ASSERT_FALSE(::testing::Test::HasFailure());
  for (size_t s = 0; s < c.prompts.size(); ++s) {
    EXPECT_EQ(staged[0].alone[s].tokens, direct[0].alone[s].tokens);
    EXPECT_EQ(staged[0].prompt_logits[s], direct[0].prompt_logits[s]);
    EXPECT_EQ(staged[1].alone[s].logits, direct[1].alone[s].logits);
  }
}

}  // namespace
}  // namespace gptoss
