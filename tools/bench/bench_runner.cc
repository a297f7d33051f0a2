#include "tools/bench/bench_runner.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "worker/common/kv_geometry.h"

namespace gptoss::bench {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool IsSliding(const ModelConfig& c, int layer) {
  return c.layer_types[layer] == LayerType::kSlidingAttention;
}

}  // namespace

absl::Status BenchRunner::Init() {
  GPTOSS_CHECK_ARG(block_size_ > 0, "bench: block size must be positive");
  auto layout = ParallelLayout::Create(comm_ ? comm_->rank() : 0, comm_ ? comm_->world_size() : 1,
                                       config_.num_attention_heads, config_.num_key_value_heads,
                                       config_.num_local_experts);
  GPTOSS_RETURN_IF_ERROR(layout.status());
  kv_heads_ = layout->local_kv_heads();
  GPTOSS_ASSIGN_OR_RETURN(transformer_,
                          Transformer::Create(config_, weights_, *layout, ops_, comm_));
  return absl::OkStatus();
}

absl::StatusOr<TensorView> BenchRunner::Buffer(std::vector<std::shared_ptr<void>>& keep,
                                               DType dtype, std::initializer_list<int64_t> shape) {
  TensorView view(nullptr, dtype, shape, ops_->device());
  GPTOSS_ASSIGN_OR_RETURN(std::shared_ptr<void> memory, ops_->Allocate(std::max<size_t>(view.bytes(), 1)));
  view.data = memory.get();
  keep.push_back(std::move(memory));
  return view;
}

absl::StatusOr<TensorView> BenchRunner::Upload(std::vector<std::shared_ptr<void>>& keep,
                                               const std::vector<int32_t>& values,
                                               std::initializer_list<int64_t> shape) {
  GPTOSS_ASSIGN_OR_RETURN(TensorView view, Buffer(keep, DType::kI32, shape));
  GPTOSS_RETURN_IF_ERROR(ops_->CopyFromHost(view.data, values.data(), values.size() * sizeof(int32_t)));
  return view;
}

absl::StatusOr<KvCache> BenchRunner::MakeCache(std::vector<std::shared_ptr<void>>& keep,
                                               int64_t full_blocks, int64_t sliding_blocks) {
  KvCache cache;
  const DType act = ops_->activation_dtype();
  for (int l = 0; l < config_.num_hidden_layers; ++l) {
    const int64_t blocks = IsSliding(config_, l) ? sliding_blocks : full_blocks;
    KvLayerView layer;
    GPTOSS_ASSIGN_OR_RETURN(layer.k, Buffer(keep, act, {blocks, block_size_, kv_heads_, config_.head_dim}));
    GPTOSS_ASSIGN_OR_RETURN(layer.v, Buffer(keep, act, {blocks, block_size_, kv_heads_, config_.head_dim}));
    cache.layers.push_back(layer);
  }
  return cache;
}

absl::StatusOr<PhaseResult> BenchRunner::Prefill(int prompt_len, int warmup, int repeats,
                                                 uint64_t seed) {
  GPTOSS_CHECK_ARG(prompt_len >= 1 && repeats >= 1 && warmup >= 0, "bench prefill: bad sizes");
  const int bs = block_size_;
  const int blocks = (prompt_len + bs - 1) / bs;
  std::vector<std::shared_ptr<void>> keep;
  GPTOSS_ASSIGN_OR_RETURN(KvCache cache, MakeCache(keep, blocks, blocks));
  std::mt19937_64 gen(seed);
  std::vector<int32_t> ids(prompt_len), positions(prompt_len), slots(prompt_len), table(blocks);
  for (int i = 0; i < prompt_len; ++i) {
    ids[i] = static_cast<int32_t>(gen() % config_.vocab_size);
    positions[i] = i;
    slots[i] = i;  // block b of the sequence is physical block b
  }
  for (int b = 0; b < blocks; ++b) table[b] = b;
  StepBatch batch;
  GPTOSS_ASSIGN_OR_RETURN(batch.token_ids, Upload(keep, ids, {prompt_len}));
  GPTOSS_ASSIGN_OR_RETURN(batch.positions, Upload(keep, positions, {prompt_len}));
  GPTOSS_ASSIGN_OR_RETURN(batch.full_slots, Upload(keep, slots, {prompt_len}));
  batch.sliding_slots = batch.full_slots;
  GPTOSS_ASSIGN_OR_RETURN(batch.logit_rows, Upload(keep, {prompt_len - 1}, {1}));
  GPTOSS_ASSIGN_OR_RETURN(TensorView qs, Upload(keep, {0, prompt_len}, {2}));
  GPTOSS_ASSIGN_OR_RETURN(TensorView ctx, Upload(keep, {prompt_len}, {1}));
  GPTOSS_ASSIGN_OR_RETURN(TensorView tables, Upload(keep, table, {1, blocks}));
  batch.full = AttentionBatch{qs, ctx, tables, 1, prompt_len, prompt_len};
  batch.sliding = batch.full;
  GPTOSS_ASSIGN_OR_RETURN(TensorView logits, Buffer(keep, DType::kF32, {1, config_.vocab_size}));

  for (int i = 0; i < warmup; ++i) GPTOSS_RETURN_IF_ERROR(transformer_->Forward(batch, cache, logits));
  GPTOSS_RETURN_IF_ERROR(ops_->Synchronize());
  const double start = Now();
  for (int i = 0; i < repeats; ++i) GPTOSS_RETURN_IF_ERROR(transformer_->Forward(batch, cache, logits));
  GPTOSS_RETURN_IF_ERROR(ops_->Synchronize());
  PhaseResult result;
  result.seconds = Now() - start;
  result.tokens = prompt_len;
  result.steps = repeats;
  return result;
}

absl::StatusOr<PhaseResult> BenchRunner::Decode(int batch_size, int context, int warmup, int steps,
                                                uint64_t seed, const StepHook& hook) {
  const uint64_t call = ++decode_calls_;  // graph keys of this call
  GPTOSS_CHECK_ARG(batch_size >= 1 && context >= 0 && steps >= 1 && warmup >= 0,
                   "bench decode: bad sizes");
  const int bs = block_size_, B = batch_size;
  const int last_pos = context + warmup + steps - 1;  // the last new token's position
  const int max_blocks = last_pos / bs + 1;
  // Sliding layers: only blocks holding a position some step can see.
  KvGeometry rule;
  rule.block_size = bs;
  rule.sliding_window = config_.sliding_window;
  const int first_sliding_block = rule.FirstNeededBlock(context);
  const int sliding_per_seq = max_blocks - first_sliding_block;
  std::vector<std::shared_ptr<void>> keep;
  GPTOSS_ASSIGN_OR_RETURN(KvCache cache, MakeCache(keep, static_cast<int64_t>(B) * max_blocks,
                                            static_cast<int64_t>(B) * sliding_per_seq));
  std::vector<int32_t> full_tables(B * max_blocks), sliding_tables(B * max_blocks, -1);
  for (int s = 0; s < B; ++s) {
    for (int b = 0; b < max_blocks; ++b) {
      full_tables[s * max_blocks + b] = s * max_blocks + b;
      if (b >= first_sliding_block)
        sliding_tables[s * max_blocks + b] = s * sliding_per_seq + (b - first_sliding_block);
    }
  }
  std::vector<int32_t> query_start(B + 1), rows(B);
  for (int s = 0; s <= B; ++s) query_start[s] = s;
  for (int s = 0; s < B; ++s) rows[s] = s;

  // The per-step inputs live in one buffer, rows: tokens, positions, context lengths, full and
  // sliding slots, so that a step uploads them with one copy (one host round trip, not five).
  StepBatch batch;
  GPTOSS_ASSIGN_OR_RETURN(TensorView inputs, Buffer(keep, DType::kI32, {5, B}));
  batch.token_ids = inputs.Row(0);
  batch.positions = inputs.Row(1);
  const TensorView ctx = inputs.Row(2);
  batch.full_slots = inputs.Row(3);
  batch.sliding_slots = inputs.Row(4);
  GPTOSS_ASSIGN_OR_RETURN(batch.logit_rows, Upload(keep, rows, {B}));
  GPTOSS_ASSIGN_OR_RETURN(TensorView qs, Upload(keep, query_start, {B + 1}));
  GPTOSS_ASSIGN_OR_RETURN(TensorView full_tv, Upload(keep, full_tables, {B, max_blocks}));
  GPTOSS_ASSIGN_OR_RETURN(TensorView sliding_tv, Upload(keep, sliding_tables, {B, max_blocks}));
  // max_context_len is the largest context any step of the run reaches (a host bound only).
  batch.full = AttentionBatch{qs, ctx, full_tv, B, B, last_pos + 1};
  batch.sliding = AttentionBatch{qs, ctx, sliding_tv, B, B, last_pos + 1};
  GPTOSS_ASSIGN_OR_RETURN(TensorView logits, Buffer(keep, DType::kF32, {B, config_.vocab_size}));
  GPTOSS_ASSIGN_OR_RETURN(TensorView sampled, Buffer(keep, DType::kI32, {B}));
  GPTOSS_ASSIGN_OR_RETURN(TensorView logprobs, Buffer(keep, DType::kF32, {B}));

  // Every step's positions, context lengths and slots are known in advance: they go to the
  // device once, and each step copies its row into `inputs` on the device. The sampled ids feed
  // the next step on the device too. A step is then two device copies, the forward pass (one
  // graph), Sample, and one host round trip: reading the sampled ids, as a serving loop must.
  const int total = warmup + steps;
  std::vector<int32_t> schedule(static_cast<size_t>(total) * 4 * B);
  for (int i = 0; i < total; ++i) {
    const int pos = context + i;
    int32_t* row = schedule.data() + static_cast<size_t>(i) * 4 * B;
    for (int s = 0; s < B; ++s) {
      row[s] = pos;                                                            // positions
      row[B + s] = pos + 1;                                                    // context_len
      row[2 * B + s] = (s * max_blocks + pos / bs) * bs + pos % bs;            // full slots
      row[3 * B + s] =
          (s * sliding_per_seq + pos / bs - first_sliding_block) * bs + pos % bs;  // sliding
    }
  }
  GPTOSS_ASSIGN_OR_RETURN(TensorView schedule_d, Upload(keep, schedule, {total, 4, B}));
  std::mt19937_64 gen(seed);
  std::vector<int32_t> tokens(B);
  for (int32_t& t : tokens) t = static_cast<int32_t>(gen() % config_.vocab_size);
  GPTOSS_RETURN_IF_ERROR(
      ops_->CopyFromHost(batch.token_ids.data, tokens.data(), B * sizeof(int32_t)));
  const std::vector<SamplingParams> greedy(B);  // temperature 0
  const auto forward = [&]() { return transformer_->Forward(batch, cache, logits); };

  PhaseResult result;
  result.tokens = B;
  result.steps = steps;
  double start = Now();
  for (int i = 0; i < total; ++i) {
    if (i == warmup) {
      GPTOSS_RETURN_IF_ERROR(ops_->Synchronize());
      start = Now();
    }
    // New inputs go into the same buffer every step (CUDA graphs replay these addresses).
    GPTOSS_RETURN_IF_ERROR(ops_->Copy(schedule_d.Row(i), inputs.Rows(1, 4)));
    if (i > 0) GPTOSS_RETURN_IF_ERROR(ops_->Copy(sampled, batch.token_ids));
    if (hook) {
      GPTOSS_RETURN_IF_ERROR(hook((call << 32) | static_cast<uint64_t>(B), forward));
    } else {
      GPTOSS_RETURN_IF_ERROR(forward());
    }
    GPTOSS_RETURN_IF_ERROR(ops_->Sample(logits, greedy, sampled, logprobs));
    GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(tokens.data(), sampled.data, B * sizeof(int32_t)));
  }
  result.seconds = Now() - start;
  result.last_tokens = tokens;
  return result;
}

}  // namespace gptoss::bench
