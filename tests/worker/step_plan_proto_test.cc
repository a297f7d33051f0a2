// StepPlan / StepResult ⇄ proto (worker/common/step_plan_proto.h): round trips, and every malformed
// plan field rejected before anything is allocated.
#include "worker/common/step_plan_proto.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

StepPlan SamplePlan() {
  StepPlan plan;
  plan.step_id = 9;
  plan.free_sequence_ids = {3, 4};
  SequenceStep s;
  s.sequence_id = 5;
  s.token_ids = {10, 11, 12};
  s.start_position = 40;
  s.prompt_len = 30;
  s.full_block_table = {0, 1, 2};
  s.sliding_block_table = {-1, -1, 7, 8};
  s.sample = true;
  s.sampling = {0.7f, 0.9f, 40, 0.05f, 0.1f, 0.2f, 1.1f, 1234};
  s.sample_index = 10;
  s.logprobs = true;
  s.top_logprobs = 3;
  plan.sequences.push_back(s);
  return plan;
}

TEST(StepPlanProtoTest, PlanRoundTripsAndReleasedSlidingBlocksAreNotSent) {
  const StepPlan plan = SamplePlan();
  v1::StepPlan proto;
  ToProto(plan, &proto);
  EXPECT_EQ(proto.sequences(0).sliding_first_block(), 2u);
  EXPECT_EQ(proto.sequences(0).sliding_block_table_size(), 2);
  absl::StatusOr<StepPlan> back = StepPlanFromProto(proto, 4096);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->step_id, 9u);
  EXPECT_EQ(back->free_sequence_ids, plan.free_sequence_ids);
  const SequenceStep& a = plan.sequences[0];
  const SequenceStep& b = back->sequences[0];
  EXPECT_EQ(b.sequence_id, a.sequence_id);
  EXPECT_EQ(b.token_ids, a.token_ids);
  EXPECT_EQ(b.start_position, a.start_position);
  EXPECT_EQ(b.prompt_len, a.prompt_len);
  EXPECT_EQ(b.full_block_table, a.full_block_table);
  EXPECT_EQ(b.sliding_block_table, a.sliding_block_table);
  EXPECT_EQ(b.sample, a.sample);
  EXPECT_EQ(b.sampling.temperature, a.sampling.temperature);
  EXPECT_EQ(b.sampling.top_k, a.sampling.top_k);
  EXPECT_EQ(b.sampling.repetition_penalty, a.sampling.repetition_penalty);
  EXPECT_EQ(b.sampling.seed, a.sampling.seed);
  EXPECT_EQ(b.sample_index, a.sample_index);
  EXPECT_EQ(b.top_logprobs, a.top_logprobs);
}

TEST(StepPlanProtoTest, ResultRoundTrips) {
  StepResult r;
  r.step_id = 4;
  r.rank = 0;
  r.forward_time_s = 0.5;
  r.comm_time_s = 0.125;
  r.comm_bytes = 123456789012;
  r.results.push_back({5, 77, -0.25f, {{77, -0.25f}, {3, -2.0f}}});
  v1::StepResult proto;
  ToProto(r, &proto);
  StepResult back = StepResultFromProto(proto);
  EXPECT_EQ(back.step_id, 4u);
  EXPECT_EQ(back.forward_time_s, 0.5);
  EXPECT_EQ(back.comm_time_s, 0.125);
  EXPECT_EQ(back.comm_bytes, 123456789012u);
  ASSERT_EQ(back.results.size(), 1u);
  EXPECT_EQ(back.results[0].token_id, 77);
  EXPECT_EQ(back.results[0].top_logprobs, r.results[0].top_logprobs);
}

TEST(StepPlanProtoTest, MalformedPlansNameTheField) {
  struct Case {
    const char* field;
    std::function<void(v1::SequenceStep&)> mutate;
  };
  const std::vector<Case> cases = {
      {"token_ids", [](auto& s) { s.clear_token_ids(); }},
      {"start_position", [](auto& s) { s.set_start_position(4095); }},
      {"start_position", [](auto& s) { s.set_start_position(0xFFFFFFFFu); }},
      {"prompt_len", [](auto& s) { s.set_prompt_len(5000); }},
      {"sliding_first_block", [](auto& s) { s.set_sliding_first_block(0xFFFFFFF0u); }},
      {"top_logprobs", [](auto& s) { s.set_top_logprobs(21); }},
      {"sampling.top_k", [](auto& s) { s.mutable_sampling()->set_top_k(0x80000000u); }},
  };
  for (const Case& c : cases) {
    v1::StepPlan proto;
    ToProto(SamplePlan(), &proto);
    c.mutate(*proto.mutable_sequences(0));
    absl::StatusOr<StepPlan> plan = StepPlanFromProto(proto, 4096);
    ASSERT_FALSE(plan.ok()) << c.field;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(plan.status().message(), HasSubstr(std::string(c.field) + ":"));
  }
}

}  // namespace
}  // namespace gptoss
