// The golden path through the `gptoss` binary, as the fixture script and external checks use it:
// make-checkpoint --config/--seed reproduces the fixture's checkpoint bytes, `logits` writes the
// HF logits of every position as a valid safetensors file, `generate` prints HF's greedy
// continuation; bad ids, model dirs and flags exit non-zero with one clear message.
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/golden_fixture.h"
#include "tests/worker/model_io_test_util.h"
#include "tests/worker/sha256_for_test.h"
#include "worker/model/safetensors.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

CliRun Gptoss(const std::string& args, const std::string& scratch) {
  const std::string err_path = scratch + "/stderr.txt";
  const std::string cmd =
      std::string(GPTOSS_BINARY_DIR) + "/tools/cli/gptoss " + args + " 2>" + err_path;
  CliRun r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = testing::ReadBytes(err_path);
  return r;
}

// What `gptoss generate` prints for HF's greedy continuation `tokens`: at most `max` ids, ending
// early after an eos id of the config (which is printed).
std::string ExpectedGeneration(const std::vector<int32_t>& tokens, const ModelConfig& config,
                               size_t max) {
  std::vector<int32_t> want;
  for (int32_t t : tokens) {
    if (want.size() == max) break;
    want.push_back(t);
    bool eos = false;
    for (int e : config.eos_token_ids) eos |= e == t;
    if (eos) break;
  }
  return absl::StrJoin(want, " ") + "\n";
}

class GoldenCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto golden = testing::LoadGoldenCase("batch2");
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = std::move(*golden);
    scratch_ = testing::ScratchDir("golden_cli");
    model_ = scratch_ + "/model";
    CliRun r = Gptoss("make-checkpoint --config " + golden_.config_path + " --seed " +
                          std::to_string(golden_.seed) + " --out " + model_,
                      scratch_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const auto& [file, digest] : golden_.checkpoint_sha256)
      ASSERT_EQ(testing::Sha256OfFile(model_ + "/" + file), digest)
          << file << ": generator drift, regenerate the fixtures (tests/data/golden/README.md)";
  }

  testing::GoldenCase golden_;
  std::string scratch_, model_;
};

TEST_F(GoldenCliTest, LogitsWritesEveryPosition) {
  const auto& seq = golden_.sequences[1];
  const std::string out = scratch_ + "/logits.safetensors";
  CliRun r = Gptoss(
      "logits --model " + model_ + " --ids \"" + absl::StrJoin(seq.full(), " ") + "\" --out " + out,
      scratch_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto file = Checkpoint::Open(out);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->names(), std::vector<std::string>{"logits"});
  auto logits = (*file)->Get("logits");
  ASSERT_TRUE(logits.ok());
  ASSERT_EQ(logits->dtype, DType::kF32);
  ASSERT_EQ(logits->rank, 2);
  ASSERT_EQ(logits->dim(0), static_cast<int64_t>(seq.full().size()));
  ASSERT_EQ(logits->dim(1), golden_.config.vocab_size);
  EXPECT_LE(testing::RelativeMaxError(logits->as<float>(), seq.logits.data(), seq.logits.size()),
            testing::kGoldenTolerance);
}

TEST_F(GoldenCliTest, GeneratePrintsTheGreedyContinuation) {
  for (const auto& seq : golden_.sequences) {
    CliRun r = Gptoss("generate --model " + model_ + " --ids \"" + absl::StrJoin(seq.prompt, ",") +
                          "\" --max-tokens 32",
                      scratch_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ExpectedGeneration(seq.tokens, golden_.config, 32));
  }
  // Sampling flags are accepted and seeded: the same seed prints the same ids.
  const std::string sampled =
      "generate --model " + model_ +
      " --ids \"1 2 3\" --max-tokens 5 --temperature 0.8 --top-p 0.9 --seed 7";
  CliRun a = Gptoss(sampled, scratch_), b = Gptoss(sampled, scratch_);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST_F(GoldenCliTest, BadInputExitsNonZeroWithOneMessage) {
  const std::string vocab = std::to_string(golden_.config.vocab_size);
  const std::string out = " --out " + scratch_ + "/x.safetensors";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"logits --model " + model_ + " --ids \"1 " + vocab + "\"" + out, "token id " + vocab},
      {"generate --model " + model_ + " --ids \"1 -2\"", "'-2'"},
      {"generate --model " + model_ + " --ids \"1 x\"", "'x'"},
      {"generate --model " + model_ + " --ids \"\"", "--ids is empty"},
      {"generate --model " + model_, "missing required flag --ids"},
      {"generate --model " + scratch_ + "/nope --ids 1", "nope"},
      {"logits --model " + model_ + " --ids 1", "missing required flag --out"},
      {"generate --model " + model_ + " --ids 1 --max-tokens -1", "--max-tokens"},
      {"generate --model " + model_ + " --ids 1 --temperature abc", "not a number"},
      {"generate --model " + model_ + " --ids 1 --top-p 0", "--top-p"},
      {"generate --model " + model_ + " --ids 1 --bogus 2", "unknown flag --bogus"},
      {"generate --model " + model_ + " --ids 1 --world-size 0", "--world-size"},
      // batch2 has one kv head: it cannot be split over two ranks.
      {"generate --model " + model_ + " --ids 1 --world-size 2", "must divide"},
  };
  for (const auto& [args, needle] : cases) {
    CliRun r = Gptoss(args, scratch_);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_THAT(r.err, HasSubstr(needle)) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args;
  }
}

// --world-size 2: the model sharded over two local ranks prints transformers' continuation and
// writes its logits too (swa_yarn: 4 heads, 2 kv heads, 8 experts).
TEST(GoldenCliWorldTest, TwoLocalRanksMatchTransformers) {
  auto golden = testing::LoadGoldenCase("swa_yarn");
  ASSERT_TRUE(golden.ok()) << golden.status();
  const std::string scratch = testing::ScratchDir("golden_cli_world");
  const std::string model = scratch + "/model";
  ASSERT_EQ(Gptoss("make-checkpoint --config " + golden->config_path + " --seed " +
                       std::to_string(golden->seed) + " --out " + model,
                   scratch)
                .exit_code,
            0);
  const auto& seq = golden->sequences[0];
  CliRun gen = Gptoss("generate --world-size 2 --model " + model + " --ids \"" +
                          absl::StrJoin(seq.prompt, " ") + "\" --max-tokens 16",
                      scratch);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  EXPECT_EQ(gen.out, ExpectedGeneration(seq.tokens, golden->config, 16));
  const std::string out = scratch + "/logits.safetensors";
  CliRun logits = Gptoss("logits --world-size 2 --model " + model + " --ids \"" +
                             absl::StrJoin(seq.full(), " ") + "\" --out " + out,
                         scratch);
  ASSERT_EQ(logits.exit_code, 0) << logits.err;
  auto file = Checkpoint::Open(out);
  ASSERT_TRUE(file.ok()) << file.status();
  auto view = (*file)->Get("logits");
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->numel(), static_cast<int64_t>(seq.logits.size()));
  EXPECT_LE(testing::RelativeMaxError(view->as<float>(), seq.logits.data(), seq.logits.size()),
            testing::kGoldenTolerance);
}

}  // namespace
}  // namespace gptoss
