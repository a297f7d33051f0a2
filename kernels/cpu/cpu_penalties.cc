// CpuOps::ApplyPenalties: repetition (HF/CTRL, multiplicative, over every seen token) then
// presence/frequency (OpenAI, additive, over completion tokens), as specified in kernels/ops.h.
#include <cmath>

#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/op_contracts.h"

namespace gptoss {

using cpu_internal::CheckTensor;

absl::Status CpuOps::ApplyPenalties(TensorView logits, const TensorView& tokens,
                                    const TensorView& counts,
                                    const std::vector<PenaltyParams>& params) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(logits, "ApplyPenalties logits", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(tokens, "ApplyPenalties tokens", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(counts, "ApplyPenalties counts", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckPenaltyArgs(logits, tokens, counts, params));
  const int64_t rows = logits.dim(0), vocab = logits.dim(1), width = tokens.dim(1);
  for (int64_t b = 0; b < rows; ++b) {  // the ids and counts are host memory here: checked too
    for (int64_t j = 0; j < width; ++j) {
      const int32_t id = tokens.as<int32_t>()[b * width + j];
      const int32_t count = counts.as<int32_t>()[b * width + j];
      GPTOSS_CHECK_ARG(id >= -1 && id < vocab, "ApplyPenalties: token ", id, " at [", b, ",", j,
                       "] not in [-1, ", vocab, ")");
      GPTOSS_CHECK_ARG(count >= 0, "ApplyPenalties: negative count at [", b, ",", j, "]");
    }
  }
  for (int64_t b = 0; b < rows; ++b) {
    const PenaltyParams& p = params[b];
    float* row = logits.as<float>() + b * vocab;
    for (int64_t j = 0; j < width; ++j) {
      const int32_t id = tokens.as<int32_t>()[b * width + j];
      if (id < 0) continue;
      const int32_t count = counts.as<int32_t>()[b * width + j];
      float l = row[id];
      if (p.repetition != 1.0f) l = l > 0.0f ? l / p.repetition : l * p.repetition;
      if (count > 0) l -= p.frequency * static_cast<float>(count) + p.presence;
      row[id] = l;
    }
  }
  return absl::OkStatus();
}

}  // namespace gptoss
