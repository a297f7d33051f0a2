// End to end with the model sharded over worker processes (the tiny preset over 2 ranks: Gloo
// between them, the coordinator's rendezvous store): the same greedy and seeded outputs as one
// rank running one step at a time, and a rank that dies (SIGKILL) or hangs (SIGSTOP) in the
// middle of a step — the request in flight ends UNAVAILABLE within the bound, health turns
// NOT_SERVING, the surviving rank leaves the broken world, and a new world of two serves again.
#include <signal.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_harness.h"

namespace gptoss::e2e {
namespace {

std::vector<v1::GenerateRequest> Requests() {
  std::vector<v1::GenerateRequest> requests = {GreedyRequest("The capital of France is", 12),
                                               GreedyRequest("1 2 3 4 5 6 7", 9)};
  v1::GenerateRequest seeded = GreedyRequest("Once upon a time", 10);
  seeded.mutable_sampling()->set_temperature(0.9f);
  seeded.mutable_sampling()->set_top_p(0.95f);
  seeded.mutable_sampling()->set_seed(1234);
  requests.push_back(seeded);
  return requests;
}

std::vector<std::vector<int32_t>> Outputs(Cluster& c) {
  std::vector<std::vector<int32_t>> out;
  for (const v1::GenerateRequest& r : Requests()) {
    GenerateRun run = RunGenerate(c.stub(), r);
    EXPECT_TRUE(run.status.ok()) << run.status.error_message();
    out.push_back(run.token_ids);
  }
  return out;
}

// Steps whose plan fed back the token in flight (the engine's --log-steps lines).
int FedBackSteps(Cluster& c) {
  int n = 0;
  for (const std::string& line : c.CoordinatorLogLines())
    n += absl::StartsWith(line, "engine: step=") && !absl::StrContains(line, " fed_back=0 ");
  return n;
}

// The reference runs one step at a time (--no-overlap) on one rank; the two ranks overlap steps
// (the default): the workers feed back the token they sampled, every rank sampling it alike.
TEST(MultiRankTest, TwoRanksGiveWhatOneRankGives) {
  ClusterOptions reference;
  reference.coordinator_flags = {"--no-overlap", "--log-steps"};
  auto one = Cluster::Start("multirank_one", reference);
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE((*one)->WaitServing().ok()) << (*one)->coordinator().Log();
  const auto want = Outputs(**one);
  EXPECT_EQ(FedBackSteps(**one), 0);
  one->reset();

  ClusterOptions o;
  o.workers = 2;
  o.coordinator_flags = {"--log-steps"};
  auto two = Cluster::Start("multirank_two", o);
  ASSERT_TRUE(two.ok()) << two.status();
  Cluster& c = **two;
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();
  grpc::ClientContext ctx;
  v1::ModelInfo info;
  ASSERT_TRUE(c.stub().GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.parallel().world_size(), 2u);
  EXPECT_EQ(info.parallel().workers_size(), 2);
  EXPECT_EQ(Outputs(c), want);
  // Several requests at once (batched over the two ranks) give the same as one at a time.
  std::vector<std::vector<int32_t>> together(Requests().size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < together.size(); ++i)
    clients.emplace_back([&, i] { together[i] = RunGenerate(c.stub(), Requests()[i]).token_ids; });
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(together, want);
  EXPECT_GT(FedBackSteps(c), 10);
}

class RankFailureTest : public ::testing::TestWithParam<int> {};

TEST_P(RankFailureTest, ARankThatDiesOrHangsMidStepEndsTheStepAndTheWorldReforms) {
  const int sig = GetParam();
  ClusterOptions o;
  o.workers = 2;
  o.coordinator_flags = {"--worker-timeout-s", "2"};
  o.worker_flags = {"--collective-timeout-s", "3"};
  auto started = Cluster::Start(absl::StrCat("multirank_fail_", sig), o);
  ASSERT_TRUE(started.ok()) << started.status();
  Cluster& c = **started;
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();
  const std::vector<std::vector<int32_t>> before = Outputs(c);

  v1::GenerateRequest long_request = GreedyRequest("Once upon a time", 3000);
  long_request.mutable_stop()->set_ignore_eos(true);
  BackgroundStream stream(c.stub(), long_request);
  ASSERT_TRUE(stream.WaitForChunks(3, absl::Seconds(60)));
  c.worker(1).Signal(sig);  // decoding without pause: the rank is inside a step
  const absl::Time failed = absl::Now();
  EXPECT_TRUE(WaitForHealth(c, cli::HealthStatus::kNotServing, absl::Seconds(15)))
      << c.coordinator().Log();
  stream.Join();
  EXPECT_LT(absl::Now() - failed, absl::Seconds(30));
  EXPECT_EQ(stream.status().error_code(), grpc::StatusCode::UNAVAILABLE)
      << stream.status().error_message();
  ASSERT_TRUE(stream.final().has_value());
  EXPECT_EQ(stream.final()->finish_reason(), v1::FINISH_REASON_ERROR);

  // The surviving rank leaves the broken world on its own (its collective times out or its
  // peer's sockets close; the coordinator closes its stream) and exits cleanly.
  std::optional<int> rank0 = c.worker(0).Wait(absl::Seconds(30));
  ASSERT_TRUE(rank0.has_value()) << "rank 0 did not leave the broken world";
  EXPECT_TRUE(WIFEXITED(*rank0)) << *rank0;
  if (sig == SIGSTOP) {
    c.worker(1).Signal(SIGCONT);  // resumes, finds its world gone, exits
    EXPECT_TRUE(c.worker(1).Wait(absl::Seconds(30)).has_value());
  }
  // A new world of two (new processes, a new communicator) serves the same outputs.
  ASSERT_TRUE(c.StartWorker().ok());
  ASSERT_TRUE(c.StartWorker().ok());
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();
  EXPECT_EQ(Outputs(c), before);
}

INSTANTIATE_TEST_SUITE_P(KillOrStop, RankFailureTest, ::testing::Values(SIGKILL, SIGSTOP),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return p.param == SIGKILL ? std::string("Sigkill")
                                                     : std::string("Sigstop");
                         });

}  // namespace
}  // namespace gptoss::e2e
