// Incremental plans (worker/common/step_plan_delta.h): whatever a stream's plans are, the decoder
// rebuilds each exactly; later steps carry only the new table entries; contradicting entries are
// refused without touching the decoder's state.
#include "worker/common/step_plan_delta.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/common/step_plan_proto.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

SequenceStep Seq(SequenceId id, std::vector<int32_t> tokens, int start,
                 std::vector<int32_t> full, std::vector<int32_t> sliding, uint64_t seed) {
  SequenceStep s;
  s.sequence_id = id;
  s.token_ids = std::move(tokens);
  s.start_position = start;
  s.prompt_len = 8;
  s.full_block_table = std::move(full);
  s.sliding_block_table = std::move(sliding);
  s.sample = true;
  s.sampling = {0.5f, 0.9f, 7, 0.0f, 0.1f, 0.0f, 1.0f, seed};
  s.sample_index = static_cast<uint64_t>(start);
  s.logprobs = seed % 2 == 1;
  s.top_logprobs = s.logprobs ? 3 : 0;
  return s;
}

void ExpectSame(const StepPlan& a, const StepPlan& b) {
  EXPECT_EQ(a.step_id, b.step_id);
  EXPECT_EQ(a.free_sequence_ids, b.free_sequence_ids);
  ASSERT_EQ(a.sequences.size(), b.sequences.size());
  for (size_t i = 0; i < a.sequences.size(); ++i) {
    const SequenceStep &x = a.sequences[i], &y = b.sequences[i];
    EXPECT_EQ(x.sequence_id, y.sequence_id);
    EXPECT_EQ(x.token_ids, y.token_ids);
    EXPECT_EQ(x.start_position, y.start_position);
    EXPECT_EQ(x.prompt_len, y.prompt_len);
    EXPECT_EQ(x.full_block_table, y.full_block_table) << "sequence " << x.sequence_id;
    EXPECT_EQ(x.sliding_block_table, y.sliding_block_table);
    EXPECT_EQ(x.sample, y.sample);
    EXPECT_EQ(x.sample_index, y.sample_index);
    EXPECT_EQ(x.sampling.seed, y.sampling.seed);
    EXPECT_EQ(x.sampling.temperature, y.sampling.temperature);
    EXPECT_EQ(x.sampling.top_k, y.sampling.top_k);
    EXPECT_EQ(x.sampling.presence_penalty, y.sampling.presence_penalty);
    EXPECT_EQ(x.logprobs, y.logprobs);
    EXPECT_EQ(x.top_logprobs, y.top_logprobs);
  }
}

TEST(StepPlanDeltaTest, TheDecoderRebuildsEveryPlanOfAStream) {
  std::vector<StepPlan> plans(5);
  plans[0].step_id = 1;  // two prefills
  plans[0].sequences = {Seq(1, {1, 2, 3, 4, 5, 6, 7, 8}, 0, {5, 6}, {1, 2}, 7),
                        Seq(2, {9, 9, 9}, 0, {9}, {3}, 8)};
  plans[1].step_id = 2;  // decodes: one grows a block, the sliding window releases one
  plans[1].sequences = {Seq(1, {10}, 8, {5, 6, 7}, {-1, 2, 4}, 7), Seq(2, {11}, 3, {9}, {3}, 8)};
  plans[2].step_id = 3;  // a free, a newcomer, a decode with nothing new in its table
  plans[2].free_sequence_ids = {2};
  plans[2].sequences = {Seq(1, {12}, 9, {5, 6, 7}, {-1, 2, 4}, 7), Seq(3, {1}, 0, {0}, {0}, 9)};
  plans[3].step_id = 4;  // sequence 1 preempted and recomputed from 0 on other blocks
  plans[3].sequences = {Seq(1, {1, 2, 3}, 0, {8}, {5}, 7), Seq(3, {2}, 1, {0}, {0}, 9)};
  plans[4].step_id = 5;  // the id 2 comes back as a new sequence
  plans[4].sequences = {Seq(2, {4, 4}, 0, {1}, {6}, 11), Seq(1, {4}, 3, {8, 10}, {5, 7}, 7)};
  StepPlanEncoder encoder;
  StepPlanDecoder decoder;
  for (const StepPlan& plan : plans) {
    v1::StepPlan proto;
    encoder.Encode(plan, &proto);
    absl::StatusOr<StepPlan> back = decoder.Decode(proto, 4096);
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSame(plan, *back);
  }
  // What went over the wire: step 2's sequence 1 carried one new block and no sampling.
  StepPlanEncoder again;
  v1::StepPlan first, second;
  again.Encode(plans[0], &first);
  again.Encode(plans[1], &second);
  EXPECT_EQ(second.sequences(0).full_table_from(), 2u);
  EXPECT_EQ(second.sequences(0).full_block_table_size(), 1);
  EXPECT_TRUE(second.sequences(0).sampling_unchanged());
  EXPECT_FALSE(second.sequences(0).has_sampling());
  EXPECT_EQ(first.sequences(0).full_table_from(), 0u);
  EXPECT_FALSE(first.sequences(0).sampling_unchanged());
}

// Should a live sequence's table ever change other than by growing (the scheduler never does
// this today), the encoder sends it whole again and the decoder takes it.
TEST(StepPlanDeltaTest, AChangedTableIsSentWholeAndAccepted) {
  StepPlan p1, p2;
  p1.step_id = 1;
  p1.sequences = {Seq(1, {1, 2, 3, 4, 5, 6, 7, 8}, 0, {5, 6}, {1}, 3)};
  p2.step_id = 2;
  p2.sequences = {Seq(1, {9}, 8, {5, 9, 7}, {1}, 3)};  // block 1 replaced, block 2 added
  StepPlanEncoder encoder;
  StepPlanDecoder decoder;
  v1::StepPlan proto;
  encoder.Encode(p1, &proto);
  ASSERT_TRUE(decoder.Decode(proto, 4096).ok());
  encoder.Encode(p2, &proto);
  EXPECT_EQ(proto.sequences(0).full_table_from(), 0u);  // whole
  EXPECT_TRUE(proto.sequences(0).sampling_unchanged());
  absl::StatusOr<StepPlan> back = decoder.Decode(proto, 4096);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(p2, *back);
}

TEST(StepPlanDeltaTest, LongContextsSendOneBlockPerStep) {
  std::vector<int32_t> table(2048);  // 32k tokens in blocks of 16
  for (int i = 0; i < 2048; ++i) table[i] = i;
  StepPlan prefill, decode;
  prefill.step_id = 1;
  prefill.sequences = {Seq(1, std::vector<int32_t>(32760, 5), 0, table, {1, 2}, 3)};
  decode.step_id = 2;
  decode.sequences = {Seq(1, {6}, 32760, table, {1, 2}, 3)};
  StepPlanEncoder encoder;
  v1::StepPlan p1, p2, whole;
  encoder.Encode(prefill, &p1);
  encoder.Encode(decode, &p2);
  ToProto(decode, &whole);
  EXPECT_GT(whole.ByteSizeLong(), 2048u);  // every table entry, every step
  EXPECT_LT(p2.ByteSizeLong(), 48u);       // the token, positions, ids: no table, no sampling
}

// A worker restart mid-stream is a new stream: the coordinator's fan-out resets its encoder
// (StepFanout::Close), so the next plan carries each sequence's whole state again, and the new
// worker's fresh decoder rebuilds it; the old stream's incremental form would be refused.
TEST(StepPlanDeltaTest, ANewStreamGetsEverySequenceWholeAgain) {
  StepPlan p1, p2;
  p1.step_id = 1;
  p1.sequences = {Seq(1, {1, 2, 3, 4, 5, 6, 7, 8}, 0, {5, 6}, {1, 2}, 7)};
  p2.step_id = 2;
  p2.sequences = {Seq(1, {1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, {5, 6, 7}, {1, 2, 3}, 7)};
  StepPlanEncoder encoder;
  StepPlanDecoder before;
  v1::StepPlan proto;
  encoder.Encode(p1, &proto);
  ASSERT_TRUE(before.Decode(proto, 4096).ok());
  encoder.Reset();  // the world re-formed
  StepPlanDecoder restarted;
  encoder.Encode(p2, &proto);
  EXPECT_EQ(proto.sequences(0).full_table_from(), 0u);
  EXPECT_FALSE(proto.sequences(0).sampling_unchanged());
  absl::StatusOr<StepPlan> back = restarted.Decode(proto, 4096);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(p2, *back);
  // Without the reset, a continuation would go out incremental, which a restarted worker refuses.
  StepPlanEncoder stale;
  stale.Encode(p1, &proto);
  StepPlan p3 = p1;
  p3.step_id = 3;
  p3.sequences[0] = Seq(1, {9}, 8, {5, 6, 7}, {1, 2, 3}, 7);
  stale.Encode(p3, &proto);
  EXPECT_FALSE(StepPlanDecoder().Decode(proto, 4096).ok());
}

TEST(StepPlanDeltaTest, ContradictingEntriesAreRefusedAndChangeNothing) {
  StepPlanEncoder encoder;
  StepPlanDecoder decoder;
  StepPlan p1;
  p1.step_id = 1;
  p1.sequences = {Seq(1, {1, 2}, 0, {4}, {4}, 5)};
  v1::StepPlan proto;
  encoder.Encode(p1, &proto);
  ASSERT_TRUE(decoder.Decode(proto, 4096).ok());

  v1::StepPlan unknown;  // an incremental entry for a sequence the stream never sent
  unknown.set_step_id(2);
  v1::SequenceStep* u = unknown.add_sequences();
  u->set_sequence_id(9);
  u->add_token_ids(1);
  u->set_start_position(5);
  u->set_full_table_from(1);
  u->add_full_block_table(3);
  u->add_sliding_block_table(3);
  EXPECT_THAT(decoder.Decode(unknown, 4096).status().message(),
              HasSubstr("sequence 9: an incremental entry for a sequence this stream does not hold"));

  v1::StepPlan gap;  // a table that does not continue the one held
  gap.set_step_id(3);
  v1::SequenceStep* g = gap.add_sequences();
  g->set_sequence_id(1);
  g->add_token_ids(3);
  g->set_start_position(2);
  g->set_full_table_from(3);
  g->add_full_block_table(7);
  g->add_sliding_block_table(4);
  g->set_sampling_unchanged(true);
  EXPECT_THAT(decoder.Decode(gap, 4096).status().message(),
              HasSubstr("full_table_from 3 does not continue the 1 blocks held"));
  // Freed in the same plan: nothing to continue.
  v1::StepPlan freed = gap;
  freed.add_free_sequence_ids(1);
  freed.mutable_sequences(0)->set_full_table_from(1);
  EXPECT_FALSE(decoder.Decode(freed, 4096).ok());
  EXPECT_EQ(decoder.num_sequences(), 1u);

  // The state is as it was: the right continuation still works.
  StepPlan p2;
  p2.step_id = 4;
  p2.sequences = {Seq(1, {3}, 2, {4}, {4}, 5)};
  encoder.Encode(p2, &proto);
  absl::StatusOr<StepPlan> back = decoder.Decode(proto, 4096);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(p2, *back);
  // A decoder without state refuses incremental entries outright, as does the plain converter.
  EXPECT_FALSE(StepPlanDecoder().Decode(proto, 4096).ok());
  EXPECT_THAT(StepPlanFromProto(proto, 4096).status().message(), HasSubstr("incremental"));
}

}  // namespace
}  // namespace gptoss
