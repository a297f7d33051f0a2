// Scheduler policies: budgets, chunked prefill, continuous batching, preemption and resume,
// priority/FCFS, sliding-window accounting, queue overflow, cancellation, stop conditions.
#include "coordinator/scheduler/scheduler.h"

#include <algorithm>
#include <deque>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/scheduler_test_util.h"

namespace gptoss {
namespace {

using ::testing::ElementsAre;
using testing::FakeKvModel;
using ::testing::IsEmpty;

constexpr int kVocab = 1000;

SchedulerConfig Config(int full_blocks = 64, int sliding_blocks = 64, int window = 8,
                       int budget = 64, int max_seqs = 8, int bs = 4) {
  SchedulerConfig c;
  c.kv.block_size = bs;
  c.kv.num_full_blocks = full_blocks;
  c.kv.num_sliding_blocks = sliding_blocks;
  c.kv.sliding_window = window;
  c.vocab_size = kVocab;
  c.max_context_len = 4096;
  c.max_num_seqs = max_seqs;
  c.max_batch_tokens = budget;
  c.max_waiting = 16;
  return c;
}

SequenceRequest Request(int prompt_len, int max_tokens = 0, int priority = 0) {
  SequenceRequest r;
  r.prompt.resize(prompt_len);
  std::iota(r.prompt.begin(), r.prompt.end(), 1);
  r.max_tokens = max_tokens;
  r.priority = priority;
  return r;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void Init(const SchedulerConfig& config) {
    auto s = Scheduler::Create(config, &clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    scheduler_ = std::move(*s);
    model_ = std::make_unique<FakeKvModel>(config.kv, config.vocab_size);
  }
  SequenceId Add(SequenceRequest r) {
    auto id = scheduler_->Add(std::move(r));
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or(0);
  }
  // Schedules one step, runs it on the fake model and applies the result.
  ScheduledStep Step(std::vector<SequenceUpdate>* updates = nullptr) {
    auto step = scheduler_->Schedule();
    EXPECT_TRUE(step.ok()) << step.status();
    if (!step.ok()) return {};
    if (!step->plan.sequences.empty()) {
      auto result = model_->Run(step->plan);
      EXPECT_TRUE(result.ok()) << result.status();
      if (!result.ok()) return *step;
      auto u = scheduler_->OnStepResult(*result);
      EXPECT_TRUE(u.ok()) << u.status();
      if (updates && u.ok()) *updates = *u;
    }
    return *std::move(step);
  }
  // One engine iteration with overlap: plans a step while fewer than kMaxInFlight are in
  // flight, and answers the oldest (in order, as the workers do) when the pipeline is full or
  // nothing new was planned.
  ScheduledStep OverlappedStep(std::vector<SequenceUpdate>* updates) {
    ScheduledStep out;
    if (in_flight_.size() < Scheduler::kMaxInFlight) {
      auto step = scheduler_->Schedule();
      EXPECT_TRUE(step.ok()) << step.status();
      if (!step.ok()) return {};
      out = *std::move(step);
      if (!out.plan.sequences.empty()) {
        in_flight_.push_back(out.plan);
        if (in_flight_.size() < Scheduler::kMaxInFlight) return out;
      }
    }
    if (in_flight_.empty()) return out;
    auto result = model_->Run(in_flight_.front());
    in_flight_.pop_front();
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return out;
    auto u = scheduler_->OnStepResult(*result);
    EXPECT_TRUE(u.ok()) << u.status();
    if (u.ok()) *updates = *u;
    return out;
  }
  void RandomTraffic(bool overlap);
  static const SequenceStep* Find(const StepPlan& plan, SequenceId id) {
    for (const auto& s : plan.sequences)
      if (s.sequence_id == id) return &s;
    return nullptr;
  }
  static std::vector<SequenceId> Ids(const StepPlan& plan) {
    std::vector<SequenceId> ids;
    for (const auto& s : plan.sequences) ids.push_back(s.sequence_id);
    return ids;
  }

  FakeClock clock_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<FakeKvModel> model_;
  std::deque<StepPlan> in_flight_;  // OverlappedStep's plans sent and not answered
};

TEST_F(SchedulerTest, ConfigValidationNamesTheField) {
  SchedulerConfig c = Config(/*full=*/64, /*sliding=*/2, /*window=*/8);  // needs 3 sliding
  auto s = Scheduler::Create(c, &clock_);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), ::testing::HasSubstr("num_sliding_blocks"));
  c = Config();
  c.max_batch_tokens = 0;
  EXPECT_THAT(Scheduler::Create(c, &clock_).status().message(),
              ::testing::HasSubstr("max_batch_tokens"));
  EXPECT_FALSE(Scheduler::Create(Config(), nullptr).ok());
}

TEST_F(SchedulerTest, AddRejectsMalformedRequests) {
  Init(Config(/*full=*/8));  // 8 blocks of 4: sequences up to 33 tokens
  EXPECT_EQ(scheduler_->Add(Request(0)).status().code(), absl::StatusCode::kInvalidArgument);
  SequenceRequest bad = Request(3);
  bad.prompt[1] = kVocab;
  auto s = scheduler_->Add(bad);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), ::testing::HasSubstr("prompt token 1"));
  bad = Request(3);
  bad.prompt[0] = -5;
  EXPECT_EQ(scheduler_->Add(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler_->Add(Request(33)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(scheduler_->Add(Request(32)).ok());
  bad = Request(3);
  bad.top_logprobs = 21;
  EXPECT_EQ(scheduler_->Add(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = Request(3);
  bad.stop_token_ids = {kVocab + 1};
  EXPECT_EQ(scheduler_->Add(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = Request(3, /*max_tokens=*/-1);
  EXPECT_EQ(scheduler_->Add(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, WaitingQueueOverflowIsResourceExhausted) {
  SchedulerConfig c = Config();
  c.max_waiting = 2;
  Init(c);
  Add(Request(4));
  Add(Request(4));
  auto third = scheduler_->Add(Request(4));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  Step();  // both admitted: the queue has room again
  EXPECT_TRUE(scheduler_->Add(Request(4)).ok());
  EXPECT_TRUE(scheduler_->Add(Request(4)).ok());
  EXPECT_EQ(scheduler_->Add(Request(4)).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(SchedulerTest, ChunkedPrefillUnderTheTokenBudget) {
  Init(Config(/*full=*/64, /*sliding=*/64, /*window=*/8, /*budget=*/32));
  const SequenceId id = Add(Request(100));
  std::vector<int> chunk_sizes;
  std::vector<bool> sampled;
  int expected_start = 0;
  for (int i = 0; i < 4; ++i) {
    ScheduledStep step = Step();
    ASSERT_EQ(step.plan.sequences.size(), 1u);
    const SequenceStep& s = step.plan.sequences[0];
    EXPECT_EQ(s.sequence_id, id);
    EXPECT_EQ(s.start_position, expected_start);
    EXPECT_EQ(s.prompt_len, 100);
    // Tables reach exactly the block of the last new token.
    EXPECT_EQ(s.full_block_table.size(), static_cast<size_t>((s.end_position() + 3) / 4));
    EXPECT_EQ(s.sliding_block_table.size(), s.full_block_table.size());
    EXPECT_EQ(s.token_ids.front(), expected_start + 1);  // prompt is 1, 2, 3, ...
    expected_start = s.end_position();
    chunk_sizes.push_back(static_cast<int>(s.token_ids.size()));
    sampled.push_back(s.sample);
    EXPECT_EQ(step.num_prefill_tokens, chunk_sizes.back());
  }
  EXPECT_THAT(chunk_sizes, ElementsAre(32, 32, 32, 4));
  EXPECT_THAT(sampled, ElementsAre(false, false, false, true));
  // Then decoding, one token per step, fed back at the next position.
  ScheduledStep step = Step();
  ASSERT_EQ(step.plan.sequences.size(), 1u);
  EXPECT_EQ(step.plan.sequences[0].start_position, 100);
  EXPECT_EQ(step.plan.sequences[0].token_ids.size(), 1u);
  EXPECT_EQ(step.plan.sequences[0].sample_index, 1u);
  EXPECT_EQ(step.num_decode_tokens, 1);
}

TEST_F(SchedulerTest, ContinuousBatchingMixesDecodesAndANewPrefill) {
  Init(Config(/*full=*/64, /*sliding=*/64, /*window=*/8, /*budget=*/16));
  const SequenceId a = Add(Request(5));
  const SequenceId b = Add(Request(6));
  ScheduledStep s1 = Step();
  EXPECT_THAT(Ids(s1.plan), ElementsAre(a, b));
  EXPECT_EQ(s1.num_prefill_tokens, 11);
  ScheduledStep s2 = Step();  // both decode
  EXPECT_THAT(Ids(s2.plan), ElementsAre(a, b));
  EXPECT_EQ(s2.num_decode_tokens, 2);
  const SequenceId c = Add(Request(40));
  ScheduledStep s3 = Step();  // decodes go first; c's chunk takes the rest of the budget
  EXPECT_THAT(Ids(s3.plan), ElementsAre(a, b, c));
  EXPECT_EQ(Find(s3.plan, c)->token_ids.size(), 14u);
  EXPECT_FALSE(Find(s3.plan, c)->sample);
  EXPECT_EQ(s3.num_decode_tokens, 2);
  EXPECT_EQ(s3.num_prefill_tokens, 14);
  ScheduledStep s4 = Step();
  EXPECT_EQ(Find(s4.plan, c)->start_position, 14);
}

TEST_F(SchedulerTest, MaxNumSeqsLimitsTheRunningSet) {
  Init(Config(/*full=*/64, /*sliding=*/64, /*window=*/8, /*budget=*/64, /*max_seqs=*/2));
  const SequenceId a = Add(Request(3, /*max_tokens=*/2));
  const SequenceId b = Add(Request(3, /*max_tokens=*/5));
  const SequenceId c = Add(Request(3));
  EXPECT_THAT(Ids(Step().plan), ElementsAre(a, b));
  EXPECT_THAT(Ids(Step().plan), ElementsAre(a, b));  // a finishes (2 tokens)
  EXPECT_THAT(Ids(Step().plan), ElementsAre(b, c));  // c takes a's seat
  EXPECT_EQ(scheduler_->stats().num_running, 2);
}

TEST_F(SchedulerTest, HigherPriorityFirstThenFirstComeFirstServed) {
  Init(Config(/*full=*/64, /*sliding=*/64, /*window=*/8, /*budget=*/64, /*max_seqs=*/1));
  const SequenceId low = Add(Request(3, 1, /*priority=*/-1));
  const SequenceId mid1 = Add(Request(3, 1, /*priority=*/0));
  const SequenceId high = Add(Request(3, 1, /*priority=*/5));
  const SequenceId mid2 = Add(Request(3, 1, /*priority=*/0));
  std::vector<SequenceId> order;
  for (int i = 0; i < 4; ++i) {
    ScheduledStep s = Step();
    ASSERT_EQ(s.plan.sequences.size(), 1u);
    order.push_back(s.plan.sequences[0].sequence_id);
  }
  EXPECT_THAT(order, ElementsAre(high, mid1, mid2, low));
}

TEST_F(SchedulerTest, HeadOfLineBlocksSmallerRequestsBehindIt) {
  // 10 full blocks (40 tokens). a holds 6 of them; big needs 5 and must wait even though the
  // small request behind it would fit.
  Init(Config(/*full=*/10, /*sliding=*/64, /*window=*/8, /*budget=*/64));
  const SequenceId a = Add(Request(24, /*max_tokens=*/3));
  Step();
  const SequenceId big = Add(Request(20));
  const SequenceId small = Add(Request(2));
  ScheduledStep s = Step();
  EXPECT_THAT(Ids(s.plan), ElementsAre(a));
  Step();  // a finishes, its blocks come back
  s = Step();
  EXPECT_THAT(Ids(s.plan), ElementsAre(big, small));
}

// A waiting sequence is admitted only once its whole prefill fits, not merely its first chunk
// (otherwise it would be the first victim and be evicted mid-prefill).
TEST_F(SchedulerTest, AdmissionWaitsUntilTheWholePrefillFits) {
  Init(Config(/*full=*/16, /*sliding=*/64, /*window=*/8, /*budget=*/8));
  const SequenceId a = Add(Request(8, /*max_tokens=*/4));  // 2 blocks, 3 once decoding
  Step();
  const SequenceId b = Add(Request(56));  // 14 blocks; its first chunk (8 tokens) would fit
  for (int i = 0; i < 3; ++i) {
    ScheduledStep s = Step();
    EXPECT_THAT(Ids(s.plan), ElementsAre(a)) << "step " << i;
  }
  ScheduledStep s = Step();  // a finished: b starts
  EXPECT_THAT(Ids(s.plan), ElementsAre(b));
  EXPECT_EQ(s.plan.sequences[0].token_ids.size(), 8u);
}

// Preemption by recompute: when blocks run out, the lowest-priority latest arrival loses its
// blocks, keeps its tokens, and is prefilled again (from position 0, prompt + output) later,
// producing the same tokens as if it had never been preempted.
TEST_F(SchedulerTest, PreemptionByRecomputeAndResume) {
  // 6 full blocks of 4 = 24 token slots.
  Init(Config(/*full=*/6, /*sliding=*/64, /*window=*/8, /*budget=*/64));
  const SequenceId a = Add(Request(8, /*max_tokens=*/12));
  const SequenceId b = Add(Request(8, /*max_tokens=*/12));
  std::vector<SequenceId> preempted;
  std::map<SequenceId, std::vector<int32_t>> outputs;
  StepPlan resume_plan;
  bool resumed = false;
  for (int i = 0; i < 60 && !scheduler_->idle(); ++i) {
    std::vector<SequenceUpdate> updates;
    ScheduledStep s = Step(&updates);
    for (SequenceId p : s.preempted) {
      preempted.push_back(p);
      // Workers are told to drop the preempted sequence's state.
      EXPECT_THAT(s.plan.free_sequence_ids, ::testing::Contains(p));
      EXPECT_EQ(scheduler_->Find(p)->full_blocks.size(), 0u);
      EXPECT_EQ(scheduler_->Find(p)->num_computed, 0);
    }
    if (!preempted.empty() && !resumed) {
      if (const SequenceStep* r = Find(s.plan, preempted[0])) {
        resumed = true;
        resume_plan = s.plan;
        EXPECT_EQ(r->start_position, 0);
        EXPECT_GT(r->token_ids.size(), 8u);  // prompt plus the output so far
        EXPECT_EQ(r->sample_index, r->token_ids.size() - 8);
        EXPECT_TRUE(r->sample);
      }
    }
    for (const auto& u : updates) outputs[u.id].push_back(u.token_id);
  }
  ASSERT_THAT(preempted, ElementsAre(b));  // b arrived later
  EXPECT_TRUE(resumed);
  EXPECT_EQ(outputs[a].size(), 12u);
  EXPECT_EQ(outputs[b].size(), 12u);
  // Same tokens as an uncontended run.
  Init(Config(/*full=*/64, /*sliding=*/64, /*window=*/8, /*budget=*/64));
  const SequenceId solo = Add(Request(8, 12));
  std::vector<int32_t> solo_out;
  while (!scheduler_->idle()) {
    std::vector<SequenceUpdate> u;
    Step(&u);
    for (const auto& x : u)
      if (x.id == solo) solo_out.push_back(x.token_id);
  }
  EXPECT_EQ(outputs[b], solo_out);
  EXPECT_EQ(outputs[a], solo_out);
  EXPECT_EQ(scheduler_->stats().num_preemptions, 0u);
}

TEST_F(SchedulerTest, VictimIsLowestPriorityEvenIfEarlier) {
  Init(Config(/*full=*/6, /*sliding=*/64, /*window=*/8, /*budget=*/64));
  const SequenceId low = Add(Request(8, /*max_tokens=*/12, /*priority=*/-1));
  const SequenceId high = Add(Request(8, /*max_tokens=*/12, /*priority=*/1));
  std::vector<SequenceId> preempted;
  while (!scheduler_->idle()) {
    ScheduledStep s = Step();
    preempted.insert(preempted.end(), s.preempted.begin(), s.preempted.end());
  }
  EXPECT_THAT(preempted, ::testing::Each(low));
  EXPECT_FALSE(preempted.empty());
  (void)high;
}

// With three running sequences the victim is the last in order, not merely one that runs later.
TEST_F(SchedulerTest, VictimIsTheLastOfSeveral) {
  Init(Config(/*full=*/9, /*sliding=*/64, /*window=*/8, /*budget=*/64));
  // Each takes 3 blocks; only a's first decode (position 12) needs a 4th.
  const SequenceId a = Add(Request(12, /*max_tokens=*/4, /*priority=*/2));
  const SequenceId b = Add(Request(9, /*max_tokens=*/2, /*priority=*/1));
  const SequenceId c = Add(Request(9, /*max_tokens=*/2, /*priority=*/0));
  EXPECT_THAT(Ids(Step().plan), ElementsAre(a, b, c));
  ScheduledStep s = Step();
  EXPECT_THAT(s.preempted, ElementsAre(c));
  EXPECT_THAT(Ids(s.plan), ElementsAre(a, b));
}

TEST_F(SchedulerTest, LastSequencePreemptsItselfWhenItCannotGrow) {
  Init(Config(/*full=*/6, /*sliding=*/64, /*window=*/8, /*budget=*/64));
  // a (3 blocks) can decode positions 9..11 in place; b's first decode needs a 4th block.
  const SequenceId a = Add(Request(9, /*max_tokens=*/20, /*priority=*/2));
  const SequenceId b = Add(Request(12, /*max_tokens=*/20, /*priority=*/1));
  ScheduledStep first_preemption;
  while (!scheduler_->idle()) {
    ScheduledStep s = Step();
    if (!s.preempted.empty()) {
      first_preemption = s;
      break;
    }
  }
  // b could not grow and is the last in order: it yields, a keeps running in the same step.
  EXPECT_THAT(first_preemption.preempted, ElementsAre(b));
  EXPECT_THAT(Ids(first_preemption.plan), ElementsAre(a));
}

// A tiny sliding pool (exactly one window's worth) still lets a sequence decode far beyond the
// window: blocks are released as the window moves.
TEST_F(SchedulerTest, SlidingPoolHoldsOnlyTheWindow) {
  const int bs = 4, window = 8;
  const int bound = KvBlockManager::SlidingBlocksForDecode(window, bs);  // 3
  Init(Config(/*full=*/64, bound, window, /*budget=*/64));
  const SequenceId id = Add(Request(4, /*max_tokens=*/100));
  int steps = 0;
  while (!scheduler_->idle()) {
    ScheduledStep s = Step();
    ++steps;
    EXPECT_THAT(s.preempted, IsEmpty());
    for (const auto& seq : s.plan.sequences) {
      const int live = static_cast<int>(std::count_if(seq.sliding_block_table.begin(),
                                                      seq.sliding_block_table.end(),
                                                      [](int b) { return b >= 0; }));
      EXPECT_LE(live, bound);
      // The full table keeps every block.
      EXPECT_THAT(seq.full_block_table, ::testing::Each(::testing::Ge(0)));
    }
    EXPECT_LE(scheduler_->stats().free_sliding_blocks, bound);
  }
  EXPECT_EQ(steps, 101);
  EXPECT_EQ(scheduler_->stats().free_sliding_blocks, bound);
  EXPECT_EQ(scheduler_->stats().free_full_blocks, 64);
  (void)id;
}

TEST_F(SchedulerTest, CancellationFreesBlocksAtTheNextStep) {
  Init(Config(/*full=*/64, /*sliding=*/64, /*window=*/8, /*budget=*/64));
  const SequenceId a = Add(Request(10));
  const SequenceId b = Add(Request(10));
  Step();
  const int free_before = scheduler_->stats().free_full_blocks;
  ASSERT_TRUE(scheduler_->Cancel(a).ok());
  EXPECT_EQ(scheduler_->stats().free_full_blocks, free_before);  // not yet
  ScheduledStep s = Step();
  ASSERT_EQ(s.finished.size(), 1u);
  EXPECT_EQ(s.finished[0].id, a);
  EXPECT_EQ(s.finished[0].reason, FinishReason::kCancelled);
  EXPECT_THAT(s.plan.free_sequence_ids, ElementsAre(a));
  EXPECT_THAT(Ids(s.plan), ElementsAre(b));
  EXPECT_EQ(scheduler_->stats().free_full_blocks, free_before + 3);
  EXPECT_EQ(scheduler_->Find(a), nullptr);
  EXPECT_EQ(scheduler_->Cancel(a).code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, CancelDuringAnInFlightStepDropsItsToken) {
  Init(Config());
  const SequenceId a = Add(Request(4));
  auto step = scheduler_->Schedule();
  ASSERT_TRUE(step.ok());
  ASSERT_TRUE(scheduler_->Cancel(a).ok());
  auto result = model_->Run(step->plan);
  ASSERT_TRUE(result.ok());
  auto updates = scheduler_->OnStepResult(*result);
  ASSERT_TRUE(updates.ok());
  EXPECT_THAT(*updates, IsEmpty());
  ScheduledStep next = Step();
  EXPECT_TRUE(next.plan.sequences.empty());
  EXPECT_EQ(next.finished.size(), 1u);
  EXPECT_TRUE(scheduler_->idle() || !next.plan.free_sequence_ids.empty());
  EXPECT_EQ(scheduler_->stats().free_full_blocks, 64);
}

TEST_F(SchedulerTest, CancelWhileWaiting) {
  Init(Config(/*full=*/64, /*sliding=*/64, /*window=*/8, /*budget=*/64, /*max_seqs=*/1));
  const SequenceId a = Add(Request(4));
  const SequenceId b = Add(Request(4));
  Step();
  ASSERT_TRUE(scheduler_->Cancel(b).ok());
  ScheduledStep s = Step();
  ASSERT_EQ(s.finished.size(), 1u);
  EXPECT_EQ(s.finished[0].id, b);
  EXPECT_THAT(Ids(s.plan), ElementsAre(a));
  EXPECT_EQ(scheduler_->stats().num_waiting, 0);
}

TEST_F(SchedulerTest, StopConditions) {
  Init(Config(/*full=*/8));  // context capped by the pool: 8*4 + 1 = 33 tokens
  SequenceRequest with_stop = Request(4);
  // The fake model's first token after this prompt:
  with_stop.stop_token_ids = {testing::FakeNextToken(4, 3, kVocab)};
  const SequenceId stop = Add(with_stop);
  const SequenceId len = Add(Request(4, /*max_tokens=*/3));
  const SequenceId ctx = Add(Request(30));
  std::map<SequenceId, std::vector<SequenceUpdate>> updates;
  for (int i = 0; i < 10; ++i) {
    std::vector<SequenceUpdate> u;
    Step(&u);
    for (auto& x : u) updates[x.id].push_back(x);
  }
  ASSERT_EQ(updates[stop].size(), 1u);
  EXPECT_EQ(updates[stop][0].finish, FinishReason::kStop);
  ASSERT_EQ(updates[len].size(), 3u);
  EXPECT_EQ(updates[len][2].finish, FinishReason::kLength);
  EXPECT_EQ(updates[len][2].num_output, 3);
  // The pool caps the context at 33 tokens: 3 completion tokens for a 30-token prompt.
  ASSERT_EQ(updates[ctx].size(), 3u);
  EXPECT_EQ(updates[ctx][2].finish, FinishReason::kLength);
  EXPECT_TRUE(scheduler_->idle() || scheduler_->stats().num_running == 0);
}

TEST_F(SchedulerTest, FinishOnRequestIsReported) {
  Init(Config());
  const SequenceId a = Add(Request(4));
  Step();
  ASSERT_TRUE(scheduler_->Finish(a, FinishReason::kStop).ok());
  ASSERT_TRUE(scheduler_->Cancel(a).ok());  // first reason wins
  ScheduledStep s = Step();
  ASSERT_EQ(s.finished.size(), 1u);
  EXPECT_EQ(s.finished[0].reason, FinishReason::kStop);
}

TEST_F(SchedulerTest, MismatchedResultsAreRejectedWithoutChange) {
  Init(Config());
  const SequenceId a = Add(Request(4));
  Add(Request(4));
  auto step = scheduler_->Schedule();
  ASSERT_TRUE(step.ok());
  auto second = scheduler_->Schedule();  // overlap: planned before the first's result
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(scheduler_->Schedule().status().code(), absl::StatusCode::kFailedPrecondition);
  auto good = model_->Run(step->plan);
  ASSERT_TRUE(good.ok());

  StepResult r = *good;
  r.step_id += 1;
  EXPECT_EQ(scheduler_->OnStepResult(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = *good;
  r.results.pop_back();
  EXPECT_EQ(scheduler_->OnStepResult(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = *good;
  std::swap(r.results[0], r.results[1]);
  EXPECT_EQ(scheduler_->OnStepResult(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = *good;
  r.results[0].token_id = kVocab;
  EXPECT_EQ(scheduler_->OnStepResult(r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler_->Find(a)->tokens.size(), 4u);
  auto ok = scheduler_->OnStepResult(*good);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 2u);
  // The second step is the oldest in flight now: the first's result again does not answer it.
  EXPECT_EQ(scheduler_->OnStepResult(*good).status().code(), absl::StatusCode::kInvalidArgument);
  auto next = model_->Run(second->plan);
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(scheduler_->OnStepResult(*next).ok());
  EXPECT_EQ(scheduler_->OnStepResult(*next).status().code(), absl::StatusCode::kFailedPrecondition);
}

// Overlap: with step 1 in flight, step 2 continues every sampling sequence with the token the
// workers sampled in step 1 (kLastSampled), one sample index further, and a sequence whose
// token in flight already reaches max_tokens sits out.
TEST_F(SchedulerTest, OverlapFeedsTheTokenInFlight) {
  Init(Config());
  const SequenceId a = Add(Request(4, /*max_tokens=*/3));
  auto s1 = scheduler_->Schedule();
  ASSERT_TRUE(s1.ok());
  auto s2 = scheduler_->Schedule();
  ASSERT_TRUE(s2.ok());
  ASSERT_EQ(s2->plan.sequences.size(), 1u);
  const SequenceStep& e = s2->plan.sequences[0];
  EXPECT_EQ(e.sequence_id, a);
  EXPECT_THAT(e.token_ids, ElementsAre(kLastSampled));
  EXPECT_EQ(e.start_position, 4);
  EXPECT_TRUE(e.sample);
  EXPECT_EQ(e.sample_index, 1u);
  EXPECT_EQ(s2->num_decode_tokens, 1);
  EXPECT_EQ(scheduler_->Find(a)->tokens.size(), 4u);  // nothing is known yet
  EXPECT_EQ(scheduler_->Schedule().status().code(), absl::StatusCode::kFailedPrecondition);

  auto collect = [&](const StepPlan& plan) {
    auto result = model_->Run(plan);
    EXPECT_TRUE(result.ok()) << result.status();
    auto u = scheduler_->OnStepResult(*result);
    EXPECT_TRUE(u.ok()) << u.status();
    return u.ok() ? *u : std::vector<SequenceUpdate>{};
  };
  std::vector<SequenceUpdate> u = collect(s1->plan);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].num_output, 1);
  auto s3 = scheduler_->Schedule();  // token 3 of 3: the last one
  ASSERT_TRUE(s3.ok());
  ASSERT_EQ(s3->plan.sequences.size(), 1u);
  EXPECT_EQ(s3->plan.sequences[0].sample_index, 2u);
  EXPECT_EQ(s3->plan.sequences[0].start_position, 5);
  u = collect(s2->plan);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].finish, FinishReason::kNone);
  auto s4 = scheduler_->Schedule();  // the token in flight is the last: nothing more to run
  ASSERT_TRUE(s4.ok());
  EXPECT_TRUE(s4->plan.sequences.empty());
  u = collect(s3->plan);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].finish, FinishReason::kLength);
  EXPECT_EQ(u[0].num_output, 3);
  EXPECT_EQ(model_->fed_back(), 2);
  EXPECT_EQ(scheduler_->stats().free_full_blocks, 64);
}

// A stop token comes back while the next step (which fed it back) is in flight: the sequence
// ends at the stop, that next step's token for it is dropped, and its blocks come back.
TEST_F(SchedulerTest, OverlapDropsTheTokenAfterAStop) {
  Init(Config());
  SequenceRequest r = Request(4);
  r.stop_token_ids = {testing::FakeNextToken(4, 3, kVocab)};  // its first completion token
  const SequenceId a = Add(r);
  const SequenceId b = Add(Request(4, /*max_tokens=*/5));
  auto s1 = scheduler_->Schedule();
  auto s2 = scheduler_->Schedule();
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_THAT(Ids(s2->plan), ElementsAre(a, b));
  auto r1 = model_->Run(s1->plan);
  ASSERT_TRUE(r1.ok());
  auto u1 = scheduler_->OnStepResult(*r1);
  ASSERT_TRUE(u1.ok());
  ASSERT_EQ(u1->size(), 2u);
  EXPECT_EQ((*u1)[0].id, a);
  EXPECT_EQ((*u1)[0].finish, FinishReason::kStop);
  EXPECT_EQ(scheduler_->Find(a), nullptr);
  auto s3 = scheduler_->Schedule();
  ASSERT_TRUE(s3.ok());
  EXPECT_THAT(Ids(s3->plan), ElementsAre(b));
  EXPECT_THAT(s3->plan.free_sequence_ids, ElementsAre(a));
  auto r2 = model_->Run(s2->plan);
  ASSERT_TRUE(r2.ok());
  auto u2 = scheduler_->OnStepResult(*r2);
  ASSERT_TRUE(u2.ok());
  ASSERT_EQ(u2->size(), 1u);  // a's extra token is not an update
  EXPECT_EQ((*u2)[0].id, b);
}

TEST_F(SchedulerTest, AbortStepFailsEverySequenceInIt) {
  Init(Config(/*full=*/64, /*sliding=*/64, /*window=*/8, /*budget=*/64, /*max_seqs=*/2));
  const SequenceId a = Add(Request(4));
  const SequenceId b = Add(Request(4));
  const SequenceId c = Add(Request(4));  // waiting, not in the step
  auto step = scheduler_->Schedule();
  ASSERT_TRUE(step.ok());
  // Only the oldest step in flight can be aborted, by its id.
  EXPECT_TRUE(scheduler_->AbortStep(step->plan.step_id + 1, absl::InternalError("no")).empty());
  std::vector<FinishedSequence> f =
      scheduler_->AbortStep(step->plan.step_id, absl::UnavailableError("rank 1 died"));
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].id, a);
  EXPECT_EQ(f[1].id, b);
  EXPECT_EQ(f[0].reason, FinishReason::kError);
  EXPECT_EQ(f[0].message, "rank 1 died");
  EXPECT_FALSE(scheduler_->step_in_flight());
  ScheduledStep s = Step();
  EXPECT_THAT(Ids(s.plan), ElementsAre(c));
  EXPECT_THAT(s.plan.free_sequence_ids, ElementsAre(a, b));
}

TEST_F(SchedulerTest, ClockStampsArrivalAndFirstToken) {
  Init(Config());
  clock_.Advance(absl::Seconds(5));
  const SequenceId a = Add(Request(4));
  EXPECT_EQ(scheduler_->Find(a)->arrival_time, absl::UnixEpoch() + absl::Seconds(5));
  clock_.Advance(absl::Seconds(2));
  Step();
  EXPECT_EQ(scheduler_->Find(a)->first_token_time, absl::UnixEpoch() + absl::Seconds(7));
}

// Random traffic against small pools: every plan must pass the fake KV model's ownership
// checks, every sequence must finish with exactly its requested tokens, and the output must
// not depend on batching or preemption.
// With overlap (two steps in flight, answered in order as workers do) the same holds: blocks
// freed under a step in flight are only reused by later plans, and a stop found a step late
// changes nothing in what is delivered.
TEST_F(SchedulerTest, RandomTrafficKeepsInvariants) {
  for (bool overlap : {false, true}) RandomTraffic(overlap);
}

void SchedulerTest::RandomTraffic(bool overlap) {
  SCOPED_TRACE(overlap ? "overlap" : "one step at a time");
  std::mt19937 rng(1234);
  int stops = 0;
  for (int round = 0; round < 4; ++round) {
    SchedulerConfig c = Config(/*full=*/24, /*sliding=*/12, /*window=*/8,
                               /*budget=*/round % 2 ? 7 : 40, /*max_seqs=*/5);
    c.max_waiting = 64;
    Init(c);
    std::map<SequenceId, SequenceRequest> requests;
    std::map<SequenceId, std::vector<int32_t>> outputs;
    std::set<SequenceId> done, cancelled;
    int added = 0;
    in_flight_.clear();
    for (int step = 0; step < 3000 && (added < 40 || !scheduler_->idle() || !in_flight_.empty());
         ++step) {
      if (added < 40 && rng() % 3 == 0) {
        SequenceRequest r =
            Request(1 + rng() % 30, 1 + rng() % 30, static_cast<int>(rng() % 3) - 1);
        for (auto& t : r.prompt) t = rng() % kVocab;
        for (int k = 0; k < 20; ++k) r.stop_token_ids.push_back(rng() % kVocab);
        const SequenceId id = Add(r);
        requests[id] = r;
        ++added;
      }
      if (!requests.empty() && rng() % 40 == 0) {
        auto it = requests.begin();
        std::advance(it, rng() % requests.size());
        if (!done.count(it->first) && scheduler_->Cancel(it->first).ok())
          cancelled.insert(it->first);
      }
      std::vector<SequenceUpdate> updates;
      ScheduledStep s = overlap ? OverlappedStep(&updates) : Step(&updates);
      if (HasFailure()) return;
      for (const auto& f : s.finished) done.insert(f.id);
      for (const auto& u : updates) {
        outputs[u.id].push_back(u.token_id);
        if (u.finish != FinishReason::kNone) done.insert(u.id);
      }
      const SchedulerStats st = scheduler_->stats();
      EXPECT_LE(st.num_running, c.max_num_seqs);
      EXPECT_GE(st.free_full_blocks, 0);
    }
    ASSERT_TRUE(scheduler_->idle()) << "round " << round;
    EXPECT_EQ(scheduler_->stats().free_full_blocks, 24);
    EXPECT_EQ(scheduler_->stats().free_sliding_blocks, 12);
    for (const auto& [id, r] : requests) {
      ASSERT_TRUE(done.count(id)) << id;
      std::vector<int32_t> expected;
      int32_t last = r.prompt.back();
      int pos = static_cast<int>(r.prompt.size()) - 1;
      const int max_new =
          std::min(r.max_tokens, c.EffectiveMaxLen() - static_cast<int>(r.prompt.size()));
      const std::vector<int32_t>& got = outputs[id];
      bool stopped = false;
      for (size_t k = 0; k < got.size(); ++k) {
        last = testing::FakeNextToken(last, pos++, kVocab);
        expected.push_back(last);
        stopped = std::count(r.stop_token_ids.begin(), r.stop_token_ids.end(), last) > 0;
        if (stopped) break;
      }
      EXPECT_EQ(got, expected) << "sequence " << id;
      if (!cancelled.count(id) && !stopped) {
        EXPECT_EQ(static_cast<int>(got.size()), max_new) << id;
      }
      stops += stopped;
    }
    EXPECT_GT(scheduler_->stats().num_preemptions, 0u) << "round " << round;
  }
  EXPECT_GT(stops, 10);
  if (overlap) {
    EXPECT_GT(model_->fed_back(), 100);
  } else {
    EXPECT_EQ(model_->fed_back(), 0);
  }
}

}  // namespace
}  // namespace gptoss
