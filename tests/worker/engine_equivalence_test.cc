// Batching must not change results: the paged engine, driven by the real scheduler with small
// pools (chunked prefill, sliding-window block release, preemption by recompute), produces the
// same tokens and the same logits as the SimpleRunner (contiguous cache, whole prompts in one
// step) on a generated checkpoint, with CpuOps; also with two steps in flight (overlap).
#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "coordinator/scheduler/scheduler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/worker/model_io_test_util.h"
#include "tests/worker/scheduled_run.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/engine/step_executor.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/safetensors.h"
#include "tests/worker/simple_runner.h"
#include "worker/model/weights.h"

namespace gptoss {
namespace {

constexpr int kMaxTokens = 14;
constexpr int kTopN = 5;
constexpr uint64_t kSeed = 77;

class EngineEquivalenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = testing::SmallConfig();  // vocab 512, sliding (window 16) + full layer
    const std::string dir = testing::ScratchDir("engine_equivalence");
    CheckpointWriterOptions options;
    options.seed = 11;
    ASSERT_TRUE(WriteCheckpoint(config_, dir, options).ok());
    auto ckpt = Checkpoint::Open(dir);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    checkpoint_ = std::move(*ckpt);
    auto layout = ParallelLayout::Create(0, 1, config_.num_attention_heads,
                                         config_.num_key_value_heads, config_.num_local_experts);
    ASSERT_TRUE(layout.ok());
    layout_ = *layout;
    auto weights = LoadWeights(*checkpoint_, config_, layout_);
    ASSERT_TRUE(weights.ok()) << weights.status();
    weights_ = std::move(*weights);
    // Prompts shorter and longer than the window (16) and than a prefill chunk.
    for (int len : {5, 23, 40}) {
      std::vector<int32_t> p;
      for (int i = 0; i < len; ++i) p.push_back((i * 37 + len * 11) % config_.vocab_size);
      prompts_.push_back(p);
    }
  }

  // The reference: SimpleRunner generating all prompts together.
  std::vector<SimpleRunner::Generation> Reference(float temperature) {
    SimpleRunner::Options ro;
    ro.max_seqs = static_cast<int>(prompts_.size());
    ro.max_len = 64;
    auto runner = SimpleRunner::Create(config_, weights_, &ops_, ro);
    EXPECT_TRUE(runner.ok()) << runner.status();
    SimpleRunner::GenerateOptions go;
    go.max_tokens = kMaxTokens;
    go.sampling.temperature = temperature;
    go.sampling.seed = kSeed;
    go.record_logits = true;
    auto gen = (*runner)->Generate(prompts_, go);
    EXPECT_TRUE(gen.ok()) << gen.status();
    return gen.ok() ? *gen : std::vector<SimpleRunner::Generation>();
  }

  struct EngineRun {
    std::map<SequenceId, std::vector<SequenceUpdate>> updates;
    std::vector<SequenceId> ids;  // by prompt
    uint64_t preemptions = 0;
    int partial_prefills = 0;
    int max_batch = 0;
    int64_t padded_steps = 0;
    int fed_back = 0;  // plan entries feeding back the token in flight (overlap)
  };

  // Counts the tokens each layer's routing reports (worker metrics): every processed token once.
  class CountingObserver final : public MoeObserver {
   public:
    void OnRouted(int layer, const std::vector<int32_t>& ids, int64_t num_tokens,
                  int top_k) override {
      tokens[layer] += num_tokens;
      EXPECT_EQ(ids.size(), static_cast<size_t>(num_tokens * top_k));
    }
    void OnExchange(const char*, double, uint64_t) override {}
    std::map<int, int64_t> tokens;
  };

  EngineRun RunEngine(float temperature, ExecutorGraphs graphs, bool overlap) {
    EngineRun run;
    SchedulerConfig sc;
    sc.kv.block_size = 4;
    sc.kv.num_full_blocks = 22;     // 88 slots for ~110 tokens in total: preemption
    sc.kv.num_sliding_blocks = 12;  // a window is 5 blocks
    sc.kv.sliding_window = config_.sliding_window;
    sc.vocab_size = config_.vocab_size;
    sc.max_context_len = config_.max_position_embeddings;
    sc.max_num_seqs = 3;
    sc.max_batch_tokens = 16;  // chunked prefill
    FakeClock clock;
    auto scheduler = Scheduler::Create(sc, &clock);
    EXPECT_TRUE(scheduler.ok()) << scheduler.status();
    auto pool = KvCachePool::Create(
        config_, layout_,
        KvPoolSpec{sc.kv.block_size, sc.kv.num_full_blocks, sc.kv.num_sliding_blocks}, &ops_);
    EXPECT_TRUE(pool.ok()) << pool.status();
    auto transformer = Transformer::Create(config_, weights_, layout_, &ops_);
    EXPECT_TRUE(transformer.ok()) << transformer.status();
    CountingObserver observer;
    if (transformer.ok()) (*transformer)->SetMoeObserver(&observer);
    int64_t processed = 0;
    auto executor = StepExecutor::Create(config_, layout_, &ops_, transformer->get(), pool->get(),
                                         nullptr, graphs);
    EXPECT_TRUE(executor.ok()) << executor.status();
    if (!scheduler.ok() || !pool.ok() || !transformer.ok() || !executor.ok()) return run;

    for (const auto& p : prompts_) {
      SequenceRequest r;
      r.prompt = p;
      r.max_tokens = kMaxTokens;
      r.sampling.temperature = temperature;
      r.sampling.seed = kSeed;
      r.logprobs = true;
      r.top_logprobs = kTopN;
      auto id = (*scheduler)->Add(r);
      EXPECT_TRUE(id.ok()) << id.status();
      run.ids.push_back(*id);
    }
    testing::RunScheduled(
        **scheduler, **executor, 500,
        [&](const StepPlan& plan) {
          for (const auto& s : plan.sequences) {
            run.partial_prefills += s.sample ? 0 : 1;
            run.fed_back += s.feeds_back();
            processed += static_cast<int64_t>(s.token_ids.size());
          }
          run.max_batch = std::max(run.max_batch, static_cast<int>(plan.sequences.size()));
        },
        [&](const SequenceUpdate& u) { run.updates[u.id].push_back(u); }, overlap);
    EXPECT_EQ((*executor)->num_tracked_sequences(), 0u);  // every sequence was freed
    run.preemptions = (*scheduler)->stats().num_preemptions;
    run.padded_steps = (*executor)->num_padded_steps();
    // The routing of every real token, once per layer (padding rows are never reported).
    EXPECT_EQ(observer.tokens.size(), static_cast<size_t>(config_.num_hidden_layers));
    for (const auto& [layer, tokens] : observer.tokens) EXPECT_EQ(tokens, processed) << layer;
    return run;
  }

  void ExpectSame(float temperature, ExecutorGraphs graphs = {}, bool overlap = false) {
    const std::vector<SimpleRunner::Generation> ref = Reference(temperature);
    ASSERT_EQ(ref.size(), prompts_.size());
    const EngineRun run = RunEngine(temperature, graphs, overlap);
    if (overlap) {
      EXPECT_GT(run.fed_back, 20);  // decode steps fed back the token in flight
    } else {
      EXPECT_EQ(run.fed_back, 0);
    }
    if (graphs.pad_decode || graphs.graphs) {
      EXPECT_GT(run.padded_steps, 0);
    }
    // The scenario really exercised paging: chunks, several sequences per step, preemption.
    EXPECT_GT(run.partial_prefills, 0);
    EXPECT_EQ(run.max_batch, 3);
    EXPECT_GT(run.preemptions, 0u);
    const int V = config_.vocab_size;
    for (size_t p = 0; p < prompts_.size(); ++p) {
      const auto it = run.updates.find(run.ids[p]);
      ASSERT_NE(it, run.updates.end());
      const std::vector<SequenceUpdate>& got = it->second;
      std::vector<int32_t> tokens;
      for (const auto& u : got) tokens.push_back(u.token_id);
      EXPECT_EQ(tokens, ref[p].tokens) << "prompt " << p;
      ASSERT_EQ(got.size(), ref[p].tokens.size());
      for (size_t k = 0; k < got.size(); ++k) {
        // The reference logits of this token, as log-probabilities.
        const float* l = ref[p].logits.data() + k * V;
        double max_l = l[0], sum = 0;
        for (int i = 0; i < V; ++i) max_l = std::max<double>(max_l, l[i]);
        for (int i = 0; i < V; ++i) sum += std::exp(l[i] - max_l);
        const double lse = max_l + std::log(sum);
        EXPECT_NEAR(got[k].logprob, l[got[k].token_id] - lse, 1e-4) << p << "/" << k;
        ASSERT_EQ(got[k].top_logprobs.size(), static_cast<size_t>(kTopN));
        for (const auto& [id, lp] : got[k].top_logprobs)
          EXPECT_NEAR(lp, l[id] - lse, 1e-4) << p << "/" << k << " id " << id;
        // And they are the top ids: nothing else beats the last one.
        const float last = l[got[k].top_logprobs.back().first];
        int better = 0;
        for (int i = 0; i < V; ++i) better += l[i] > last;
        EXPECT_LE(better, kTopN - 1);
      }
      EXPECT_EQ(got.back().finish, FinishReason::kLength);
    }
  }

  ModelConfig config_;
  ParallelLayout layout_;
  std::unique_ptr<Checkpoint> checkpoint_;
  ModelWeights weights_;
  CpuOps ops_;
  std::vector<std::vector<int32_t>> prompts_;
};

TEST_F(EngineEquivalenceTest, GreedyMatchesTheSimpleRunner) { ExpectSame(0.0f); }

TEST_F(EngineEquivalenceTest, SeededSamplingMatchesTheSimpleRunner) { ExpectSame(0.9f); }

// Overlap (the coordinator's default): step N+1 planned before N's tokens are back, the token in
// flight fed back by the executor. Greedy and seeded outputs, logprobs included, are the same as
// one step at a time (the SimpleRunner's), with chunked prefill and preemption in the mix.
TEST_F(EngineEquivalenceTest, OverlappedStepsMatchTheSimpleRunner) {
  ExpectSame(0.0f, {}, /*overlap=*/true);
  ExpectSame(0.9f, {}, /*overlap=*/true);
}

// Runs each step, and remembers the keys it was asked for (what CUDA graphs would replay).
class RecordingGraphs final : public StepGraphs {
 public:
  absl::Status Run(uint64_t key, const std::function<absl::Status()>& step) override {
    ++runs[key];
    return step();
  }
  int num_graphs() const override { return static_cast<int>(runs.size()); }
  std::string capture_error() const override { return ""; }
  void Clear() override { ++clears; }
  std::map<uint64_t, int> runs;
  int clears = 0;
};

// Decode steps padded to buckets (with padding rows that store nothing, and only the real rows
// sampled) give exactly the tokens and logprobs of the unpadded engine.
TEST_F(EngineEquivalenceTest, PaddedDecodeStepsMatchTheSimpleRunner) {
  RecordingGraphs graphs;
  ExecutorGraphs options;
  options.graphs = &graphs;
  options.max_batch = 2;  // a step of 3 decoding sequences runs eagerly, unpadded
  ExpectSame(0.0f, options);
  ExpectSame(0.9f, options);
  // Buckets repeat (one key serves many steps), and every key names a bucket of <= 2 rows.
  ASSERT_FALSE(graphs.runs.empty());
  int most = 0;
  for (const auto& [key, runs] : graphs.runs) {
    EXPECT_LE(key & 0xfff, 2u) << "key " << key;
    most = std::max(most, runs);
  }
  EXPECT_GT(most, 2);
}

}  // namespace
}  // namespace gptoss
