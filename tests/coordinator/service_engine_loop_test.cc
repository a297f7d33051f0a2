// EngineLoop with a fake StepRunner: admission, token flow, stop conditions, cancellation,
// failures and drain — the engine thread's contract without workers or a network.
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>

#include "coordinator/engine_loop.h"
#include "tests/coordinator/engine_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gptoss {
namespace {

using ::testing::Contains;

// Samples token 100 + sample_index (or `stop_token` at sample index `stop_at`), optionally
// blocking each step until released, or failing.
class FakeRunner : public SyncStepRunner {
 public:
  bool ready() const override { return ready_; }
  absl::StatusOr<StepResult> Run(const StepPlan& plan) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      plans_.push_back(plan);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !gate_closed_; });
    }
    if (!fail_with_.ok()) {
      absl::Status st = fail_with_;
      return st;
    }
    StepResult r;
    r.step_id = plan.step_id;
    for (const SequenceStep& s : plan.sequences) {
      if (!s.sample) continue;
      SequenceResult sr;
      sr.sequence_id = s.sequence_id;
      sr.token_id = static_cast<int>(s.sample_index) == stop_at_
                        ? stop_token_
                        : 100 + static_cast<int>(s.sample_index);
      r.results.push_back(sr);
    }
    return r;
  }
  void CloseGate() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_closed_ = true;
  }
  void OpenGate() {
    std::lock_guard<std::mutex> lock(mu_);
    gate_closed_ = false;
    cv_.notify_all();
  }
  void WaitEntered(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_ >= n; });
  }
  std::vector<SequenceId> AllFreed() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<SequenceId> out;
    for (const StepPlan& p : plans_)
      out.insert(out.end(), p.free_sequence_ids.begin(), p.free_sequence_ids.end());
    return out;
  }
  int entered() {
    std::lock_guard<std::mutex> lock(mu_);
    return entered_;
  }
  std::vector<StepPlan> plans() {
    std::lock_guard<std::mutex> lock(mu_);
    return plans_;
  }

  std::atomic<bool> ready_{true};
  absl::Status fail_with_;
  int stop_at_ = -1, stop_token_ = 7;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<StepPlan> plans_;
  int entered_ = 0;
  bool gate_closed_ = false;
};

class Recorder : public RequestObserver {
 public:
  explicit Recorder(int stop_after = -1) : stop_after_(stop_after) {}
  bool OnToken(const SequenceUpdate& u) override {
    std::lock_guard<std::mutex> lock(mu_);
    tokens_.push_back(u.token_id);
    const bool stop = stop_after_ > 0 && static_cast<int>(tokens_.size()) == stop_after_;
    if (u.finish != FinishReason::kNone || stop) End(stop ? FinishReason::kStop : u.finish, {});
    return stop;
  }
  void OnEnded(FinishReason reason, const absl::Status& error) override {
    std::lock_guard<std::mutex> lock(mu_);
    End(reason, error);
  }
  // Waits for the ending; returns (reason, error).
  std::pair<FinishReason, absl::Status> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ended_; }));
    return {reason_, error_};
  }
  std::vector<int> tokens() {
    std::lock_guard<std::mutex> lock(mu_);
    return tokens_;
  }
  int endings() {
    std::lock_guard<std::mutex> lock(mu_);
    return endings_;
  }

 private:
  void End(FinishReason reason, absl::Status error) {
    ++endings_;
    ended_ = true;
    reason_ = reason;
    error_ = std::move(error);
    cv_.notify_all();
  }
  const int stop_after_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> tokens_;
  bool ended_ = false;
  int endings_ = 0;
  FinishReason reason_ = FinishReason::kNone;
  absl::Status error_;
};

SchedulerConfig Config() { return testing::SmallEngineConfig(); }

SequenceRequest Request(int max_tokens, std::vector<int32_t> stops = {}) {
  return testing::SmallRequest(max_tokens, std::move(stops));
}

struct Fixture {
  explicit Fixture(bool overlap = true) {
    EngineOptions options;
    options.overlap = overlap;
    loop = EngineLoop::Create(Config(), &runner, options).value();
    loop->Start();
  }
  FakeRunner runner;
  std::unique_ptr<EngineLoop> loop;
};

TEST(EngineLoopTest, TokensFlowInOrderAndMaxTokensEnds) {
  Fixture f;
  auto obs = std::make_shared<Recorder>();
  ASSERT_TRUE(f.loop->Submit(Request(5), obs).ok());
  EXPECT_EQ(obs->Wait().first, FinishReason::kLength);
  EXPECT_EQ(obs->tokens(), (std::vector<int>{100, 101, 102, 103, 104}));
  EXPECT_EQ(obs->endings(), 1);
}

TEST(EngineLoopTest, StopTokenEnds) {
  Fixture f;
  f.runner.stop_at_ = 2;
  auto obs = std::make_shared<Recorder>();
  ASSERT_TRUE(f.loop->Submit(Request(10, {7}), obs).ok());
  EXPECT_EQ(obs->Wait().first, FinishReason::kStop);
  EXPECT_EQ(obs->tokens(), (std::vector<int>{100, 101, 7}));
}

TEST(EngineLoopTest, ObserverStopEndsTheSequenceAndWorkersForgetIt) {
  Fixture f;
  auto obs = std::make_shared<Recorder>(/*stop_after=*/2);
  absl::StatusOr<SequenceId> id = f.loop->Submit(Request(20), obs);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(obs->Wait().first, FinishReason::kStop);
  // A later step carries the free of the stopped sequence.
  auto next = std::make_shared<Recorder>();
  ASSERT_TRUE(f.loop->Submit(Request(1), next).ok());
  next->Wait();
  EXPECT_EQ(obs->tokens().size(), 2u);
  EXPECT_THAT(f.runner.AllFreed(), Contains(*id));
  EXPECT_EQ(obs->endings(), 1);
}

// Streaming runs on the delivery thread while the next step runs, at most one step behind. A
// stop string found by the observer therefore costs at most one extra step of that sequence one
// step at a time, and two with overlap (the step in flight, and the one planned while the
// observer ran); their tokens are never delivered, and every step still gets its plan in order.
class StopStringTest : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Overlap, StopStringTest, ::testing::Bool());

TEST_P(StopStringTest, AStopFoundWhileTheNextStepRunsCostsAtMostTheStepsInFlight) {
  const bool overlap = GetParam();
  Fixture f(overlap);
  auto stopped = std::make_shared<Recorder>(/*stop_after=*/3);
  auto other = std::make_shared<Recorder>();
  absl::StatusOr<SequenceId> id = f.loop->Submit(Request(40), stopped);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(f.loop->Submit(Request(12), other).ok());
  EXPECT_EQ(stopped->Wait().first, FinishReason::kStop);
  EXPECT_EQ(other->Wait().first, FinishReason::kLength);
  EXPECT_EQ(stopped->tokens(), (std::vector<int>{100, 101, 102}));
  EXPECT_EQ(stopped->endings(), 1);
  EXPECT_EQ(other->tokens().size(), 12u);
  int after_stop = 0;
  for (const StepPlan& plan : f.runner.plans())
    for (const SequenceStep& s : plan.sequences)
      after_stop += s.sequence_id == *id && s.sample && s.sample_index >= 3;
  EXPECT_LE(after_stop, overlap ? 2 : 1) << "steps run for the stopped sequence after its stop";
}

TEST(EngineLoopTest, CancelEndsWithCancelledWithinAStep) {
  Fixture f;
  f.runner.CloseGate();
  auto obs = std::make_shared<Recorder>();
  absl::StatusOr<SequenceId> id = f.loop->Submit(Request(50), obs);
  ASSERT_TRUE(id.ok());
  f.runner.WaitEntered(1);  // the prefill step is in flight
  f.loop->Cancel(*id);
  f.runner.OpenGate();
  EXPECT_EQ(obs->Wait().first, FinishReason::kCancelled);
  EXPECT_TRUE(obs->tokens().empty());  // the in-flight token is not delivered
  EXPECT_EQ(f.loop->stats().free_full_blocks, Config().kv.num_full_blocks);
  f.loop->Cancel(*id);  // idempotent
}

TEST(EngineLoopTest, FullWaitingQueueIsResourceExhausted) {
  Fixture f;
  f.runner.CloseGate();
  auto first = std::make_shared<Recorder>();
  ASSERT_TRUE(f.loop->Submit(Request(3), first).ok());
  f.runner.WaitEntered(1);  // running, step blocked: later requests wait
  std::vector<std::shared_ptr<Recorder>> waiting;
  for (int i = 0; i < 2; ++i) {
    waiting.push_back(std::make_shared<Recorder>());
    ASSERT_TRUE(f.loop->Submit(Request(3), waiting.back()).ok());
  }
  absl::StatusOr<SequenceId> full = f.loop->Submit(Request(3), std::make_shared<Recorder>());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  f.runner.OpenGate();
  EXPECT_EQ(first->Wait().first, FinishReason::kLength);
  for (auto& w : waiting) EXPECT_EQ(w->Wait().first, FinishReason::kLength);
}

TEST(EngineLoopTest, InvalidRequestsAreRejectedAtAdmission) {
  Fixture f;
  SequenceRequest r = Request(3);
  r.prompt.assign(64, 1);  // no room in the context
  EXPECT_EQ(f.loop->Submit(r, std::make_shared<Recorder>()).status().code(),
            absl::StatusCode::kInvalidArgument);
  r.prompt = {1, 5000};
  EXPECT_EQ(f.loop->Submit(r, std::make_shared<Recorder>()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EngineLoopTest, StepFailureEndsItsSequencesWithTheError) {
  Fixture f;
  f.runner.fail_with_ = absl::InvalidArgumentError("rank 0: bad plan");
  auto obs = std::make_shared<Recorder>();
  ASSERT_TRUE(f.loop->Submit(Request(3), obs).ok());
  auto [reason, error] = obs->Wait();
  EXPECT_EQ(reason, FinishReason::kError);
  EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(error.message(), "rank 0: bad plan");
  // Still serving.
  f.runner.fail_with_ = absl::OkStatus();
  auto next = std::make_shared<Recorder>();
  ASSERT_TRUE(f.loop->Submit(Request(2), next).ok());
  EXPECT_EQ(next->Wait().first, FinishReason::kLength);
}

TEST(EngineLoopTest, LostWorkersEndEveryLiveRequestAndRefuseNewOnes) {
  Fixture f;
  f.runner.CloseGate();
  auto a = std::make_shared<Recorder>();
  ASSERT_TRUE(f.loop->Submit(Request(30), a).ok());
  f.runner.WaitEntered(1);
  auto b = std::make_shared<Recorder>();
  ASSERT_TRUE(f.loop->Submit(Request(30), b).ok());  // waiting, not in the failing step
  f.runner.fail_with_ = absl::UnavailableError("rank 0: step stream broken");
  f.runner.ready_ = false;
  f.runner.OpenGate();
  EXPECT_EQ(a->Wait().second.code(), absl::StatusCode::kUnavailable);
  auto [reason_b, error_b] = b->Wait();
  EXPECT_EQ(reason_b, FinishReason::kError);
  EXPECT_EQ(error_b.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(f.loop->Submit(Request(3), std::make_shared<Recorder>()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(f.loop->num_live(), 0);
}

TEST(EngineLoopTest, DrainLetsRequestsFinishThenCancelsTheRest) {
  Fixture f;
  auto quick = std::make_shared<Recorder>();
  ASSERT_TRUE(f.loop->Submit(Request(3), quick).ok());
  f.loop->Drain(absl::Seconds(5));
  EXPECT_EQ(quick->Wait().first, FinishReason::kLength);
  EXPECT_EQ(f.loop->Submit(Request(3), std::make_shared<Recorder>()).status().code(),
            absl::StatusCode::kUnavailable);

  Fixture g;
  g.runner.CloseGate();
  auto slow = std::make_shared<Recorder>();
  ASSERT_TRUE(g.loop->Submit(Request(50), slow).ok());
  g.runner.WaitEntered(1);
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    g.runner.OpenGate();
  });
  g.loop->Drain(absl::Milliseconds(100));  // grace over: the rest is cancelled
  opener.join();
  EXPECT_EQ(slow->Wait().first, FinishReason::kCancelled);
}

}  // namespace
}  // namespace gptoss
