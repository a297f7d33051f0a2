// `gptoss tokenize` / `gptoss detokenize` as a user runs them: stdin in, stdout out, one clear
// message and a non-zero exit on bad input.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

struct CliResult {
  int exit_code;
  std::string out, err;
};

std::string Scratch() {
  const char* base = std::getenv("GPTOSS_TEST_TMPDIR");
  std::filesystem::path dir =
      base ? base : std::filesystem::temp_directory_path() / "gptoss_cli_test";
  dir /= ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `gptoss <args>` with `input` on stdin.
CliResult Gptoss(const std::string& args, const std::string& input) {
  const std::string dir = Scratch();
  {
    std::ofstream in(dir + "/stdin", std::ios::binary);
    in << input;
  }
  const std::string cmd = std::string("'") + GPTOSS_CLI + "' " + args + " < '" + dir +
                          "/stdin' > '" + dir + "/stdout' 2> '" + dir + "/stderr'";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadAll(dir + "/stdout"),
          ReadAll(dir + "/stderr")};
}

const Tokenizer& Tok() {
  static const Tokenizer* const kTok = Tokenizer::Load()->release();
  return *kTok;
}

std::string IdsLine(const std::vector<int>& ids) { return absl::StrJoin(ids, " ") + "\n"; }

TEST(TokenizerCli, TokenizePrintsIdsOnOneLine) {
  const std::string text = "Hello, world! <|start|> It's 2026.\n";
  const CliResult r = Gptoss("tokenize", text);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, IdsLine(Tok().Encode(text)));
  EXPECT_EQ(r.err, "");
  // --tokenizer takes the ranks file explicitly (both spellings of the flag).
  const std::string ranks =
      std::string(GPTOSS_SOURCE_DIR) + "/coordinator/tokenizer/assets/o200k_base.tiktoken";
  EXPECT_EQ(Gptoss("tokenize --tokenizer '" + ranks + "'", text).out, r.out);
  EXPECT_EQ(Gptoss("tokenize --tokenizer='" + ranks + "'", text).out, r.out);
  EXPECT_EQ(Gptoss("tokenize", "").out, "\n");
}

TEST(TokenizerCli, TokenizeThenDetokenizeIsTheIdentity) {
  const std::string text =
      "Multi-line\r\n\ttext: 中文, العربية, 😀👨‍👩‍👧, trailing   \n\n";
  const CliResult ids = Gptoss("tokenize", text);
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  const CliResult back = Gptoss("detokenize", ids.out);
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, text);
  // Commas, tabs and newlines also separate ids.
  EXPECT_EQ(Gptoss("detokenize", "13225, 11\t2375\n").out, "Hello, world");
}

TEST(TokenizerCli, JsonlModes) {
  const CliResult r = Gptoss("tokenize --jsonl", "\"a b\"\n\"<|end|>\\u00e9\"\n\"\"\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "[" + absl::StrJoin(Tok().Encode("a b"), ",") + "]");
  EXPECT_EQ(lines[1], "[" + absl::StrJoin(Tok().Encode("<|end|>\xC3\xA9"), ",") + "]");
  EXPECT_EQ(lines[2], "[]");

  const CliResult d = Gptoss("detokenize --jsonl", lines[0] + "\n" + lines[1] + "\n[200006]\n[]\n");
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.out, "\"a b\"\n\"<|end|>\xC3\xA9\"\n\"<|start|>\"\n\"\"\n");
  // A partial character becomes U+FFFD in JSON output (JSON strings must be UTF-8).
  const std::vector<int> euro_head = Tok().Encode("\xE2");
  EXPECT_EQ(Gptoss("detokenize --jsonl", "[" + absl::StrJoin(euro_head, ",") + "]\n").out,
            "\"\xEF\xBF\xBD\"\n");
}

TEST(TokenizerCli, BadInputGivesOneMessageAndFails) {
  const struct {
    std::string args, input, message;
  } cases[] = {
      {"tokenize", "ok \xFF bad", "stdin is not valid UTF-8 (first bad byte at offset 3)"},
      {"tokenize --jsonl", "\"ok\"\nnot json\n", "line 2: expected a JSON string"},
      {"tokenize --jsonl", "[1]\n", "line 1: expected a JSON string"},
      {"tokenize --jsonl", "\"\xFF\"\n", "line 1: expected a JSON string"},
      {"detokenize", "1 2 x", "token id 'x' is not a non-negative integer"},
      {"detokenize", "1 -2", "token id '-2'"},
      {"detokenize", "5 201088", "id #1: token id 201088 is out of range [0, 201088)"},
      {"detokenize", "99999999999", "token id '99999999999'"},
      {"detokenize --jsonl", "[1, \"2\"]\n", "line 1: element 1 is not a token id"},
      {"detokenize --jsonl", "{}\n", "line 1: expected a JSON array"},
      {"detokenize --jsonl", "[1]\n[300000]\n", "line 2: id #0: token id 300000 is out of range"},
      {"tokenize --tokenizer /nonexistent/o200k.tiktoken", "x",
       "/nonexistent/o200k.tiktoken does not exist"},
      {"tokenize --tokenizer", "x", "flag --tokenizer needs a value"},
      {"tokenize --bogus", "x", "unknown flag --bogus"},
      {"detokenize extra", "1", "unexpected argument 'extra'"},
  };
  for (const auto& c : cases) {
    const CliResult r = Gptoss(c.args, c.input);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args << " <<< " << c.input;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, ::testing::StartsWith("gptoss ")) << r.err;
  }
}

}  // namespace
}  // namespace gptoss
