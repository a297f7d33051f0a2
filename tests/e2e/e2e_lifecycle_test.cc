// End to end over loopback: admission limits and the life cycle of the processes — queue
// overflow, a worker that starts after the coordinator, a worker that dies, SIGTERM drain.
// Each test starts its own coordinator + worker(s) on free ports.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_harness.h"

namespace gptoss::e2e {
namespace {

using ::testing::HasSubstr;

v1::GenerateRequest LongRequest(const std::string& text) {
  v1::GenerateRequest r = GreedyRequest(text, 3000);
  r.mutable_stop()->set_ignore_eos(true);
  return r;
}

// Waits until some coordinator log line contains `needle`.
bool WaitForLog(Cluster& cluster, const std::string& needle, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (absl::StrContains(cluster.coordinator().Log(), needle)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(LifecycleTest, FullQueueIsResourceExhaustedAtOnce) {
  ClusterOptions options;
  options.coordinator_flags = {"--max-num-seqs", "1", "--max-waiting", "1"};
  auto cluster = Cluster::Start("queue", options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->WaitServing().ok());
  auto& stub = (*cluster)->stub();

  BackgroundStream running(stub, LongRequest("first"));
  ASSERT_TRUE(running.WaitForChunks(1, absl::Seconds(30)));  // admitted and running
  BackgroundStream waiting(stub, LongRequest("second"));     // fills the waiting queue
  ASSERT_TRUE(WaitForLog(**cluster, "running=1 waiting=1", absl::Seconds(30)));

  const absl::Time start = absl::Now();
  GenerateRun third = RunGenerate(stub, GreedyRequest("third", 2), absl::Seconds(30));
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << third.status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "rejection must not wait for capacity";
  EXPECT_FALSE(third.final.has_value());
}

// --stream-interval 4: the first token at once, then one chunk per 4 tokens (merged), the same
// tokens as every other run, and the final message last.
TEST(LifecycleTest, StreamIntervalMergesTokensIntoFewerChunks) {
  ClusterOptions options;
  options.coordinator_flags = {"--stream-interval", "4"};
  auto cluster = Cluster::Start("interval", options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->WaitServing().ok());
  v1::GenerateRequest request = GreedyRequest("interval", 17);
  request.mutable_stop()->set_ignore_eos(true);
  GenerateRun run = RunGenerate((*cluster)->stub(), request, absl::Seconds(60));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.token_ids.size(), 17u);
  EXPECT_GE(run.num_chunks, 2);
  EXPECT_LE(run.num_chunks, 1 + 16 / 4);
  ASSERT_TRUE(run.final.has_value());
  EXPECT_TRUE(run.final_was_last);
}

TEST(LifecycleTest, WorkerStartedAfterTheCoordinator) {
  ClusterOptions options;
  options.start_workers = false;
  auto started = Cluster::Start("late_worker", options);
  ASSERT_TRUE(started.ok()) << started.status();
  Cluster& cluster = **started;

  // No workers: NOT_SERVING, generation UNAVAILABLE, but the tokenizer and model info answer.
  auto health = cluster.Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, cli::HealthStatus::kNotServing);
  GenerateRun early = RunGenerate(cluster.stub(), GreedyRequest("too early", 2));
  EXPECT_EQ(early.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  {
    grpc::ClientContext ctx;
    v1::ModelInfo info;
    ASSERT_TRUE(cluster.stub().GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
    EXPECT_EQ(info.vocab_size(), 201088u);
  }
  {
    grpc::ClientContext ctx;
    v1::TokenizeRequest req;
    req.set_text("hello");
    v1::TokenizeResponse resp;
    EXPECT_TRUE(cluster.stub().Tokenize(&ctx, req, &resp).ok());
  }

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(cluster.StartWorker().ok());
  ASSERT_TRUE(cluster.WaitServing().ok()) << cluster.coordinator().Log();
  GenerateRun run = RunGenerate(cluster.stub(), GreedyRequest("just in time", 3));
  EXPECT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.token_ids.size(), 3u);
}

TEST(LifecycleTest, WorkerDeathFailsRequestsAndANewWorkerRestoresService) {
  auto started = Cluster::Start("worker_death");
  ASSERT_TRUE(started.ok()) << started.status();
  Cluster& cluster = **started;
  ASSERT_TRUE(cluster.WaitServing().ok());

  BackgroundStream stream(cluster.stub(), LongRequest("doomed"));
  ASSERT_TRUE(stream.WaitForChunks(2, absl::Seconds(30)));
  cluster.worker(0).Signal(SIGKILL);
  stream.Join();
  EXPECT_EQ(stream.status().error_code(), grpc::StatusCode::UNAVAILABLE)
      << stream.status().error_message();
  ASSERT_TRUE(stream.final().has_value());
  EXPECT_EQ(stream.final()->finish_reason(), v1::FINISH_REASON_ERROR);
  EXPECT_FALSE(stream.final()->error_message().empty());

  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    auto h = cluster.Health();
    if (h.ok() && *h == cli::HealthStatus::kNotServing) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(*cluster.Health(), cli::HealthStatus::kNotServing);
  EXPECT_EQ(RunGenerate(cluster.stub(), GreedyRequest("anyone?", 2)).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(cluster.StartWorker().ok());
  ASSERT_TRUE(cluster.WaitServing().ok()) << cluster.coordinator().Log();
  GenerateRun run = RunGenerate(cluster.stub(), GreedyRequest("back again", 3));
  EXPECT_TRUE(run.status.ok()) << run.status.error_message();
}

TEST(LifecycleTest, SigtermDrainsInFlightRequestsThenExits) {
  auto started = Cluster::Start("sigterm");
  ASSERT_TRUE(started.ok()) << started.status();
  Cluster& cluster = **started;
  ASSERT_TRUE(cluster.WaitServing().ok());

  v1::GenerateRequest r = GreedyRequest("finish me", 30);
  r.mutable_stop()->set_ignore_eos(true);
  BackgroundStream stream(cluster.stub(), r);
  ASSERT_TRUE(stream.WaitForChunks(2, absl::Seconds(30)));
  cluster.coordinator().Signal(SIGTERM);
  ASSERT_TRUE(WaitForLog(cluster, "draining", absl::Seconds(10)));
  // Draining: health is NOT_SERVING and new work is refused.
  auto health = cluster.Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, cli::HealthStatus::kNotServing);
  GenerateRun refused = RunGenerate(cluster.stub(), GreedyRequest("late", 2), absl::Seconds(10));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);

  stream.Join();
  EXPECT_TRUE(stream.status().ok()) << stream.status().error_message();
  ASSERT_TRUE(stream.final().has_value());
  EXPECT_EQ(stream.final()->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(stream.final()->usage().completion_tokens(), 30u);

  std::optional<int> coordinator_exit = cluster.coordinator().Wait(absl::Seconds(30));
  ASSERT_TRUE(coordinator_exit.has_value());
  EXPECT_TRUE(WIFEXITED(*coordinator_exit) && WEXITSTATUS(*coordinator_exit) == 0);
  std::optional<int> worker_exit = cluster.worker(0).Wait(absl::Seconds(30));
  ASSERT_TRUE(worker_exit.has_value()) << "the worker must stop when its stream closes";
  EXPECT_TRUE(WIFEXITED(*worker_exit) && WEXITSTATUS(*worker_exit) == 0);
}

TEST(LifecycleTest, DrainGraceExpiryCancelsWhatIsLeft) {
  ClusterOptions options;
  options.coordinator_flags = {"--drain-grace-s", "1"};
  auto started = Cluster::Start("drain_grace", options);
  ASSERT_TRUE(started.ok()) << started.status();
  Cluster& cluster = **started;
  ASSERT_TRUE(cluster.WaitServing().ok());

  BackgroundStream stream(cluster.stub(), LongRequest("never finishes in time"));
  ASSERT_TRUE(stream.WaitForChunks(1, absl::Seconds(30)));
  cluster.coordinator().Signal(SIGTERM);
  stream.Join();
  EXPECT_TRUE(stream.status().ok()) << stream.status().error_message();
  ASSERT_TRUE(stream.final().has_value());
  EXPECT_EQ(stream.final()->finish_reason(), v1::FINISH_REASON_CANCELLED);
  std::optional<int> exit = cluster.coordinator().Wait(absl::Seconds(30));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0);
}

}  // namespace
}  // namespace gptoss::e2e
