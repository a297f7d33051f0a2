// The serving engine on a GPU: StepExecutor with CUDA graphs (decode steps padded to buckets and
// replayed) against the same executor without graphs, driven by the real scheduler over the
// tiny preset (real vocabulary, window 16) with synthetic weights: the same greedy tokens, every
// step, and graphs really captured.
#include <map>
#include <vector>

#include "coordinator/scheduler/scheduler.h"
#include "gtest/gtest.h"
#include "kernels/cuda/cuda_graph.h"
#include "kernels/cuda/synthetic_fill.h"
#include "tests/kernels/cuda_test_util.h"
#include "tests/worker/scheduled_run.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/engine/step_executor.h"
#include "worker/model/device_weights.h"
#include "worker/model/presets.h"

namespace gptoss {
namespace {

std::map<SequenceId, std::vector<int32_t>> RunServing(cuda::CudaOps& gpu, const ModelConfig& config,
                                                      const ModelWeights& weights,
                                                      StepGraphs* graphs) {
  std::map<SequenceId, std::vector<int32_t>> tokens;
  auto layout = ParallelLayout::Create(0, 1, config.num_attention_heads,
                                       config.num_key_value_heads, config.num_local_experts);
  SchedulerConfig sc;
  sc.kv.block_size = 16;
  sc.kv.num_full_blocks = 64;
  sc.kv.num_sliding_blocks = 32;
  sc.kv.sliding_window = config.sliding_window;
  sc.vocab_size = config.vocab_size;
  sc.max_context_len = config.max_position_embeddings;
  sc.max_num_seqs = 5;
  sc.max_batch_tokens = 64;
  FakeClock clock;
  auto scheduler = Scheduler::Create(sc, &clock);
  auto pool = KvCachePool::Create(
      config, *layout, KvPoolSpec{sc.kv.block_size, sc.kv.num_full_blocks, sc.kv.num_sliding_blocks},
      &gpu);
  auto transformer = Transformer::Create(config, weights, *layout, &gpu);
  EXPECT_TRUE(scheduler.ok() && pool.ok() && transformer.ok());
  if (!scheduler.ok() || !pool.ok() || !transformer.ok()) return tokens;
  ExecutorGraphs options;
  options.graphs = graphs;
  auto executor = StepExecutor::Create(config, *layout, &gpu, transformer->get(), pool->get(),
                                       nullptr, options);
  EXPECT_TRUE(executor.ok()) << executor.status();
  if (!executor.ok()) return tokens;
  // Five prompts across the window; decode batches of 5 (bucket 8) shrinking as they finish.
  for (int p = 0; p < 5; ++p) {
    SequenceRequest r;
    for (int i = 0; i < 7 + 9 * p; ++i) r.prompt.push_back((i * 131 + p * 977) % 50000 + 1000);
    r.max_tokens = 24 + 4 * p;
    auto id = (*scheduler)->Add(r);
    EXPECT_TRUE(id.ok()) << id.status();
  }
  testing::RunScheduled(**scheduler, **executor, 1000, nullptr,
                        [&](const SequenceUpdate& u) { tokens[u.id].push_back(u.token_id); });
  if (graphs != nullptr) {
    EXPECT_GT((*executor)->num_padded_steps(), 10);
  }
  return tokens;
}

TEST(CudaEngineGraphsTest, DecodeStepsReplayedAsGraphsGiveTheEagerTokens) {
  GPTOSS_REQUIRE_GPU();
  auto ops = cuda::CudaOps::Create(0);
  ASSERT_TRUE(ops.ok()) << ops.status();
  cuda::CudaOps& gpu = **ops;
  const ModelConfig config = PresetConfig("tiny").value();
  auto weights = SyntheticWeights(config, 5, gpu, [&](const SyntheticFill& f, TensorView dst) {
    return cuda::FillSynthetic(gpu.launch_context(), f, dst);
  });
  ASSERT_TRUE(weights.ok()) << weights.status();
  const auto eager = RunServing(gpu, config, weights->weights, nullptr);
  cuda::CudaGraphCache graphs(&gpu);
  const auto replayed = RunServing(gpu, config, weights->weights, &graphs);
  EXPECT_GT(graphs.num_graphs(), 0) << graphs.capture_error();
  EXPECT_EQ(graphs.capture_error(), "");
  ASSERT_EQ(eager.size(), 5u);
  EXPECT_EQ(replayed, eager);
}

}  // namespace
}  // namespace gptoss
