// `gptoss make-checkpoint`: bad flags exit non-zero with exactly one message; the tiny preset
// writes the pinned checkpoint.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/model_io_test_util.h"

namespace gptoss {
namespace {

using ::gptoss::testing::ScratchDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int exit_code = -1;
  std::string stderr_text;
};

// Runs `gptoss make-checkpoint <args>`, capturing stderr (stdout is discarded).
Result RunMakeCheckpoint(const std::string& args) {
  const std::string cmd = std::string(GPTOSS_BINARY_DIR) + "/tools/cli/gptoss make-checkpoint " +
                          args + " 2>&1 >/dev/null";
  Result r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.stderr_text.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(ModelIoCli, BadFlagsGiveOneMessageAndNonZeroExit) {
  const std::string dir = ScratchDir("cli_bad");
  const std::string out = " --out " + dir + "/ck";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "missing --preset"},
      {"--out " + dir + "/ck", "missing --preset"},
      {"--preset tiny", "missing required flag --out"},
      {"--preset huge" + out, "unknown preset 'huge'"},
      {"--preset tiny --config " + dir + "/c.json" + out, "either --preset or --config"},
      {"--preset tiny --seed -3" + out, "--seed must be non-negative"},
      {"--preset tiny --seed abc" + out, "is not an integer"},
      {"--preset tiny" + out + " --seed", "needs a value"},
      {"--preset tiny --bogus 1" + out, "unknown flag --bogus"},
      {"--preset tiny extra" + out, "unexpected argument 'extra'"},
      {"--preset tiny --out ''", "--out must not be empty"},
      {"--config " + dir + "/missing.json" + out, "missing.json"},
  };
  for (const auto& [args, needle] : cases) {
    Result r = RunMakeCheckpoint(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_THAT(r.stderr_text, StartsWith("gptoss make-checkpoint: ")) << args;
    EXPECT_THAT(r.stderr_text, HasSubstr(needle)) << args;
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1)
        << args << ": " << r.stderr_text;
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/ck"));
}

TEST(ModelIoCli, InvalidConfigFileIsRejectedNamingTheField) {
  const std::string dir = ScratchDir("cli_bad_config");
  gptoss::testing::WriteBytes(dir + "/config.json",
                              R"({"model_type": "gpt_oss", "hidden_size": 100})");
  Result r = RunMakeCheckpoint("--config " + dir + "/config.json --out " + dir + "/ck");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.stderr_text, HasSubstr("'hidden_size'"));
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
}

TEST(ModelIoCli, ConfigFileDrivesTheShape) {
  const std::string dir = ScratchDir("cli_config");
  gptoss::testing::WriteBytes(dir + "/small.json",
                              ModelConfigToJson(gptoss::testing::SmallConfig()));
  Result r = RunMakeCheckpoint("--config " + dir + "/small.json --seed 5 --out " + dir + "/ck");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(gptoss::testing::ReadBytes(dir + "/ck/config.json"),
            gptoss::testing::ReadBytes(dir + "/small.json"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/ck/model.safetensors"));
}

}  // namespace
}  // namespace gptoss
