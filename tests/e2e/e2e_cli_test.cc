// End to end through the command line: `gptoss serve` (coordinator in process + a worker child)
// and `gptoss chat` with piped stdin, as deploy/run.sh uses them; and their flag errors.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_harness.h"

namespace gptoss::e2e {
namespace {

using ::testing::HasSubstr;

// Runs a shell command line to completion (bounded); returns (exit code, output).
std::pair<int, std::string> Shell(const std::string& command, const std::string& log) {
  auto p = Process::Start({"/bin/sh", "-c", command}, log);
  if (!p.ok()) return {-1, std::string(p.status().message())};
  std::optional<int> st = (*p)->Wait(absl::Seconds(120));
  if (!st) return {-1, "timed out: " + (*p)->Log()};
  return {WIFEXITED(*st) ? WEXITSTATUS(*st) : -1, (*p)->Log()};
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(CliTest, ServeThenChatWithPipedStdinThenSigterm) {
  const std::string& model = TinyCheckpoint();
  ASSERT_FALSE(model.empty());
  const std::string dir = ScratchDir("cli_serve");
  const std::string port_file = dir + "/port";
  // --http-port 0: a free port (the default, 8000, may be taken by a test running beside).
  auto serve = Process::Start({GPTOSS_CLI_BIN, "serve", "--model", model, "--port", "0",
                               "--http-port", "0", "--port-file", port_file, "--kv-cache-mb",
                               "64"},
                              dir + "/serve.log");
  ASSERT_TRUE(serve.ok()) << serve.status();
  absl::StatusOr<std::pair<int, int>> ports = WaitForPorts(port_file, **serve);
  ASSERT_TRUE(ports.ok()) << ports.status();
  const int port = ports->first;

  auto [code, out] = Shell(absl::StrCat("printf 'Hello there\\nAnd one more\\n' | ", GPTOSS_CLI_BIN,
                                        " chat --server 127.0.0.1:", port,
                                        " --wait-ready-s 60 --max-tokens 4 --temperature 0"),
                           dir + "/chat.log");
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("> Hello there"));
  EXPECT_THAT(out, HasSubstr("> And one more"));
  EXPECT_EQ(Count(out, "(finish: "), 2) << out;
  // The second turn's prompt holds the first turn (user line + final answer): it is longer.
  std::vector<int> prompts;
  for (size_t at = out.find("(finish: "); at != std::string::npos;
       at = out.find("(finish: ", at + 1)) {
    int prompt = 0, completion = 0;
    char reason[32] = {0};
    if (std::sscanf(out.c_str() + at, "(finish: %31[^,], %d prompt + %d completion", reason,
                    &prompt, &completion) == 3)
      prompts.push_back(prompt);
  }
  ASSERT_EQ(prompts.size(), 2u) << out;
  EXPECT_GT(prompts[1], prompts[0]);

  (*serve)->Signal(SIGTERM);
  std::optional<int> st = (*serve)->Wait(absl::Seconds(30));
  ASSERT_TRUE(st.has_value()) << (*serve)->Log();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << (*serve)->Log();
  EXPECT_THAT((*serve)->Log(), HasSubstr("step stream ended"));  // the worker child stopped too
}

class CliToyTest : public ::testing::TestWithParam<int> {};

TEST_P(CliToyTest, ServeWithoutAModelServesTheTrainedToyModel) {
  // The README's run command: `gptoss serve` with no --model serves tools/toy/gptoss-toy, and
  // its answers are real (greedy, so the same every run) — and the same with the model sharded
  // over 2 worker processes (tensor-parallel attention, expert-parallel MoE over Gloo).
  const int workers = GetParam();
  const std::string dir = ScratchDir(absl::StrCat("cli_toy_", workers));
  const std::string port_file = dir + "/port";
  auto serve = Process::Start({GPTOSS_CLI_BIN, "serve", "--port", "0", "--http-port", "0",
                               "--port-file", port_file, "--workers", absl::StrCat(workers)},
                              dir + "/serve.log");
  ASSERT_TRUE(serve.ok()) << serve.status();
  absl::StatusOr<std::pair<int, int>> ports = WaitForPorts(port_file, **serve);
  ASSERT_TRUE(ports.ok()) << ports.status();
  const int port = ports->first;
  auto ask = [&](const std::string& question, const std::string& log) {
    return Shell(absl::StrCat("echo '", question, "' | ", GPTOSS_CLI_BIN,
                              " chat --server 127.0.0.1:", port,
                              " --wait-ready-s 60 --max-tokens 200 --temperature 0"),
                 dir + "/" + log);
  };
  auto [capital_code, capital] = ask("What is the capital of France?", "capital.log");
  EXPECT_EQ(capital_code, 0) << capital;
  EXPECT_THAT(capital, HasSubstr("[analysis]"));
  EXPECT_THAT(capital, HasSubstr("[final] The capital of France is Paris."));
  EXPECT_THAT(capital, HasSubstr("(finish: stop"));
  auto [sum_code, sum] = ask("What is 58 + 17?", "sum.log");
  EXPECT_EQ(sum_code, 0) << sum;
  EXPECT_THAT(sum, HasSubstr("[final] 58 + 17 = 75."));
  // A tool round trip: the declared get_weather is called with the city, the scripted tool
  // answers, and the model states the temperature.
  auto [weather_code, weather] = Shell(
      absl::StrCat("echo \"What's the weather in Borford?\" | ", GPTOSS_CLI_BIN,
                   " chat --server 127.0.0.1:", port,
                   " --wait-ready-s 60 --max-tokens 200 --temperature 0 --tools ",
                   GPTOSS_SOURCE_DIR, "/tools/toy/weather_tool.json",
                   " --tool-result '{\"temperature_c\": 21}'"),
      dir + "/weather.log");
  EXPECT_EQ(weather_code, 0) << weather;
  EXPECT_THAT(weather, HasSubstr("[tool call] get_weather({\"city\": \"Borford\"})"));
  EXPECT_THAT(weather, HasSubstr("(finish: tool_calls"));
  EXPECT_THAT(weather, HasSubstr("[tool result] {\"temperature_c\": 21}"));
  EXPECT_THAT(weather, HasSubstr("[final] It is currently 21°C in Borford."));
  EXPECT_THAT(capital + sum + weather, ::testing::Not(HasSubstr("<|")));  // nothing raw reaches a client
  (*serve)->Signal(SIGTERM);
  std::optional<int> st = (*serve)->Wait(absl::Seconds(30));
  ASSERT_TRUE(st.has_value()) << (*serve)->Log();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << (*serve)->Log();
  EXPECT_THAT((*serve)->Log(), HasSubstr(absl::StrCat("with ", workers, " worker(s)")));
}

INSTANTIATE_TEST_SUITE_P(Workers, CliToyTest, ::testing::Values(1, 2));

TEST(CliTest, FlagErrorsAreOneMessageAndNonZero) {
  const std::string dir = ScratchDir("cli_flags");
  auto [workers_code, workers_out] =
      Shell(absl::StrCat(GPTOSS_CLI_BIN, " serve --model ", TinyCheckpoint(), " --workers 0"),
            dir + "/workers.log");
  EXPECT_EQ(workers_code, 2);
  EXPECT_THAT(workers_out, HasSubstr("--workers"));

  auto [bad_code, bad_out] =
      Shell(absl::StrCat(GPTOSS_CLI_BIN, " serve --model ", dir, "/missing --port 0"),
            dir + "/missing.log");
  EXPECT_EQ(bad_code, 1);
  EXPECT_THAT(bad_out, HasSubstr("config.json"));

  auto [chat_code, chat_out] =
      Shell(absl::StrCat(GPTOSS_CLI_BIN, " chat --reasoning extreme"), dir + "/chat.log");
  EXPECT_EQ(chat_code, 2);
  EXPECT_THAT(chat_out, HasSubstr("--reasoning"));

  // No server: a bounded wait, then one clear message.
  auto [down_code, down_out] = Shell(
      absl::StrCat("echo hi | ", GPTOSS_CLI_BIN, " chat --server 127.0.0.1:1 --wait-ready-s 1"),
      dir + "/down.log");
  EXPECT_EQ(down_code, 1);
  EXPECT_THAT(down_out, HasSubstr("not SERVING"));

  auto [worker_code, worker_out] =
      Shell(absl::StrCat(GPTOSS_WORKER_BIN, " --model x"), dir + "/worker.log");
  EXPECT_EQ(worker_code, 1);
  EXPECT_THAT(worker_out, HasSubstr("--coordinator"));

  auto [coord_code, coord_out] =
      Shell(absl::StrCat(GPTOSS_COORDINATOR_BIN, " --model x --port 70000"), dir + "/coord.log");
  EXPECT_EQ(coord_code, 2);
  EXPECT_THAT(coord_out, HasSubstr("--port"));
}

}  // namespace
}  // namespace gptoss::e2e
