// StepPlan / StepResult ⇄ gptoss.v1 proto (proto/gptoss/v1/worker.proto), field by field.
// The coordinator's WorkerPool and the worker's WorkerService both convert through here, so the
// two ends of the internal plane cannot disagree on the encoding.
// Contract:
//  - ToProto never fails. The sliding block table is sent as its tail from the first entry that
//    is not -1 (proto: sliding_first_block + sliding_block_table).
//  - FromProto validates what the wire can get wrong before anything is allocated: counts and
//    positions fit in int32, start_position + number of tokens <= max_positions (the context
//    length), sliding_first_block within that range, top_logprobs <= 20, top_k fits in int.
//    Errors are InvalidArgument naming the sequence and field. Semantic checks against the KV
//    pools (block ids in range, position gaps) stay with the StepExecutor.
//  - Incremental sequences (full_table_from > 0 or sampling_unchanged) need the stream's earlier
//    plans: StepPlanFromProto refuses them unless `incremental` (StepPlanDecoder, which then
//    completes them; step_plan_delta.h).
#pragma once

#include "absl/status/statusor.h"
#include "proto/gptoss/v1/worker.pb.h"
#include "worker/common/step_plan.h"

namespace gptoss {

void ToProto(const StepPlan& plan, v1::StepPlan* out);
// One sequence: its full block table from logical block `full_from` on, its sampling fields
// only if `with_sampling` (else sampling_unchanged).
void ToProto(const SequenceStep& s, size_t full_from, bool with_sampling, v1::SequenceStep* out);
absl::StatusOr<StepPlan> StepPlanFromProto(const v1::StepPlan& plan, int max_positions,
                                           bool incremental = false);

void ToProto(const StepResult& result, v1::StepResult* out);
StepResult StepResultFromProto(const v1::StepResult& result);

}  // namespace gptoss
