// `gptoss render-chat` as a user runs it: a conversation on stdin, openai-harmony's prompt ids on
// one line (checked against the committed oracle output), one clear message and exit 1 on bad
// input, exit 2 on bad flags.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_join.h"
#include "coordinator/tokenizer/harmony_serde_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

struct CliRun {
  int exit_code;
  std::string out, err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CliRun RenderChat(const std::string& args, const std::string& input) {
  const char* base = std::getenv("GPTOSS_TEST_TMPDIR");
  std::filesystem::path dir =
      base ? base : std::filesystem::temp_directory_path() / "gptoss_render_chat_test";
  std::filesystem::create_directories(dir);
  const std::string d = dir.string();
  std::ofstream(d + "/stdin", std::ios::binary) << input;
  const std::string cmd = std::string("'") + GPTOSS_CLI + "' render-chat " + args + " < '" + d +
                          "/stdin' > '" + d + "/stdout' 2> '" + d + "/stderr'";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadAll(d + "/stdout"),
          ReadAll(d + "/stderr")};
}

std::string Fixture(const std::string& name) {
  return ReadAll(std::string(GPTOSS_SOURCE_DIR) + "/tests/data/harmony/" + name);
}

TEST(RenderChatCli, PrintsOpenAiHarmonysIdsForTheSuite) {
  std::istringstream inputs(Fixture("conversations.jsonl"));
  std::istringstream expected(Fixture("render_expected.jsonl"));
  std::string in_line, want_line;
  int checked = 0;
  // A sample keeps the test fast (one process each); the library test covers the whole suite.
  for (int n = 0; std::getline(inputs, in_line) && std::getline(expected, want_line); ++n) {
    if (n % 8 != 0) continue;
    auto in = harmony::ParseSerdeJson(in_line);
    auto want = harmony::ParseSerdeJson(want_line);
    ASSERT_TRUE(in.ok() && want.ok());
    SCOPED_TRACE((*in)["name"].get<std::string>());
    const std::string doc = in->contains("conversation_text")
                                ? (*in)["conversation_text"].get<std::string>()
                                : (*in)["conversation"].dump();
    const CliRun r = RenderChat("", doc);
    if (want->contains("error")) {
      EXPECT_EQ(r.exit_code, 1);
      EXPECT_EQ(r.out, "");
      EXPECT_THAT(r.err, HasSubstr("gptoss render-chat: "));
    } else {
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, absl::StrJoin((*want)["completion"].get<std::vector<int>>(), " ") + "\n");
      EXPECT_EQ(r.err, "");
    }
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST(RenderChatCli, BadInputIsOneClearMessage) {
  CliRun r = RenderChat("", "{\"messages\": [{\"role\": \"user\"}]}");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("messages[0].content"));
  r = RenderChat("", "not json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("invalid JSON"));
  r = RenderChat("", "");
  EXPECT_EQ(r.exit_code, 1);
  r = RenderChat("--tokenizer /nonexistent/o200k_base.tiktoken", "[]");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent"));
  r = RenderChat("--no-such-flag", "[]");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no-such-flag"));
}

TEST(RenderChatCli, TokenizerFlagTakesTheRanksFile) {
  const std::string ranks =
      std::string(GPTOSS_SOURCE_DIR) + "/coordinator/tokenizer/assets/o200k_base.tiktoken";
  const std::string doc = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  const CliRun plain = RenderChat("", doc);
  const CliRun flagged = RenderChat("--tokenizer '" + ranks + "'", doc);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(flagged.exit_code, 0) << flagged.err;
  EXPECT_EQ(flagged.out, plain.out);
}

}  // namespace
}  // namespace gptoss
