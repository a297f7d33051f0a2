// libFuzzer target: arbitrary bytes as a StepPlan from the internal plane, through the worker's
// plan checks: the proto conversion (StepPlanFromProto) and the layout of the step
// (BuildStepBatch, ValidateSampling) that decides what the kernels may touch.
//
// The worker's limits are fixed (small pools so that hostile block ids are often in range).
// Invariants (abort on violation): a refused plan is INVALID_ARGUMENT with a message; an
// accepted plan's batch indexes only inside the vocabulary (but for an entry that is exactly
// one kLastSampled after position 0, which the executor resolves from its history), the pools
// and its own tokens.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "proto/gptoss/v1/worker.pb.h"
#include "worker/engine/step_batch_builder.h"
#include "worker/common/step_plan_proto.h"

namespace {

using namespace gptoss;

constexpr int kMaxPositions = 256;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

void CheckRefusal(const absl::Status& status) {
  Check(status.code() == absl::StatusCode::kInvalidArgument, "refusals are INVALID_ARGUMENT");
  Check(!status.message().empty(), "refusals say why");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::StepPlan proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<StepPlan> plan = StepPlanFromProto(proto, kMaxPositions);
  if (!plan.ok()) return CheckRefusal(plan.status()), 0;
  for (const SequenceStep& step : plan->sequences) {
    absl::Status sampling = ValidateSampling(step);
    if (!sampling.ok()) return CheckRefusal(sampling), 0;
  }
  StepLimits limits;
  limits.vocab_size = 1000;
  limits.max_positions = kMaxPositions;
  limits.block_size = 4;
  limits.num_full_blocks = 32;
  limits.num_sliding_blocks = 16;
  limits.sliding_window = 8;
  absl::StatusOr<HostStepBatch> batch = BuildStepBatch(*plan, limits);
  if (!batch.ok()) return CheckRefusal(batch.status()), 0;

  const int tokens = batch->num_tokens;
  Check(static_cast<int>(batch->token_ids.size()) == tokens, "one id per token");
  Check(static_cast<int>(batch->query_start.size()) == batch->num_seqs + 1, "query starts");
  Check(batch->query_start.front() == 0 && batch->query_start.back() == tokens, "query span");
  for (int s = 0; s < batch->num_seqs; ++s)
    Check(batch->query_start[s] <= batch->query_start[s + 1], "query starts ascend");
  for (int s = 0; s < batch->num_seqs; ++s) {
    const SequenceStep& step = plan->sequences[s];
    const bool fed_back = step.feeds_back();
    Check(!fed_back || step.start_position > 0, "a fed-back token continues a sequence");
    for (int t = batch->query_start[s]; t < batch->query_start[s + 1]; ++t) {
      const int32_t id = batch->token_ids[t];
      Check(fed_back ? id == kLastSampled : id >= 0 && id < limits.vocab_size, "ids in vocab");
    }
  }
  for (int32_t p : batch->positions) Check(p >= 0 && p < limits.max_positions, "positions");
  const int full_slots = limits.num_full_blocks * limits.block_size;
  const int sliding_slots = limits.num_sliding_blocks * limits.block_size;
  for (int32_t slot : batch->full_slots) Check(slot >= 0 && slot < full_slots, "full slots");
  for (int32_t slot : batch->sliding_slots)
    Check(slot >= 0 && slot < sliding_slots, "sliding slots");
  for (int32_t b : batch->full_block_tables)
    Check(b >= -1 && b < limits.num_full_blocks, "full block tables");
  for (int32_t b : batch->sliding_block_tables)
    Check(b >= -1 && b < limits.num_sliding_blocks, "sliding block tables");
  for (int32_t row : batch->logit_rows) Check(row >= 0 && row < tokens, "logit rows");
  return 0;
}
