#include "tools/cli/local_runner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss::cli {

absl::StatusOr<std::unique_ptr<LocalRunner>> LocalRunner::Create(const ModelConfig& config,
                                                                 const ModelWeights& weights,
                                                                 Ops* ops, Communicator* comm,
                                                                 int max_len) {
  GPTOSS_CHECK_ARG(max_len >= 1, "LocalRunner: max_len ", max_len);
  std::unique_ptr<LocalRunner> runner(new LocalRunner());
  GPTOSS_ASSIGN_OR_RETURN(
      const ParallelLayout layout,
      ParallelLayout::Create(comm ? comm->rank() : 0, comm ? comm->world_size() : 1,
                             config.num_attention_heads, config.num_key_value_heads,
                             config.num_local_experts));
  GPTOSS_ASSIGN_OR_RETURN(runner->transformer_,
                          Transformer::Create(config, weights, layout, ops, comm));
  // Each pool holds the whole sequence: nothing is released, one block table serves both.
  const int blocks = (max_len + runner->block_size_ - 1) / runner->block_size_;
  GPTOSS_ASSIGN_OR_RETURN(
      runner->pool_,
      KvCachePool::Create(config, layout, KvPoolSpec{runner->block_size_, blocks, blocks}, ops));
  GPTOSS_ASSIGN_OR_RETURN(runner->executor_,
                          StepExecutor::Create(config, layout, ops, runner->transformer_.get(),
                                               runner->pool_.get(), comm));
  return runner;
}

SequenceStep LocalRunner::Step(uint64_t sequence, std::vector<int32_t> tokens, int start,
                               int prompt_len) const {
  SequenceStep s;
  s.sequence_id = sequence;
  s.token_ids = std::move(tokens);
  s.start_position = start;
  s.prompt_len = prompt_len;
  const int need = (s.end_position() + block_size_ - 1) / block_size_;
  for (int b = 0; b < need; ++b) s.full_block_table.push_back(b);
  s.sliding_block_table = s.full_block_table;
  return s;
}

absl::StatusOr<std::vector<float>> LocalRunner::PromptLogits(const std::vector<int32_t>& prompt) {
  StepPlan plan;
  plan.step_id = next_step_++;
  const uint64_t sequence = next_sequence_++;
  plan.sequences.push_back(Step(sequence, prompt, 0, static_cast<int>(prompt.size())));
  GPTOSS_ASSIGN_OR_RETURN(std::vector<float> logits, executor_->ExecuteForLogits(plan));
  StepPlan free;  // the sequence's worker-side history goes
  free.step_id = next_step_++;
  free.free_sequence_ids.push_back(sequence);
  GPTOSS_RETURN_IF_ERROR(executor_->Execute(free).status());
  return logits;
}

absl::StatusOr<std::vector<int32_t>> LocalRunner::Generate(const std::vector<int32_t>& prompt,
                                                           int max_tokens,
                                                           const StepSampling& sampling,
                                                           const std::vector<int32_t>& stop_ids,
                                                           const Share& share) {
  std::vector<int32_t> out;
  if (max_tokens <= 0) return out;
  const uint64_t sequence = next_sequence_++;
  const int prompt_len = static_cast<int>(prompt.size());
  std::vector<int32_t> next = prompt;  // the prompt, then each sampled id in turn
  int start = 0;
  for (int i = 0; i < max_tokens; ++i) {
    StepPlan plan;
    plan.step_id = next_step_++;
    SequenceStep s = Step(sequence, next, start, prompt_len);
    s.sample = true;
    s.sampling = sampling;
    s.sample_index = static_cast<uint64_t>(i);  // the draw: (seed, index in the completion)
    start = s.end_position();
    plan.sequences.push_back(std::move(s));
    GPTOSS_ASSIGN_OR_RETURN(StepResult result, executor_->Execute(plan));
    const int32_t rank0 = result.results.empty() ? -1 : result.results[0].token_id;
    const int32_t id = share ? share(static_cast<uint64_t>(i), rank0) : rank0;
    GPTOSS_CHECK_ARG(id >= 0, "LocalRunner: no sampled id reached this rank");
    out.push_back(id);
    if (std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end()) break;
    next.assign(1, id);
  }
  StepPlan free;
  free.step_id = next_step_++;
  free.free_sequence_ids.push_back(sequence);
  GPTOSS_RETURN_IF_ERROR(executor_->Execute(free).status());
  return out;
}

}  // namespace gptoss::cli
