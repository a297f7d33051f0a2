// CpuOps::Sample: the reference sampler. The exact procedure is spelled out in kernels/ops.h
// (Ops::Sample) so that CudaOps draws the same ids; the step numbers below refer to it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/core/rng.h"
#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/op_contracts.h"

namespace gptoss {
namespace {

using cpu_internal::CheckTensor;

// NaN ranks below -inf so the orderings below are strict weak orders on any input.
float RankKey(float v) { return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v; }

// log_softmax(logits)[id] of the raw distribution (what the API reports), in double.
float LogProb(const float* logits, int64_t vocab, int64_t id) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < vocab; ++i) max_logit = std::max(max_logit, RankKey(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i)
    sum += std::exp(static_cast<double>(RankKey(logits[i])) - max_logit);
  return static_cast<float>(static_cast<double>(logits[id]) - max_logit - std::log(sum));
}

int64_t Greedy(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (RankKey(logits[i]) > RankKey(logits[best])) best = i;  // strict: lowest id wins ties
  return best;
}

int64_t Draw(const float* logits, int64_t vocab, const SamplingParams& p) {
  // Step 2: scaled logits, candidates sorted by z descending, ties by id ascending.
  std::vector<float> z(vocab);
  for (int64_t i = 0; i < vocab; ++i) z[i] = RankKey(logits[i]) / p.temperature;
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  auto before = [&](int32_t a, int32_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); };
  // Step 3: top_k.
  int64_t kept = vocab;
  if (p.top_k > 0 && p.top_k < vocab) {
    kept = p.top_k;
    std::partial_sort(order.begin(), order.begin() + kept, order.end(), before);
  } else {
    std::sort(order.begin(), order.end(), before);
  }
  // Step 4: softmax over the kept candidates, relative to the largest.
  const float z0 = z[order[0]];
  std::vector<double> prob(kept);
  double total = 0;
  for (int64_t j = 0; j < kept; ++j) {
    prob[j] =
        std::isinf(z0) && z[order[j]] == z0 ? 1.0 : std::exp(static_cast<double>(z[order[j]]) - z0);
    total += prob[j];
  }
  for (int64_t j = 0; j < kept; ++j) prob[j] /= total;
  // Step 5: top_p, the shortest prefix whose cumulative probability reaches top_p.
  if (p.top_p < 1.0f) {
    double cumulative = 0;
    int64_t j = 0;
    while (j < kept) {
      cumulative += prob[j++];
      if (cumulative >= p.top_p) break;
    }
    kept = std::max<int64_t>(j, 1);
  }
  // Step 6: min_p relative to the most likely candidate (prob is sorted descending).
  if (p.min_p > 0.0f) {
    const double threshold = static_cast<double>(p.min_p) * prob[0];
    int64_t j = 1;
    while (j < kept && prob[j] >= threshold) ++j;
    kept = j;
  }
  // Step 7: inverse-CDF draw over the kept candidates with the counter-based uniform.
  double kept_total = 0;
  for (int64_t j = 0; j < kept; ++j) kept_total += prob[j];
  const double target = static_cast<double>(UniformFromSeed(p.seed, p.step)) * kept_total;
  double running = 0;
  for (int64_t j = 0; j < kept; ++j) {
    running += prob[j];
    if (running > target) return order[j];
  }
  return order[kept - 1];
}

}  // namespace

absl::Status CpuOps::Sample(const TensorView& logits, const std::vector<SamplingParams>& params,
                            TensorView ids, TensorView logprobs) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(logits, "Sample logits", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(ids, "Sample ids", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(logprobs, "Sample logprobs", DType::kF32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckSampleArgs(logits, params, ids, logprobs));
  const int64_t rows = logits.dim(0), vocab = logits.dim(1);
  for (int64_t b = 0; b < rows; ++b) {
    const float* l = logits.as<float>() + b * vocab;
    // Step 1: temperature <= 0 is greedy.
    const int64_t id = params[b].temperature <= 0.0f ? Greedy(l, vocab) : Draw(l, vocab, params[b]);
    ids.as<int32_t>()[b] = static_cast<int32_t>(id);
    logprobs.as<float>()[b] = LogProb(l, vocab, id);
  }
  return absl::OkStatus();
}

}  // namespace gptoss
