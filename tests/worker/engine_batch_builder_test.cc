// BuildStepBatch: the ragged layout of a plan, and rejection of every plan that could make a
// kernel read or write out of bounds.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/step_batch_builder.h"

namespace gptoss {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

StepLimits Limits() {
  StepLimits l;
  l.vocab_size = 100;
  l.max_positions = 64;
  l.block_size = 4;
  l.num_full_blocks = 16;
  l.num_sliding_blocks = 8;
  l.sliding_window = 4;
  return l;
}

SequenceStep Seq(SequenceId id, std::vector<int32_t> tokens, int start, std::vector<int32_t> full,
                 std::vector<int32_t> sliding, bool sample) {
  SequenceStep s;
  s.sequence_id = id;
  s.token_ids = std::move(tokens);
  s.start_position = start;
  s.prompt_len = start + static_cast<int>(s.token_ids.size());
  s.full_block_table = std::move(full);
  s.sliding_block_table = std::move(sliding);
  s.sample = sample;
  return s;
}

TEST(EngineBatchBuilderTest, LaysOutARaggedBatch) {
  StepPlan plan;
  plan.step_id = 7;
  // Sequence 1: prefill chunk of 5 at position 0 (blocks 0,1), not sampling.
  plan.sequences.push_back(Seq(1, {10, 11, 12, 13, 14}, 0, {3, 5}, {2, 6}, false));
  // Sequence 2: decode at position 9: window 4 → keys 6..9, block 1 onward needed; block 0
  // released.
  plan.sequences.push_back(Seq(2, {42}, 9, {0, 1, 7}, {-1, 1, 4}, true));
  auto b = BuildStepBatch(plan, Limits());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->num_seqs, 2);
  EXPECT_EQ(b->num_tokens, 6);
  EXPECT_EQ(b->max_context_len, 10);
  EXPECT_THAT(b->token_ids, ElementsAre(10, 11, 12, 13, 14, 42));
  EXPECT_THAT(b->positions, ElementsAre(0, 1, 2, 3, 4, 9));
  EXPECT_THAT(b->query_start, ElementsAre(0, 5, 6));
  EXPECT_THAT(b->context_len, ElementsAre(5, 10));
  EXPECT_EQ(b->full_table_width, 3);
  EXPECT_THAT(b->full_block_tables, ElementsAre(3, 5, -1, 0, 1, 7));
  EXPECT_THAT(b->sliding_block_tables, ElementsAre(2, 6, -1, -1, 1, 4));
  // slot = block * 4 + position % 4
  EXPECT_THAT(b->full_slots, ElementsAre(12, 13, 14, 15, 20, 29));
  EXPECT_THAT(b->sliding_slots, ElementsAre(8, 9, 10, 11, 24, 17));
  EXPECT_THAT(b->logit_rows, ElementsAre(5));
  EXPECT_THAT(b->sampled, ElementsAre(1));
}

TEST(EngineBatchBuilderTest, EmptyPlanIsEmptyBatch) {
  auto b = BuildStepBatch(StepPlan(), Limits());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->num_tokens, 0);
  EXPECT_THAT(b->query_start, ElementsAre(0));
}

void ExpectRejected(const StepPlan& plan, const std::string& what) {
  auto b = BuildStepBatch(plan, Limits());
  ASSERT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << what;
  EXPECT_THAT(b.status().message(), HasSubstr(what));
}

TEST(EngineBatchBuilderTest, RejectsMalformedPlans) {
  StepPlan p;
  p.sequences = {Seq(1, {1}, 0, {0}, {0}, true), Seq(1, {1}, 0, {1}, {1}, true)};
  ExpectRejected(p, "appears twice");
  p.sequences = {Seq(1, {}, 0, {0}, {0}, true)};
  ExpectRejected(p, "no new tokens");
  p.sequences = {Seq(1, {1, 100}, 0, {0}, {0}, true)};
  ExpectRejected(p, "token 1 has id 100");
  p.sequences = {Seq(1, {-3}, 0, {0}, {0}, true)};
  ExpectRejected(p, "has id -3");
  p.sequences = {
      Seq(1, {1, 2}, 63, std::vector<int32_t>(16, 0), std::vector<int32_t>(16, 0), true)};
  ExpectRejected(p, "not within the context of 64");
  p.sequences = {Seq(1, {1}, -1, {0}, {0}, true)};
  ExpectRejected(p, "positions [-1");
  p.sequences = {Seq(1, {1, 2, 3, 4, 5}, 0, {0}, {0, 1}, true)};
  ExpectRejected(p, "full block table has 1 entries");
  p.sequences = {Seq(1, {1}, 0, {16}, {0}, true)};
  ExpectRejected(p, "full block table entry 0 is 16");
  p.sequences = {Seq(1, {1}, 4, {-1, 2}, {0, 1}, true)};
  ExpectRejected(p, "full block table entry 0 is -1");
  // Sliding: position 5 with window 4 sees keys 2..5, so block 0 is still needed.
  p.sequences = {Seq(1, {1}, 5, {0, 1}, {-1, 1}, true)};
  ExpectRejected(p, "sliding block table entry 0 is -1");
  p.sequences = {Seq(1, {1}, 5, {0, 1}, {0, 8}, true)};
  ExpectRejected(p, "sliding block table entry 1 is 8");
  // Two sequences writing the same physical slot.
  p.sequences = {Seq(1, {1}, 0, {0}, {0}, true), Seq(2, {1}, 0, {0}, {1}, true)};
  ExpectRejected(p, "written twice");
  p.sequences = {Seq(1, {1}, 0, {0}, {0}, true), Seq(2, {1}, 0, {1}, {0}, true)};
  ExpectRejected(p, "sliding KV slot 0");
  p.sequences = {Seq(1, {1}, 0, {0}, {0}, true)};
  p.sequences[0].prompt_len = -1;
  ExpectRejected(p, "prompt_len");
}

TEST(EngineBatchBuilderTest, RejectsBadSamplingOfSamplingSequencesOnly) {
  StepPlan p;
  p.sequences = {Seq(1, {1}, 0, {0}, {0}, true)};
  p.sequences[0].sampling.top_p = 0.0f;
  ExpectRejected(p, "sampling.top_p");
  p.sequences[0].sample = false;  // not sampled: not checked
  EXPECT_TRUE(BuildStepBatch(p, Limits()).ok());
  p.sequences[0].sample = true;
  p.sequences[0].sampling = StepSampling();
  p.sequences[0].sampling.temperature = std::numeric_limits<float>::quiet_NaN();
  ExpectRejected(p, "temperature");
  p.sequences[0].sampling = StepSampling();
  p.sequences[0].sampling.min_p = 1.5f;
  ExpectRejected(p, "min_p");
  p.sequences[0].sampling = StepSampling();
  p.sequences[0].sampling.top_k = -1;
  ExpectRejected(p, "top_k");
  p.sequences[0].sampling = StepSampling();
  p.sequences[0].sampling.repetition_penalty = 0.0f;
  ExpectRejected(p, "repetition_penalty");
  p.sequences[0].sampling = StepSampling();
  p.sequences[0].top_logprobs = 21;
  ExpectRejected(p, "top_logprobs");
}

TEST(EngineBatchBuilderTest, ModelWithoutSlidingLayersIgnoresSlidingTables) {
  StepLimits l = Limits();
  l.has_sliding_layers = false;
  StepPlan p;
  p.sequences = {Seq(1, {1, 2}, 0, {0}, {}, true)};
  auto b = BuildStepBatch(p, l);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(b->sliding_slots, ElementsAre(-1, -1));
  EXPECT_THAT(b->full_slots, ElementsAre(0, 1));
}

}  // namespace
}  // namespace gptoss
