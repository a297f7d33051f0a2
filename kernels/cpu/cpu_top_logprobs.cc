// CpuOps::TopLogprobs: the n most likely ids of each row with their log-probabilities. The
// log-softmax is computed exactly as CpuOps::Sample computes its logprob (max in float with NaN
// ranked lowest, sum of exp in double), so the sampled id's entry matches Sample's value.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/op_contracts.h"

namespace gptoss {
namespace {

using cpu_internal::CheckTensor;

float RankKey(float v) { return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v; }

}  // namespace

absl::Status CpuOps::TopLogprobs(const TensorView& logits, TensorView ids, TensorView logprobs) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(logits, "TopLogprobs logits", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(ids, "TopLogprobs ids", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(logprobs, "TopLogprobs logprobs", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTopLogprobsShapes(logits, ids, logprobs));
  const int64_t rows = logits.dim(0), vocab = logits.dim(1), n = ids.dim(1);
  std::vector<int32_t> order(vocab);
  for (int64_t b = 0; b < rows; ++b) {
    const float* l = logits.as<float>() + b * vocab;
    float max_logit = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < vocab; ++i) max_logit = std::max(max_logit, RankKey(l[i]));
    double sum = 0;
    for (int64_t i = 0; i < vocab; ++i)
      sum += std::exp(static_cast<double>(RankKey(l[i])) - max_logit);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int32_t a, int32_t c) {
      return RankKey(l[a]) > RankKey(l[c]) || (RankKey(l[a]) == RankKey(l[c]) && a < c);
    });
    for (int64_t j = 0; j < n; ++j) {
      const int32_t id = order[j];
      ids.as<int32_t>()[b * n + j] = id;
      logprobs.as<float>()[b * n + j] =
          static_cast<float>(static_cast<double>(l[id]) - max_logit - std::log(sum));
    }
  }
  return absl::OkStatus();
}

}  // namespace gptoss
