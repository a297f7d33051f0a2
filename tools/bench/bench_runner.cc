#include "tools/bench/bench_runner.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "kernels/core/status.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/engine/step_executor.h"

namespace gptoss::bench {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// The KV layout of one run: per sequence, its own full blocks and a ring of sliding blocks.
struct BenchKv {
  KvGeometry geometry;
  int full_per_seq = 0;     // full blocks of one sequence
  int sliding_ring = 0;     // sliding blocks of one sequence (a ring over its logical blocks)

  // Sequence s's tables for a step whose new tokens are [start, end).
  void Tables(int s, int start, int end, SequenceStep& step) const {
    const int need = CeilDiv(end, geometry.block_size);
    step.full_block_table.clear();
    step.sliding_block_table.clear();
    if (geometry.has_full_layers)
      for (int b = 0; b < need; ++b) step.full_block_table.push_back(s * full_per_seq + b);
    if (geometry.has_sliding_layers) {
      const int first = geometry.FirstNeededBlock(start);
      for (int b = 0; b < need; ++b)
        step.sliding_block_table.push_back(b < first ? -1 : s * sliding_ring + b % sliding_ring);
    }
  }
};

}  // namespace

absl::Status BenchRunner::Init() {
  GPTOSS_CHECK_ARG(block_size_ > 0, "bench: block size must be positive");
  GPTOSS_ASSIGN_OR_RETURN(layout_, ParallelLayout::Create(comm_ ? comm_->rank() : 0,
                                                          comm_ ? comm_->world_size() : 1,
                                                          config_.num_attention_heads,
                                                          config_.num_key_value_heads,
                                                          config_.num_local_experts));
  GPTOSS_ASSIGN_OR_RETURN(transformer_,
                          Transformer::Create(config_, weights_, layout_, ops_, comm_));
  return absl::OkStatus();
}

CommStats BenchRunner::Since(const CommStats& before) const {
  if (comm_ == nullptr) return {};
  const CommStats now = comm_->stats();
  return {now.calls - before.calls, now.bytes_sent - before.bytes_sent,
          now.seconds - before.seconds};
}

absl::StatusOr<PhaseResult> BenchRunner::Prefill(int prompt_len, int warmup, int repeats,
                                                 uint64_t seed) {
  GPTOSS_CHECK_ARG(prompt_len >= 1 && repeats >= 1 && warmup >= 0, "bench prefill: bad sizes");
  const int blocks = CeilDiv(prompt_len, block_size_);
  // One step writes every position of both pools: each gets the whole prompt's blocks.
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<KvCachePool> pool,
                          KvCachePool::Create(config_, layout_,
                                              KvPoolSpec{block_size_, blocks, blocks}, ops_));
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<StepExecutor> executor,
                          StepExecutor::Create(config_, layout_, ops_, transformer_.get(),
                                               pool.get(), comm_));
  std::mt19937_64 gen(seed);
  StepPlan plan;
  plan.sequences.resize(1);
  SequenceStep& s = plan.sequences[0];
  for (int i = 0; i < prompt_len; ++i)
    s.token_ids.push_back(static_cast<int32_t>(gen() % config_.vocab_size));
  s.prompt_len = prompt_len;
  s.sample = true;
  for (int b = 0; b < blocks; ++b) s.full_block_table.push_back(b);
  s.sliding_block_table = s.full_block_table;
  PhaseResult result;
  result.tokens = prompt_len;
  result.steps = repeats;
  double start = Now();
  CommStats comm_before;
  for (int i = 0; i < warmup + repeats; ++i) {
    if (i == warmup) {
      start = Now();
      comm_before = comm_ ? comm_->stats() : CommStats{};
    }
    plan.step_id = i + 1;
    plan.free_sequence_ids.clear();
    if (i > 0) plan.free_sequence_ids.push_back(s.sequence_id);  // a new sequence each time
    s.sequence_id = next_sequence_++;
    GPTOSS_RETURN_IF_ERROR(executor->Execute(plan).status());
  }
  result.seconds = Now() - start;
  result.comm = Since(comm_before);
  return result;
}

absl::StatusOr<PhaseResult> BenchRunner::Decode(int batch, int context, int warmup, int steps,
                                                uint64_t seed) {
  GPTOSS_CHECK_ARG(batch >= 1 && context >= 1 && steps >= 1 && warmup >= 0,
                   "bench decode: bad sizes (context >= 1)");
  const int B = batch, total = context + warmup + steps;  // positions 0 .. total - 1
  BenchKv kv;
  kv.geometry = KvGeometryFor(config_, KvPoolSpec{block_size_, 1, 1});
  const bool windowed = kv.geometry.windowed();
  // Prefill chunks of at most a window (or a block) keep the sliding ring small.
  const int chunk = windowed ? std::max(kv.geometry.sliding_window, block_size_) : context;
  kv.full_per_seq = CeilDiv(total, block_size_);
  kv.sliding_ring = windowed ? CeilDiv(kv.geometry.sliding_window + chunk, block_size_) + 1
                             : kv.full_per_seq;
  kv.geometry.num_full_blocks = B * kv.full_per_seq;
  kv.geometry.num_sliding_blocks = B * kv.sliding_ring;
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<KvCachePool> pool,
                          KvCachePool::Create(config_, layout_, kv.geometry, ops_));
  // New KV and metadata buffers: graphs captured by an earlier run must not be replayed.
  if (graphs_ != nullptr) graphs_->Clear();
  ExecutorGraphs options;
  options.graphs = graphs_;
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<StepExecutor> executor,
                          StepExecutor::Create(config_, layout_, ops_, transformer_.get(),
                                               pool.get(), comm_, options));

  std::mt19937_64 gen(seed);
  auto random_id = [&] { return static_cast<int32_t>(gen() % config_.vocab_size); };
  const SequenceId first_id = next_sequence_;
  next_sequence_ += B;
  StepPlan plan;
  plan.sequences.resize(B);
  for (int s = 0; s < B; ++s) {
    plan.sequences[s].sequence_id = first_id + s;
    plan.sequences[s].prompt_len = context;
  }
  // The prompt, chunk by chunk (untimed); its last chunk samples the first decode token.
  std::vector<int32_t> tokens(B);
  uint64_t step_id = 0;
  for (int start = 0; start < context; start += chunk) {
    const int end = std::min(context, start + chunk);
    for (int s = 0; s < B; ++s) {
      SequenceStep& step = plan.sequences[s];
      step.start_position = start;
      step.token_ids.clear();
      for (int p = start; p < end; ++p) step.token_ids.push_back(random_id());
      step.sample = end == context;
      step.sample_index = 0;
      kv.Tables(s, start, end, step);
    }
    plan.step_id = ++step_id;
    GPTOSS_ASSIGN_OR_RETURN(StepResult r, executor->Execute(plan));
    for (size_t i = 0; i < r.results.size(); ++i) tokens[i] = r.results[i].token_id;
  }

  PhaseResult result;
  result.tokens = B;
  result.steps = steps;
  double start = Now();
  CommStats comm_before;
  for (int i = 0; i < warmup + steps; ++i) {
    if (i == warmup) {
      start = Now();
      comm_before = comm_ ? comm_->stats() : CommStats{};
    }
    const int pos = context + i;
    for (int s = 0; s < B; ++s) {
      SequenceStep& step = plan.sequences[s];
      step.start_position = pos;
      // Rank 0 sampled the ids at world size 1; other ranks of a world get none back.
      step.token_ids.assign(1, comm_ == nullptr ? tokens[s] : random_id());
      step.sample = true;
      step.sample_index = static_cast<uint64_t>(i + 1);
      kv.Tables(s, pos, pos + 1, step);
    }
    plan.step_id = ++step_id;
    GPTOSS_ASSIGN_OR_RETURN(StepResult r, executor->Execute(plan));
    for (size_t k = 0; k < r.results.size(); ++k) tokens[k] = r.results[k].token_id;
  }
  result.seconds = Now() - start;
  result.comm = Since(comm_before);
  result.last_tokens = tokens;
  return result;
}

}  // namespace gptoss::bench
