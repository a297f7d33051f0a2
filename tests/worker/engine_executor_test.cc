// StepExecutor and KvCachePool against CpuOps and a fake Transformer whose logits are a simple
// function of the last token, so that sampling, penalties and top logprobs have known answers.
#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/engine/step_executor.h"

namespace gptoss {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int kVocab = 32;

ModelConfig TinyConfig() {
  ModelConfig c;
  c.vocab_size = kVocab;
  c.hidden_size = 8;
  c.intermediate_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  c.num_local_experts = 2;
  c.num_experts_per_tok = 1;
  c.sliding_window = 4;
  c.max_position_embeddings = 64;
  c.layer_types = {LayerType::kSlidingAttention, LayerType::kFullAttention};
  return c;
}

// Logits of a row whose last token is t: 5 at t+1, 4.5 at t+2, 0 elsewhere. Records what it saw
// and writes each new token's id into K of every layer at its slot, so tests can check where
// the executor put it.
class FakeTransformer : public Transformer {
 public:
  absl::Status Forward(const StepBatch& batch, KvCache& cache, TensorView logits) override {
    ++calls;
    const int64_t T = batch.token_ids.dim(0);
    tokens.assign(batch.token_ids.as<int32_t>(), batch.token_ids.as<int32_t>() + T);
    positions.assign(batch.positions.as<int32_t>(), batch.positions.as<int32_t>() + T);
    full_slots.assign(batch.full_slots.as<int32_t>(), batch.full_slots.as<int32_t>() + T);
    sliding_slots.assign(batch.sliding_slots.as<int32_t>(), batch.sliding_slots.as<int32_t>() + T);
    logit_rows.assign(batch.logit_rows.as<int32_t>(),
                      batch.logit_rows.as<int32_t>() + batch.logit_rows.dim(0));
    num_seqs = batch.full.num_seqs;
    for (size_t l = 0; l < cache.layers.size(); ++l) {
      const bool full = l % 2 == 1;
      const int64_t per_slot = cache.layers[l].k.dim(2) * cache.layers[l].k.dim(3);
      for (int64_t t = 0; t < T; ++t) {
        const int32_t slot = full ? full_slots[t] : sliding_slots[t];
        if (slot == -1) continue;  // a padding row stores nothing (Ops::AppendKv)
        cache.layers[l].k.as<float>()[slot * per_slot] = static_cast<float>(tokens[t]);
      }
    }
    if (logits.dim(0) != static_cast<int64_t>(logit_rows.size()))
      return absl::InvalidArgumentError("logits rows");
    for (size_t r = 0; r < logit_rows.size(); ++r) {
      float* row = logits.as<float>() + r * kVocab;
      std::fill(row, row + kVocab, 0.0f);
      const int32_t t = tokens[logit_rows[r]];
      row[(t + 1) % kVocab] = 5.0f;
      row[(t + 2) % kVocab] = 4.5f;
    }
    return absl::OkStatus();
  }

  int calls = 0;
  int num_seqs = 0;
  std::vector<int32_t> tokens, positions, full_slots, sliding_slots, logit_rows;
};

class EngineExecutorTest : public ::testing::Test {
 protected:
  void Init(int rank = 0, int world = 1, ExecutorGraphs graphs = {}) {
    config_ = TinyConfig();
    auto layout = ParallelLayout::Create(rank, world, 4, 2, 2);
    ASSERT_TRUE(layout.ok());
    layout_ = *layout;
    KvPoolSpec spec{/*block_size=*/4, /*num_full_blocks=*/8, /*num_sliding_blocks=*/6};
    auto pool = KvCachePool::Create(config_, layout_, spec, &ops_);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = std::move(*pool);
    auto ex = StepExecutor::Create(config_, layout_, &ops_, &fake_, pool_.get(), nullptr, graphs);
    ASSERT_TRUE(ex.ok()) << ex.status();
    executor_ = std::move(*ex);
  }

  static SequenceStep Seq(SequenceId id, std::vector<int32_t> tokens, int start, int prompt_len,
                          std::vector<int32_t> full, std::vector<int32_t> sliding) {
    SequenceStep s;
    s.sequence_id = id;
    s.token_ids = std::move(tokens);
    s.start_position = start;
    s.prompt_len = prompt_len;
    s.full_block_table = std::move(full);
    s.sliding_block_table = std::move(sliding);
    s.sample = true;
    return s;
  }

  ModelConfig config_;
  ParallelLayout layout_;
  CpuOps ops_;
  FakeTransformer fake_;
  std::unique_ptr<KvCachePool> pool_;
  std::unique_ptr<StepExecutor> executor_;
};

TEST_F(EngineExecutorTest, PoolHasOneLayerViewPerLayerInItsPoolGeometry) {
  Init();
  const KvCache& cache = pool_->cache();
  ASSERT_EQ(cache.layers.size(), 2u);
  // Layer 0 sliding: [6, 4, kv heads 2, dim 4]; layer 1 full: [8, 4, 2, 4].
  EXPECT_EQ(cache.layers[0].k.ShapeString(), "[6,4,2,4]");
  EXPECT_EQ(cache.layers[1].v.ShapeString(), "[8,4,2,4]");
  EXPECT_EQ(cache.layers[1].block_size(), 4);
  EXPECT_NE(cache.layers[0].k.data, cache.layers[0].v.data);
  EXPECT_EQ(pool_->bytes(), (6 + 8) * 4 * 2 * 4 * 4 * 2);
}

TEST_F(EngineExecutorTest, PoolRejectsEmptyPoolsTheModelUses) {
  config_ = TinyConfig();
  auto layout = ParallelLayout::Create(0, 1, 4, 2, 2);
  auto pool = KvCachePool::Create(config_, *layout, KvPoolSpec{4, 8, 0}, &ops_);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pool.status().message(), HasSubstr("sliding KV pool"));
}

TEST_F(EngineExecutorTest, PlanForBudgetSizesTheSlidingPoolForTheWindows) {
  config_ = TinyConfig();
  auto layout = ParallelLayout::Create(0, 1, 4, 2, 2);
  // One layer of each kind: a block is 2 * 4 * 2 * 4 * 4 bytes = 256 bytes per pool.
  EXPECT_EQ(KvCachePool::FullBlockBytes(config_, *layout, DType::kF32, 4), 256);
  EXPECT_EQ(KvCachePool::SlidingBlockBytes(config_, *layout, DType::kF32, 4), 256);
  auto spec = KvCachePool::PlanForBudget(config_, *layout, DType::kF32, 256 * 100, 4,
                                         /*max_num_seqs=*/4, /*max_batch_tokens=*/16);
  ASSERT_TRUE(spec.ok()) << spec.status();
  // Sliding: 4 sequences * (ceil(4/4) + 2) + ceil(16/4) = 16; the full pool gets the rest (84
  // blocks), capped at what 4 full contexts can use: 4 * ceil(64/4) = 64.
  EXPECT_EQ(spec->num_sliding_blocks, 16);
  EXPECT_EQ(spec->num_full_blocks, 64);
  auto smaller = KvCachePool::PlanForBudget(config_, *layout, DType::kF32, 256 * 50, 4, 4, 16);
  ASSERT_TRUE(smaller.ok()) << smaller.status();
  EXPECT_EQ(smaller->num_full_blocks, 34);  // under the cap: the rest of the budget
  // A hostile offer (the finding: 2^62 bytes became ~1e9 blocks) gets the same useful geometry.
  auto huge = KvCachePool::PlanForBudget(config_, *layout, DType::kF32, int64_t{1} << 62, 4, 4, 16);
  ASSERT_TRUE(huge.ok()) << huge.status();
  EXPECT_EQ(huge->num_full_blocks, 64);
  EXPECT_EQ(
      KvCachePool::PlanForBudget(config_, *layout, DType::kF32, 256 * 18, 4, 4, 16).status().code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(KvCachePool::PlanForBudget(config_, *layout, DType::kF32, 0, 4, 4, 16).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineExecutorTest, ExecutesARaggedStepAndSamplesInPlanOrder) {
  Init();
  StepPlan plan;
  plan.step_id = 3;
  plan.sequences.push_back(Seq(7, {1, 2, 3, 4, 5}, 0, 5, {2, 3}, {0, 1}));
  plan.sequences.push_back(Seq(9, {10, 11}, 0, 2, {5}, {4}));
  plan.sequences[1].logprobs = true;
  plan.sequences[1].top_logprobs = 3;
  auto r = executor_->Execute(plan);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->step_id, 3u);
  EXPECT_EQ(r->rank, 0);
  ASSERT_EQ(r->results.size(), 2u);
  EXPECT_EQ(r->results[0].sequence_id, 7u);
  EXPECT_EQ(r->results[0].token_id, 6);  // greedy: last token + 1
  EXPECT_THAT(r->results[0].top_logprobs, IsEmpty());
  EXPECT_EQ(r->results[1].sequence_id, 9u);
  EXPECT_EQ(r->results[1].token_id, 12);
  // log_softmax of {5, 4.5, 0 x 30}.
  const double z = std::exp(5.0) + std::exp(4.5) + 30.0;
  EXPECT_NEAR(r->results[1].logprob, 5.0 - std::log(z), 1e-5);
  ASSERT_EQ(r->results[1].top_logprobs.size(), 3u);
  EXPECT_EQ(r->results[1].top_logprobs[0].first, 12);
  EXPECT_EQ(r->results[1].top_logprobs[0].second, r->results[1].logprob);
  EXPECT_EQ(r->results[1].top_logprobs[1].first, 13);
  EXPECT_NEAR(r->results[1].top_logprobs[1].second, 4.5 - std::log(z), 1e-5);
  EXPECT_EQ(r->results[1].top_logprobs[2].first, 0);  // ties among zeros: lowest id
  // What the transformer saw.
  EXPECT_THAT(fake_.tokens, ElementsAre(1, 2, 3, 4, 5, 10, 11));
  EXPECT_THAT(fake_.positions, ElementsAre(0, 1, 2, 3, 4, 0, 1));
  EXPECT_THAT(fake_.full_slots, ElementsAre(8, 9, 10, 11, 12, 20, 21));
  EXPECT_THAT(fake_.sliding_slots, ElementsAre(0, 1, 2, 3, 4, 16, 17));
  EXPECT_THAT(fake_.logit_rows, ElementsAre(4, 6));
  // The tokens landed in the pool's memory at those slots (K of every layer).
  const KvLayerView& full = pool_->cache().layers[1];
  EXPECT_EQ(full.k.as<float>()[12 * 8], 5.0f);
  EXPECT_EQ(full.k.as<float>()[21 * 8], 11.0f);
  EXPECT_EQ(executor_->num_tracked_sequences(), 2u);
}

// A decode step (every sequence one sampled token) is padded to its bucket: 3 sequences -> 4
// rows; the padding row decodes token 0 at position 0, stores nothing (slot -1) and reads block
// 0; only the 3 real rows are sampled. A prefill step is not padded.
TEST_F(EngineExecutorTest, PadsADecodeStepToItsBucket) {
  ExecutorGraphs graphs;
  graphs.pad_decode = true;
  Init(0, 1, graphs);
  StepPlan prefill;
  prefill.step_id = 1;
  prefill.sequences.push_back(Seq(1, {1, 2}, 0, 2, {0}, {0}));
  prefill.sequences.push_back(Seq(2, {3, 4}, 0, 2, {1}, {1}));
  prefill.sequences.push_back(Seq(3, {5, 6}, 0, 2, {2}, {2}));
  ASSERT_TRUE(executor_->Execute(prefill).ok());
  EXPECT_EQ(executor_->num_padded_steps(), 0);
  EXPECT_EQ(fake_.tokens.size(), 6u);

  StepPlan decode;
  decode.step_id = 2;
  decode.sequences.push_back(Seq(1, {3}, 2, 2, {0}, {0}));
  decode.sequences.push_back(Seq(2, {5}, 2, 2, {1}, {1}));
  decode.sequences.push_back(Seq(3, {7}, 2, 2, {2}, {2}));
  auto r = executor_->Execute(decode);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(executor_->num_padded_steps(), 1);
  EXPECT_EQ(fake_.num_seqs, 4);
  EXPECT_THAT(fake_.tokens, ElementsAre(3, 5, 7, 0));
  EXPECT_THAT(fake_.positions, ElementsAre(2, 2, 2, 0));
  EXPECT_THAT(fake_.full_slots, ElementsAre(2, 6, 10, -1));
  EXPECT_THAT(fake_.sliding_slots, ElementsAre(2, 6, 10, -1));
  EXPECT_THAT(fake_.logit_rows, ElementsAre(0, 1, 2, 3));
  ASSERT_EQ(r->results.size(), 3u);
  EXPECT_EQ(r->results[0].token_id, 4);
  EXPECT_EQ(r->results[1].token_id, 6);
  EXPECT_EQ(r->results[2].token_id, 8);
}

TEST_F(EngineExecutorTest, SamplingIsAFunctionOfSeedAndIndex) {
  Init();
  auto run = [&](uint64_t seed, uint64_t index) {
    StepPlan plan;
    plan.step_id = 1;
    plan.sequences.push_back(Seq(1, {3}, 0, 1, {0}, {0}));
    plan.sequences[0].sampling.temperature = 1.0f;
    plan.sequences[0].sampling.seed = seed;
    plan.sequences[0].sample_index = index;
    plan.free_sequence_ids = {1};
    auto r = executor_->Execute(plan);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->results[0].token_id : -1;
  };
  std::set<int32_t> seen;
  for (uint64_t i = 0; i < 20; ++i) {
    const int32_t a = run(42, i);
    EXPECT_EQ(a, run(42, i));
    seen.insert(a);
  }
  EXPECT_GT(seen.size(), 1u);  // temperature 1 over {5, 4.5, 0...}: not always the same id
}

TEST_F(EngineExecutorTest, PenaltiesUseTheSequenceHistory) {
  Init();
  // Prompt [3, 4] then completion tokens; the next token after 4 would be 5 (5.0) or 6 (4.5).
  StepPlan p1;
  p1.step_id = 1;
  p1.sequences.push_back(Seq(1, {3, 4}, 0, 2, {0}, {0}));
  p1.sequences[0].sampling.repetition_penalty = 2.0f;
  // Repetition only counts seen tokens: 5 is unseen, still wins.
  auto r1 = executor_->Execute(p1);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->results[0].token_id, 5);
  // Feed 5 (a completion token); then 4 again as a completion token; next would be 5 again,
  // but 5 was seen: 5.0 / 2 = 2.5 < 4.5, so 6 wins.
  StepPlan p2;
  p2.step_id = 2;
  p2.sequences.push_back(Seq(1, {5, 4}, 2, 2, {0}, {0}));
  p2.sequences[0].sampling.repetition_penalty = 2.0f;
  auto r2 = executor_->Execute(p2);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->results[0].token_id, 6);

  // Frequency penalty: a completion token seen once loses 0.6 → 4.4 < 4.5.
  StepPlan p3;
  p3.step_id = 3;
  p3.sequences.push_back(Seq(2, {20, 21, 20}, 0, 1, {1}, {1}));  // completion: 21, 20
  p3.sequences[0].sampling.frequency_penalty = 0.6f;
  p3.sequences[0].logprobs = true;
  auto r3 = executor_->Execute(p3);
  ASSERT_TRUE(r3.ok()) << r3.status();
  // After 20 comes 21 (5.0, seen once in the completion → 4.4) or 22 (4.5).
  EXPECT_EQ(r3->results[0].token_id, 22);
  // Presence penalty only on completion tokens: 1 is only in the prompt, so unaffected.
  StepPlan p4;
  p4.step_id = 4;
  p4.sequences.push_back(Seq(3, {1, 0}, 0, 2, {2}, {2}));
  p4.sequences[0].sampling.presence_penalty = 1.0f;
  auto r4 = executor_->Execute(p4);
  ASSERT_TRUE(r4.ok()) << r4.status();
  EXPECT_EQ(r4->results[0].token_id, 1);
}

TEST_F(EngineExecutorTest, RejectsAPlanThatSkipsPositionsBeforeRunningIt) {
  Init();
  StepPlan p1;
  p1.step_id = 1;
  p1.sequences.push_back(Seq(1, {3, 4}, 0, 2, {0}, {0}));
  ASSERT_TRUE(executor_->Execute(p1).ok());
  ASSERT_EQ(fake_.calls, 1);
  StepPlan gap;
  gap.step_id = 2;
  gap.sequences.push_back(Seq(1, {5}, 3, 2, {0}, {0}));
  auto r = executor_->Execute(gap);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("continues at position 3"));
  StepPlan unknown;
  unknown.step_id = 3;
  unknown.sequences.push_back(Seq(8, {5}, 1, 1, {1}, {1}));
  EXPECT_THAT(executor_->Execute(unknown).status().message(), HasSubstr("unknown or freed"));
  StepPlan bad_block;
  bad_block.step_id = 4;
  bad_block.sequences.push_back(Seq(1, {5}, 2, 2, {8}, {0}));
  EXPECT_THAT(executor_->Execute(bad_block).status().message(), HasSubstr("entry 0 is 8"));
  EXPECT_EQ(fake_.calls, 1);  // none of them reached the transformer
  // Freed sequences are forgotten; a restart at 0 is always fine.
  StepPlan free;
  free.step_id = 5;
  free.free_sequence_ids = {1};
  auto fr = executor_->Execute(free);
  ASSERT_TRUE(fr.ok());
  EXPECT_THAT(fr->results, IsEmpty());
  EXPECT_EQ(executor_->num_tracked_sequences(), 0u);
  EXPECT_EQ(fake_.calls, 1);
}

TEST_F(EngineExecutorTest, OtherRanksRunTheForwardButDoNotSample) {
  Init(/*rank=*/1, /*world=*/2);
  StepPlan plan;
  plan.step_id = 1;
  plan.sequences.push_back(Seq(1, {3, 4}, 0, 2, {0}, {0}));
  auto r = executor_->Execute(plan);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rank, 1);
  EXPECT_THAT(r->results, IsEmpty());
  EXPECT_EQ(fake_.calls, 1);
  // The logits are computed on every rank (the vocab-parallel lm_head is a collective).
  EXPECT_THAT(fake_.logit_rows, ElementsAre(1));
  // And every rank refuses a plan that breaks a sequence's history, like rank 0 would, before
  // the forward pass (a rank going on alone would wait for its peers in the first collective).
  StepPlan skip;
  skip.step_id = 2;
  skip.sequences.push_back(Seq(1, {5}, 5, 6, {0}, {0}));
  EXPECT_EQ(executor_->Execute(skip).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fake_.calls, 1);
  // Rank 1 stores half the kv heads.
  EXPECT_EQ(pool_->cache().layers[0].k.ShapeString(), "[6,4,1,4]");
}

// Overlap: a plan entry {kLastSampled} feeds the token this rank sampled for the sequence in
// its previous step; every rank samples it (rank 1 too, without results) and digests it.
TEST_F(EngineExecutorTest, FeedsBackTheTokenItSampledOnEveryRank) {
  for (int rank : {0, 1}) {
    SCOPED_TRACE(rank);
    Init(rank, /*world=*/2);
    fake_.calls = 0;
    StepPlan p1;
    p1.step_id = 1;
    p1.sequences.push_back(Seq(1, {3, 4}, 0, 2, {0}, {0}));
    auto r1 = executor_->Execute(p1);  // samples 5 (the fake's top logit after 4)
    ASSERT_TRUE(r1.ok()) << r1.status();
    EXPECT_EQ(r1->sampled_digest, SampledDigest({5}));
    EXPECT_EQ(r1->results.size(), rank == 0 ? 1u : 0u);
    StepPlan p2;
    p2.step_id = 2;
    p2.sequences.push_back(Seq(1, {kLastSampled}, 2, 2, {0}, {0}));
    auto r2 = executor_->Execute(p2);
    ASSERT_TRUE(r2.ok()) << r2.status();
    EXPECT_THAT(fake_.tokens, ElementsAre(5));
    EXPECT_THAT(fake_.positions, ElementsAre(2));
    EXPECT_EQ(r2->sampled_digest, SampledDigest({6}));
    if (rank == 0) {
      ASSERT_EQ(r2->results.size(), 1u);
      EXPECT_EQ(r2->results[0].token_id, 6);
    }
    // A sampled token is fed at most once, and only where it was sampled.
    StepPlan no_sample;
    no_sample.step_id = 3;
    no_sample.sequences.push_back(Seq(1, {6}, 3, 2, {0}, {0}));
    no_sample.sequences[0].sample = false;
    ASSERT_TRUE(executor_->Execute(no_sample).ok());
    StepPlan again;
    again.step_id = 4;
    again.sequences.push_back(Seq(1, {kLastSampled}, 4, 2, {0, 1}, {0, 1}));
    auto r4 = executor_->Execute(again);
    EXPECT_EQ(r4.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r4.status().message(), HasSubstr("sampled none since position 4"));
    StepPlan at_zero;
    at_zero.step_id = 5;
    at_zero.sequences.push_back(Seq(2, {kLastSampled}, 0, 1, {1}, {1}));
    EXPECT_THAT(executor_->Execute(at_zero).status().message(), HasSubstr("at position 0"));
    StepPlan unknown;
    unknown.step_id = 6;
    unknown.sequences.push_back(Seq(3, {kLastSampled}, 1, 1, {1}, {1}));
    EXPECT_THAT(executor_->Execute(unknown).status().message(), HasSubstr("unknown or freed"));
    StepPlan mixed;  // kLastSampled is a whole entry, never one token of several
    mixed.step_id = 7;
    mixed.sequences.push_back(Seq(1, {7, kLastSampled}, 4, 2, {0, 1}, {0, 1}));
    EXPECT_THAT(executor_->Execute(mixed).status().message(), HasSubstr("has id -1"));
    EXPECT_EQ(fake_.calls, 3);  // the refused plans never reached the transformer
  }
}

// The null executor (--device null): the same plan checks and sequence memory, no model; rank 0
// answers NullToken(seed, index), which depends on nothing else (batching, step, prompt).
TEST(NullExecutorTest, ChecksPlansLikeTheRealOneAndAnswersBySeedAndIndex) {
  const ModelConfig config = TinyConfig();
  const KvPoolSpec spec{/*block_size=*/4, /*num_full_blocks=*/8, /*num_sliding_blocks=*/6};
  auto layout = ParallelLayout::Create(0, 1, 4, 2, 2);
  ASSERT_TRUE(layout.ok());
  auto executor = StepExecutor::CreateNull(config, *layout, spec);
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto seq = [](SequenceId id, std::vector<int32_t> tokens, int start, int prompt_len,
                uint64_t seed, int64_t index) {
    SequenceStep s;
    s.sequence_id = id;
    s.token_ids = std::move(tokens);
    s.start_position = start;
    s.prompt_len = prompt_len;
    s.full_block_table = {0};
    s.sliding_block_table = {0};
    s.sample = true;
    s.sample_index = index;
    s.sampling.seed = seed;
    return s;
  };
  StepPlan p1;
  p1.step_id = 1;
  p1.sequences.push_back(seq(1, {3, 4}, 0, 2, 7, 0));
  p1.sequences.push_back(seq(2, {5}, 0, 1, 9, 0));
  p1.sequences[1].full_block_table = {1};
  p1.sequences[1].sliding_block_table = {1};
  auto r1 = (*executor)->Execute(p1);
  ASSERT_TRUE(r1.ok()) << r1.status();
  ASSERT_EQ(r1->results.size(), 2u);
  const int32_t t1 = StepExecutor::NullToken(7, 0);
  // Clamped into this tiny vocabulary (a real one holds every NullToken).
  const int32_t in_vocab = std::min(t1, kVocab - 1);
  EXPECT_EQ(r1->results[0].token_id, in_vocab);
  EXPECT_EQ(r1->results[0].sequence_id, 1u);
  EXPECT_NE(StepExecutor::NullToken(7, 0), StepExecutor::NullToken(7, 1));
  EXPECT_NE(StepExecutor::NullToken(7, 0), StepExecutor::NullToken(8, 0));
  for (int64_t i = 0; i < 1000; ++i) {  // ordinary text ids, far below the special ones
    EXPECT_GE(StepExecutor::NullToken(i * 31, i), 1000);
    EXPECT_LT(StepExecutor::NullToken(i * 31, i), 100000);
  }
  // A plan that skips a position is refused before anything runs, as by the real executor.
  StepPlan gap;
  gap.step_id = 2;
  gap.sequences.push_back(seq(1, {5}, 3, 2, 7, 1));
  EXPECT_THAT((*executor)->Execute(gap).status().message(), HasSubstr("continues at position 3"));
  StepPlan next;
  next.step_id = 3;
  next.sequences.push_back(seq(1, {in_vocab}, 2, 2, 7, 1));
  auto r3 = (*executor)->Execute(next);
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_EQ((*executor)->num_tracked_sequences(), 2u);
}

}  // namespace
}  // namespace gptoss
