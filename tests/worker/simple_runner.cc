#include "tests/worker/simple_runner.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "worker/common/kv_geometry.h"

namespace gptoss {
namespace {

// A host vector uploaded into a fresh device buffer; `keep` owns the memory for the step.
absl::StatusOr<TensorView> Upload(Ops* ops, const std::vector<int32_t>& host,
                                  std::initializer_list<int64_t> shape,
                                  std::vector<std::shared_ptr<void>>& keep) {
  const size_t bytes = host.size() * sizeof(int32_t);
  GPTOSS_ASSIGN_OR_RETURN(std::shared_ptr<void> memory, ops->Allocate(bytes));
  GPTOSS_RETURN_IF_ERROR(ops->CopyFromHost(memory.get(), host.data(), bytes));
  keep.push_back(memory);
  return TensorView(memory.get(), DType::kI32, shape, ops->device());
}

}  // namespace

absl::StatusOr<std::unique_ptr<SimpleRunner>> SimpleRunner::Create(const ModelConfig& config,
                                                                   const ModelWeights& weights,
                                                                   Ops* ops,
                                                                   const Options& options) {
  GPTOSS_CHECK_ARG(ops != nullptr, "SimpleRunner: null ops");
  GPTOSS_CHECK_ARG(options.max_seqs >= 1 && options.max_len >= 1 && options.block_size >= 1,
                   "SimpleRunner: max_seqs, max_len and block_size must be positive");
  auto runner = std::unique_ptr<SimpleRunner>(new SimpleRunner(config, ops, options));
  const int rank = options.comm ? options.comm->rank() : 0;
  const int world = options.comm ? options.comm->world_size() : 1;
  GPTOSS_ASSIGN_OR_RETURN(ParallelLayout layout,
                          ParallelLayout::Create(rank, world, config.num_attention_heads,
                                                 config.num_key_value_heads,
                                                 config.num_local_experts));
  GPTOSS_ASSIGN_OR_RETURN(runner->transformer_,
                          Transformer::Create(config, weights, layout, ops, options.comm,
                                              options.dispatch));
  runner->blocks_per_seq_ = (options.max_len + options.block_size - 1) / options.block_size;
  const int64_t num_blocks = static_cast<int64_t>(options.max_seqs) * runner->blocks_per_seq_;
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    KvLayerView layer;
    TensorView* parts[2] = {&layer.k, &layer.v};
    for (TensorView* part : parts) {
      *part =
          TensorView(nullptr, ops->activation_dtype(),
                     {num_blocks, options.block_size, layout.local_kv_heads(), config.head_dim},
                     ops->device());
      GPTOSS_ASSIGN_OR_RETURN(std::shared_ptr<void> memory, ops->Allocate(part->bytes()));
      part->data = memory.get();
      runner->cache_memory_.push_back(std::move(memory));
    }
    runner->cache_.layers.push_back(layer);
  }
  runner->lengths_.assign(options.max_seqs, 0);
  return runner;
}

void SimpleRunner::Reset(int seq) {
  if (seq >= 0 && seq < options_.max_seqs) lengths_[seq] = 0;
}

void SimpleRunner::ResetAll() { std::fill(lengths_.begin(), lengths_.end(), 0); }

absl::Status SimpleRunner::Forward(const std::vector<SeqInput>& inputs, int64_t* rows_out) {
  const int bs = options_.block_size;
  std::vector<int32_t> ids, positions, slots, query_start{0}, context_len, logit_rows;
  std::vector<int32_t> full_tables, sliding_tables;
  std::vector<char> seen(options_.max_seqs, 0);
  for (const SeqInput& in : inputs) {
    if (in.seq < 0 || in.seq >= options_.max_seqs)
      return absl::InvalidArgumentError(
          absl::StrCat("sequence slot ", in.seq, " is outside [0, ", options_.max_seqs, ")"));
    if (seen[in.seq])
      return absl::InvalidArgumentError(
          absl::StrCat("sequence slot ", in.seq, " appears twice in one step"));
    seen[in.seq] = 1;
    if (in.tokens.empty())
      return absl::InvalidArgumentError(
          absl::StrCat("sequence slot ", in.seq, " has no new tokens"));
    const int start = lengths_[in.seq];
    if (static_cast<int64_t>(start) + static_cast<int64_t>(in.tokens.size()) > options_.max_len)
      return absl::ResourceExhaustedError(
          absl::StrCat("sequence slot ", in.seq, " would reach ", start + in.tokens.size(),
                       " positions, more than max_len ", options_.max_len));
    for (size_t i = 0; i < in.tokens.size(); ++i) {
      const int32_t id = in.tokens[i];
      if (id < 0 || id >= config_.vocab_size)
        return absl::InvalidArgumentError(
            absl::StrCat("token id ", id, " is outside the vocabulary of ", config_.vocab_size));
      const int pos = start + static_cast<int>(i);
      if (in.all_logits || i + 1 == in.tokens.size())
        logit_rows.push_back(static_cast<int32_t>(ids.size()));
      ids.push_back(id);
      positions.push_back(pos);
      slots.push_back((in.seq * blocks_per_seq_ + pos / bs) * bs + pos % bs);
    }
    const int end = start + static_cast<int>(in.tokens.size());
    query_start.push_back(static_cast<int32_t>(ids.size()));
    context_len.push_back(end);
    // Sliding layers: the blocks the window of the first new token no longer sees are
    // released (-1).
    KvGeometry rule;
    rule.block_size = bs;
    rule.sliding_window = config_.sliding_window;
    const int first_needed = rule.FirstNeededBlock(start);
    for (int b = 0; b < blocks_per_seq_; ++b) {
      const int32_t block = in.seq * blocks_per_seq_ + b;
      full_tables.push_back(block);
      sliding_tables.push_back(b < first_needed ? -1 : block);
    }
  }
  const int64_t n = ids.size(), num_seqs = inputs.size(), rows = logit_rows.size();
  std::vector<std::shared_ptr<void>> keep;
  StepBatch batch;
  GPTOSS_ASSIGN_OR_RETURN(batch.token_ids, Upload(ops_, ids, {n}, keep));
  GPTOSS_ASSIGN_OR_RETURN(batch.positions, Upload(ops_, positions, {n}, keep));
  GPTOSS_ASSIGN_OR_RETURN(batch.full_slots, Upload(ops_, slots, {n}, keep));
  batch.sliding_slots = batch.full_slots;  // same geometry in both pools
  GPTOSS_ASSIGN_OR_RETURN(batch.logit_rows, Upload(ops_, logit_rows, {rows}, keep));
  GPTOSS_ASSIGN_OR_RETURN(TensorView qs, Upload(ops_, query_start, {num_seqs + 1}, keep));
  GPTOSS_ASSIGN_OR_RETURN(TensorView ctx, Upload(ops_, context_len, {num_seqs}, keep));
  GPTOSS_ASSIGN_OR_RETURN(TensorView full_tables_view,
                   Upload(ops_, full_tables, {num_seqs, blocks_per_seq_}, keep));
  GPTOSS_ASSIGN_OR_RETURN(TensorView sliding_tables_view,
                   Upload(ops_, sliding_tables, {num_seqs, blocks_per_seq_}, keep));
  const int max_ctx =
      context_len.empty() ? 0 : *std::max_element(context_len.begin(), context_len.end());
  batch.full = AttentionBatch{
      qs, ctx, full_tables_view, static_cast<int>(num_seqs), static_cast<int>(n), max_ctx};
  batch.sliding = AttentionBatch{
      qs, ctx, sliding_tables_view, static_cast<int>(num_seqs), static_cast<int>(n), max_ctx};

  logits_view_ = TensorView(nullptr, DType::kF32, {rows, config_.vocab_size}, ops_->device());
  if (logits_view_.bytes() > logits_bytes_) {
    GPTOSS_ASSIGN_OR_RETURN(logits_memory_, ops_->Allocate(logits_view_.bytes()));
    logits_bytes_ = logits_view_.bytes();
  }
  logits_view_.data = logits_memory_.get();
  GPTOSS_RETURN_IF_ERROR(transformer_->Forward(batch, cache_, logits_view_));
  GPTOSS_RETURN_IF_ERROR(ops_->Synchronize());
  // The cache now holds the new tokens.
  for (const SeqInput& in : inputs) lengths_[in.seq] += static_cast<int>(in.tokens.size());
  *rows_out = rows;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::vector<float>>> SimpleRunner::Step(
    const std::vector<SeqInput>& inputs) {
  int64_t rows = 0;
  GPTOSS_RETURN_IF_ERROR(Forward(inputs, &rows));
  std::vector<float> all(rows * config_.vocab_size);
  GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(all.data(), logits_view_.data, all.size() * sizeof(float)));
  std::vector<std::vector<float>> out;
  int64_t row = 0;
  for (const SeqInput& in : inputs) {
    const int64_t n_rows = in.all_logits ? in.tokens.size() : 1;
    out.emplace_back(all.begin() + row * config_.vocab_size,
                     all.begin() + (row + n_rows) * config_.vocab_size);
    row += n_rows;
  }
  return out;
}

absl::StatusOr<std::vector<float>> SimpleRunner::PromptLogits(const std::vector<int32_t>& ids) {
  Reset(0);
  GPTOSS_ASSIGN_OR_RETURN(auto out, Step({SeqInput{0, ids, true}}));
  return std::move(out[0]);
}

absl::StatusOr<std::vector<SimpleRunner::Generation>> SimpleRunner::Generate(
    const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& options) {
  GPTOSS_CHECK_ARG(!prompts.empty() && static_cast<int>(prompts.size()) <= options_.max_seqs,
                   "Generate: ", prompts.size(), " prompts, the runner holds 1 to ",
                   options_.max_seqs);
  GPTOSS_CHECK_ARG(options.max_tokens >= 0, "Generate: negative max_tokens ", options.max_tokens);
  ResetAll();
  std::vector<Generation> result(prompts.size());
  if (options.max_tokens == 0) return result;
  std::vector<SeqInput> inputs;
  for (size_t s = 0; s < prompts.size(); ++s)
    inputs.push_back(SeqInput{static_cast<int>(s), prompts[s], false});

  while (!inputs.empty()) {
    int64_t rows = 0;
    GPTOSS_RETURN_IF_ERROR(Forward(inputs, &rows));
    std::vector<SamplingParams> params;
    for (const SeqInput& in : inputs) {
      SamplingParams p = options.sampling;
      p.step = result[in.seq].tokens.size();
      params.push_back(p);
    }
    GPTOSS_ASSIGN_OR_RETURN(std::shared_ptr<void> ids_mem, ops_->Allocate(rows * sizeof(int32_t)));
    GPTOSS_ASSIGN_OR_RETURN(std::shared_ptr<void> lp_mem, ops_->Allocate(rows * sizeof(float)));
    TensorView ids(ids_mem.get(), DType::kI32, {rows}, ops_->device());
    TensorView logprobs(lp_mem.get(), DType::kF32, {rows}, ops_->device());
    GPTOSS_RETURN_IF_ERROR(ops_->Sample(logits_view_, params, ids, logprobs));
    std::vector<int32_t> sampled(rows);
    GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(sampled.data(), ids.data, rows * sizeof(int32_t)));
    std::vector<float> host_logits;
    if (options.record_logits) {
      host_logits.resize(rows * config_.vocab_size);
      GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(host_logits.data(), logits_view_.data,
                                       host_logits.size() * sizeof(float)));
    }
    std::vector<SeqInput> next;
    for (int64_t r = 0; r < rows; ++r) {
      Generation& g = result[inputs[r].seq];
      g.tokens.push_back(sampled[r]);
      if (options.record_logits)
        g.logits.insert(g.logits.end(), host_logits.begin() + r * config_.vocab_size,
                        host_logits.begin() + (r + 1) * config_.vocab_size);
      const bool stop = std::find(options.stop_ids.begin(), options.stop_ids.end(), sampled[r]) !=
                        options.stop_ids.end();
      if (!stop && static_cast<int>(g.tokens.size()) < options.max_tokens)
        next.push_back(SeqInput{inputs[r].seq, {sampled[r]}, false});
    }
    inputs = std::move(next);
  }
  return result;
}

}  // namespace gptoss
