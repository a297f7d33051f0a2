#include "worker/engine/step_executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kernels/core/status.h"

namespace gptoss {

absl::StatusOr<std::unique_ptr<StepExecutor>> StepExecutor::Create(const ModelConfig& config,
                                                                   const ParallelLayout& layout,
                                                                   Ops* ops,
                                                                   Transformer* transformer,
                                                                   KvCachePool* pool,
                                                                   Communicator* comm,
                                                                   ExecutorGraphs graphs) {
  GPTOSS_CHECK_ARG(ops != nullptr && transformer != nullptr && pool != nullptr,
                   "StepExecutor needs ops, a transformer and a KV cache pool");
  GPTOSS_CHECK_ARG(static_cast<int>(pool->cache().layers.size()) == config.num_hidden_layers,
                   "KV cache has ", pool->cache().layers.size(), " layers, the model ",
                   config.num_hidden_layers);
  GPTOSS_CHECK_ARG(graphs.max_batch >= 1, "StepExecutor: max_batch of padded steps must be >= 1");
  GPTOSS_ASSIGN_OR_RETURN(StepLimits limits, Limits(config, pool->spec()));
  return std::unique_ptr<StepExecutor>(
      new StepExecutor(config, layout, ops, transformer, pool, comm, limits, graphs));
}

absl::StatusOr<StepLimits> StepExecutor::Limits(const ModelConfig& config,
                                                const KvPoolSpec& spec) {
  StepLimits limits;
  static_cast<KvGeometry&>(limits) = KvGeometryFor(config, spec);
  limits.vocab_size = config.vocab_size;
  limits.max_positions = config.max_position_embeddings;
  if (limits.has_sliding_layers)
    GPTOSS_CHECK_ARG(config.sliding_window > 0, "sliding layers need sliding_window > 0");
  return limits;
}

absl::StatusOr<std::unique_ptr<StepExecutor>> StepExecutor::CreateNull(
    const ModelConfig& config, const ParallelLayout& layout, const KvPoolSpec& spec,
    absl::Duration step_time) {
  GPTOSS_ASSIGN_OR_RETURN(StepLimits limits, Limits(config, spec));
  std::unique_ptr<StepExecutor> executor(
      new StepExecutor(config, layout, nullptr, nullptr, nullptr, nullptr, limits, {}));
  executor->null_step_time_ = step_time;
  return executor;
}

int32_t StepExecutor::NullToken(uint64_t seed, int64_t sample_index) {
  // splitmix64 of (seed, index), folded into ids 1000..99999: ordinary o200k text tokens, far
  // below every special id.
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(sample_index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<int32_t>(1000 + z % 99000);
}

absl::StatusOr<void*> StepExecutor::Ensure(DeviceBuffer& buffer, size_t bytes) {
  if (bytes > buffer.bytes) {
    // Grow by 1.5x so that slowly growing steps do not reallocate every time.
    const size_t grown = std::max(bytes, buffer.bytes + buffer.bytes / 2);
    buffer.memory.reset();
    GPTOSS_ASSIGN_OR_RETURN(buffer.memory, ops_->Allocate(grown));
    buffer.bytes = grown;
  }
  return buffer.memory.get();
}

absl::StatusOr<StepResult> StepExecutor::Execute(const StepPlan& plan) {
  return Run(plan, nullptr);
}

absl::StatusOr<std::vector<float>> StepExecutor::ExecuteForLogits(const StepPlan& plan) {
  GPTOSS_CHECK_ARG(transformer_ != nullptr, "the null executor computes no logits");
  std::vector<float> logits;
  GPTOSS_RETURN_IF_ERROR(Run(plan, &logits).status());
  return logits;
}

absl::StatusOr<StepResult> StepExecutor::Run(const StepPlan& plan, std::vector<float>* every_row) {
  const auto start = std::chrono::steady_clock::now();
  StepResult result;
  result.step_id = plan.step_id;
  result.rank = layout_.rank;
  const bool sampler = layout_.rank == 0;
  for (SequenceId id : plan.free_sequence_ids) histories_.Free(id);
  if (plan.sequences.empty()) return result;

  HostStepBatch& host = host_;  // reused: its vectors keep their capacity
  GPTOSS_RETURN_IF_ERROR(BuildStepBatch(plan, limits_, host));
  // Every rank checks the same things, so that all of them refuse a bad plan together: a rank
  // that went on alone would wait in the step's first collective for peers that never come.
  GPTOSS_RETURN_IF_ERROR(histories_.Check(plan));
  histories_.Resolve(plan, host.token_ids);
  histories_.Append(plan, host.token_ids);
  if (transformer_ == nullptr) {  // the null executor
    std::vector<int32_t> ids;
    for (int r : host.sampled) {
      const SequenceStep& s = plan.sequences[r];
      ids.push_back(std::min<int32_t>(NullToken(s.sampling.seed, s.sample_index),
                                      static_cast<int32_t>(config_.vocab_size - 1)));
    }
    Keep(plan, host, ids, result);
    // The simulated forward pass: the thread waits, as a host waits for the GPU.
    if (null_step_time_ > absl::ZeroDuration()) absl::SleepFor(null_step_time_);
    for (size_t k = 0; k < ids.size() && sampler; ++k) {
      SequenceResult& out = result.results.emplace_back();
      out.sequence_id = plan.sequences[host.sampled[k]].sequence_id;
      out.token_id = ids[k];
    }
    result.forward_time_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  }

  const int64_t real_tokens = host.num_tokens;
  if (every_row != nullptr) {  // every token's row, nothing sampled
    host.logit_rows.resize(static_cast<size_t>(host.num_tokens));
    for (int t = 0; t < host.num_tokens; ++t) host.logit_rows[t] = t;
    host.sampled.clear();
  }
  const int64_t R = static_cast<int64_t>(host.logit_rows.size());  // rows to sample
  // A decode step (every sequence one sampled token) runs padded to a bucket, if the bucket's
  // forward pass needs no host synchronization (always at world size 1).
  const bool decode = host.num_tokens == host.num_seqs && R == host.num_seqs;
  int seqs = 1, context = 16;
  while (seqs < host.num_seqs) seqs *= 2;
  seqs = std::min(seqs, graphs_.max_batch);
  const bool capturable = graphs_.graphs != nullptr &&
                          (layout_.world_size == 1 || (comm_ != nullptr && comm_->capturable()));
  const bool padded = (capturable || graphs_.pad_decode) && every_row == nullptr && decode &&
                      host.num_seqs <= graphs_.max_batch && transformer_->HostFree(seqs);
  const bool graphed = padded && capturable;
  if (padded) {
    while (context < host.max_context_len) context *= 2;
    Pad(host, seqs, (context + limits_.block_size - 1) / limits_.block_size, context);
  }

  // One upload for all the metadata: into the bucket's own buffer for a padded step.
  std::vector<int32_t>& packed = packed_;  // reused, like host_
  packed.clear();
  const auto pack = [&](const std::vector<int32_t>& v) {
    const size_t offset = packed.size();
    packed.insert(packed.end(), v.begin(), v.end());
    return offset;
  };
  Layout at;
  at.ids = pack(host.token_ids);
  at.pos = pack(host.positions);
  at.qs = pack(host.query_start);
  at.ctx = pack(host.context_len);
  at.full_tables = pack(host.full_block_tables);
  at.sliding_tables = pack(host.sliding_block_tables);
  at.full_slots = pack(host.full_slots);
  at.sliding_slots = pack(host.sliding_slots);
  at.rows = pack(host.logit_rows);
  const size_t meta_bytes = packed.size() * sizeof(int32_t);
  const uint64_t bucket = static_cast<uint64_t>(seqs) | static_cast<uint64_t>(context) << 12;
  void* meta = nullptr;
  if (padded) {
    GPTOSS_ASSIGN_OR_RETURN(meta, Ensure(bucket_metadata_[bucket], meta_bytes));
  } else {
    GPTOSS_ASSIGN_OR_RETURN(meta, Ensure(metadata_, meta_bytes));
  }
  GPTOSS_RETURN_IF_ERROR(ops_->CopyFromHost(meta, packed.data(), meta_bytes));
  const StepBatch batch = Views(static_cast<int32_t*>(meta), at, host);

  // Every rank computes the logits (the vocab-parallel lm_head gathers them); each samples.
  const int64_t vocab = config_.vocab_size;
  const int64_t rows = static_cast<int64_t>(host.logit_rows.size());
  DeviceBuffer& logits_buffer = padded ? bucket_logits_ : logits_;
  const int64_t capacity = padded ? graphs_.max_batch : std::max<int64_t>(rows, 1);
  GPTOSS_ASSIGN_OR_RETURN(void* logits_mem,
                          Ensure(logits_buffer, static_cast<size_t>(capacity * vocab) * 4));
  const TensorView all_logits(logits_mem, DType::kF32, {rows, vocab}, ops_->device());
  const CommStats comm_before = comm_ ? comm_->stats() : CommStats{};
  const auto forward = [&] { return transformer_->Forward(batch, pool_->cache(), all_logits); };
  if (graphed) {
    // Graphs captured under an older scratch generation read memory that is gone.
    const uint64_t generation = transformer_->scratch_generation();
    if (generation != graphs_generation_) {
      graphs_.graphs->Clear();
      graphs_generation_ = generation;
    }
    GPTOSS_RETURN_IF_ERROR(graphs_.graphs->Run(bucket | generation << 40, forward));
  } else {
    GPTOSS_RETURN_IF_ERROR(forward());
  }
  padded_steps_ += padded;
  if (comm_) {
    const CommStats after = comm_->stats();
    result.comm_time_s = after.seconds - comm_before.seconds;
    result.comm_bytes = after.bytes_sent - comm_before.bytes_sent;
  }
  const TensorView logits = all_logits.Rows(0, R);  // a padded step's own rows come first
  if (every_row != nullptr) {
    every_row->resize(static_cast<size_t>(R * vocab));
    GPTOSS_RETURN_IF_ERROR(
        ops_->CopyToHost(every_row->data(), logits.data, every_row->size() * sizeof(float)));
  } else if (R > 0) {
    GPTOSS_RETURN_IF_ERROR(Sample(plan, host, logits, result));
  }
  GPTOSS_RETURN_IF_ERROR(ops_->Synchronize());
  if (comm_) GPTOSS_RETURN_IF_ERROR(comm_->Synchronize());  // NCCL reports a lost peer here
  GPTOSS_RETURN_IF_ERROR(transformer_->ReportRouting(real_tokens, host.num_tokens));
  result.forward_time_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

void StepExecutor::Keep(const StepPlan& plan, const HostStepBatch& host,
                        const std::vector<int32_t>& ids, StepResult& result) {
  for (size_t k = 0; k < ids.size(); ++k)
    histories_.Sampled(plan.sequences[host.sampled[k]].sequence_id, ids[k]);
  result.sampled_digest = SampledDigest(ids);
}

StepBatch StepExecutor::Views(int32_t* base, const Layout& at, const HostStepBatch& host) const {
  const Device dev = ops_->device();
  const int64_t T = host.num_tokens, S = host.num_seqs;
  const int64_t R = static_cast<int64_t>(host.logit_rows.size());
  StepBatch batch;
  batch.token_ids = TensorView(base + at.ids, DType::kI32, {T}, dev);
  batch.positions = TensorView(base + at.pos, DType::kI32, {T}, dev);
  for (AttentionBatch* ab : {&batch.full, &batch.sliding}) {
    ab->query_start = TensorView(base + at.qs, DType::kI32, {S + 1}, dev);
    ab->context_len = TensorView(base + at.ctx, DType::kI32, {S}, dev);
    ab->num_seqs = host.num_seqs;
    ab->num_tokens = host.num_tokens;
    ab->max_context_len = host.max_context_len;
  }
  batch.full.block_tables =
      TensorView(base + at.full_tables, DType::kI32, {S, host.full_table_width}, dev);
  batch.sliding.block_tables =
      TensorView(base + at.sliding_tables, DType::kI32, {S, host.sliding_table_width}, dev);
  batch.full_slots = TensorView(base + at.full_slots, DType::kI32, {T}, dev);
  batch.sliding_slots = TensorView(base + at.sliding_slots, DType::kI32, {T}, dev);
  batch.logit_rows = TensorView(base + at.rows, DType::kI32, {R}, dev);
  return batch;
}

void StepExecutor::Pad(HostStepBatch& h, int seqs, int width, int max_context) {
  const int S = h.num_seqs;
  // Tables `width` wide (a real row's entries past it address positions beyond its context);
  // padding rows read block 0 of each pool: any block will do, their outputs are discarded.
  auto widen = [&](std::vector<int32_t>& tables, int old_width) {
    std::vector<int32_t>& out = widened_;  // swapped with `tables`: both keep their memory
    out.assign(static_cast<size_t>(seqs) * width, -1);
    for (int s = 0; s < S; ++s)
      for (int b = 0; b < std::min(old_width, width); ++b)
        out[static_cast<size_t>(s) * width + b] = tables[static_cast<size_t>(s) * old_width + b];
    for (int s = S; s < seqs; ++s) out[static_cast<size_t>(s) * width] = 0;
    tables.swap(out);
  };
  widen(h.full_block_tables, h.full_table_width);
  widen(h.sliding_block_tables, h.sliding_table_width);
  h.full_table_width = h.sliding_table_width = width;
  for (int s = S; s < seqs; ++s) {  // token 0 at position 0, stored nowhere (slot -1)
    h.token_ids.push_back(0);
    h.positions.push_back(0);
    h.query_start.push_back(s + 1);
    h.context_len.push_back(1);
    h.full_slots.push_back(-1);
    h.sliding_slots.push_back(-1);
    h.logit_rows.push_back(s);
  }
  h.num_seqs = h.num_tokens = seqs;
  h.max_context_len = max_context;  // the attention's launch shape: one per bucket
}

absl::Status StepExecutor::Sample(const StepPlan& plan, const HostStepBatch& host,
                                  TensorView logits, StepResult& result) {
  const Device dev = ops_->device();
  const int64_t R = logits.dim(0);
  const std::vector<int>& rows = host.sampled;

  // Penalties, only if some row has one (backends may not implement the op).
  bool any_penalty = false;
  int top_n = 0;
  for (int r : rows) {
    any_penalty |= plan.sequences[r].sampling.has_penalties();
    if (plan.sequences[r].logprobs) top_n = std::max(top_n, plan.sequences[r].top_logprobs);
  }
  if (any_penalty) {
    SequenceHistories::PenaltyInputs in = histories_.Penalties(plan, rows);
    const size_t n = in.tokens.size();
    GPTOSS_ASSIGN_OR_RETURN(void* mem, Ensure(penalties_, 2 * n * sizeof(int32_t)));
    int32_t* p = static_cast<int32_t*>(mem);
    GPTOSS_RETURN_IF_ERROR(ops_->CopyFromHost(p, in.tokens.data(), n * sizeof(int32_t)));
    GPTOSS_RETURN_IF_ERROR(ops_->CopyFromHost(p + n, in.counts.data(), n * sizeof(int32_t)));
    GPTOSS_RETURN_IF_ERROR(ops_->ApplyPenalties(logits, TensorView(p, DType::kI32, {R, in.width}, dev),
                                         TensorView(p + n, DType::kI32, {R, in.width}, dev),
                                         in.params));
  }

  // Top-n logprobs of the (penalized) distribution, before Sample sees it (rank 0 reports them).
  const bool sampler = layout_.rank == 0;
  std::vector<int32_t> top_ids;
  std::vector<float> top_lp;
  if (top_n > 0 && sampler) {
    const size_t n = static_cast<size_t>(R) * top_n;
    GPTOSS_ASSIGN_OR_RETURN(void* mem, Ensure(top_, 2 * n * 4));
    TensorView ids(mem, DType::kI32, {R, top_n}, dev);
    TensorView lp(static_cast<char*>(mem) + n * 4, DType::kF32, {R, top_n}, dev);
    GPTOSS_RETURN_IF_ERROR(ops_->TopLogprobs(logits, ids, lp));
    top_ids.resize(n);
    top_lp.resize(n);
    GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(top_ids.data(), ids.data, n * 4));
    GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(top_lp.data(), lp.data, n * 4));
  }

  std::vector<SamplingParams> params;
  params.reserve(rows.size());
  for (int r : rows) {
    const SequenceStep& s = plan.sequences[r];
    SamplingParams p;
    p.temperature = s.sampling.temperature;
    p.top_p = s.sampling.top_p;
    p.top_k = s.sampling.top_k;
    p.min_p = s.sampling.min_p;
    p.seed = s.sampling.seed;
    p.step = s.sample_index;  // the draw is a pure function of (seed, index in the completion)
    params.push_back(p);
  }
  GPTOSS_ASSIGN_OR_RETURN(void* mem, Ensure(samples_, static_cast<size_t>(R) * 8));
  TensorView ids(mem, DType::kI32, {R}, dev);
  TensorView lps(static_cast<char*>(mem) + R * 4, DType::kF32, {R}, dev);
  GPTOSS_RETURN_IF_ERROR(ops_->Sample(logits, params, ids, lps));
  std::vector<int32_t> host_ids(R);
  std::vector<float> host_lps(R);
  GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(host_ids.data(), ids.data, R * 4));
  GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(host_lps.data(), lps.data, R * 4));

  Keep(plan, host, host_ids, result);
  for (int64_t k = 0; k < R && sampler; ++k) {
    const SequenceStep& s = plan.sequences[rows[k]];
    SequenceResult r;
    r.sequence_id = s.sequence_id;
    r.token_id = host_ids[k];
    if (s.logprobs) {
      r.logprob = host_lps[k];
      for (int j = 0; j < s.top_logprobs; ++j)
        r.top_logprobs.emplace_back(top_ids[k * top_n + j], top_lp[k * top_n + j]);
    }
    result.results.push_back(std::move(r));
  }
  return absl::OkStatus();
}

}  // namespace gptoss
