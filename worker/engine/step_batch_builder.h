// BuildStepBatch: checks a StepPlan against this worker's limits and lays it out as the host
// arrays of a transformer StepBatch (ids, positions, ragged query starts, context lengths,
// padded block tables of both pools, physical slots of every new token, logit rows).
// Pure host code: the executor uploads the arrays. Any plan that could make a kernel read or
// write out of bounds is InvalidArgument naming the sequence and the field; nothing is
// executed then.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/common/kv_geometry.h"
#include "worker/common/step_plan.h"

namespace gptoss {

// The KV geometry of this rank's pools, and the model's vocabulary and context.
struct StepLimits : KvGeometry {
  int vocab_size = 0;
  int max_positions = 0;  // max_position_embeddings
};

struct HostStepBatch {
  int num_seqs = 0;
  int num_tokens = 0;
  int max_context_len = 0;
  int full_table_width = 1;                   // columns of full_block_tables
  int sliding_table_width = 1;                // columns of sliding_block_tables
  std::vector<int32_t> token_ids;             // [T] (kLastSampled kept as is: see step_plan.h)
  std::vector<int32_t> positions;             // [T]
  std::vector<int32_t> query_start;           // [S+1]
  std::vector<int32_t> context_len;           // [S]
  std::vector<int32_t> full_block_tables;     // [S, full_table_width], -1 padded
  std::vector<int32_t> sliding_block_tables;  // [S, sliding_table_width], -1 = released/padding
  std::vector<int32_t> full_slots;            // [T] (-1 if the model has no full layers)
  std::vector<int32_t> sliding_slots;         // [T] (-1 if the model has no sliding layers)
  std::vector<int32_t> logit_rows;            // [R] last token of each sampling sequence
  std::vector<int> sampled;                   // [R] plan index of each sampling sequence

  void Clear();  // empty, keeping the vectors' capacity
};

absl::StatusOr<HostStepBatch> BuildStepBatch(const StepPlan& plan, const StepLimits& limits);
// The same into `out`, reusing its memory (an executor builds one batch per step: at long
// contexts the padded tables are hundreds of KB, and fresh ones cost page faults every step).
absl::Status BuildStepBatch(const StepPlan& plan, const StepLimits& limits, HostStepBatch& out);

// InvalidArgument naming the field if a sequence's sampling parameters are out of range.
absl::Status ValidateSampling(const SequenceStep& step);

}  // namespace gptoss
