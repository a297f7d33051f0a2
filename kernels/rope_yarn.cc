// YaRN inverse frequencies, step by step as transformers' _compute_yarn_parameters
// (modeling_rope_utils.py, 5.23.0). The tensor arithmetic there is fp32 and the correction range
// is Python double; each line below keeps the same precision so the table matches HF's bit for
// bit or within one ulp (tests/kernels/rope_yarn_test.cc checks against an oracle fixture).
#include "kernels/rope_yarn.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace gptoss {
namespace {

// Inverse of "dimension i rotates num_rotations times over max_position_embeddings" (double).
double FindCorrectionDim(double num_rotations, int dim, double base, int max_position_embeddings) {
  return (dim * std::log(max_position_embeddings / (num_rotations * 2 * std::numbers::pi))) /
         (2 * std::log(base));
}

}  // namespace

YarnTable ComputeYarnTable(const YarnConfig& config) {
  YarnTable table;
  const int dim = config.head_dim;
  const int half = dim / 2;
  if (dim <= 0 || half <= 0) return table;

  // HF: attention_factor = get_mscale(factor) = 0.1 * ln(factor) + 1 when factor > 1, else 1.
  // It multiplies cos and sin (not the logits).
  table.attention_scaling =
      static_cast<float>(config.factor <= 1 ? 1.0 : 0.1 * std::log(config.factor) + 1.0);

  // HF: beta_fast/beta_slow fall back to 32/1 when absent or zero ("or 32").
  const double beta_fast = config.beta_fast != 0 ? config.beta_fast : 32.0;
  const double beta_slow = config.beta_slow != 0 ? config.beta_slow : 1.0;
  double low =
      FindCorrectionDim(beta_fast, dim, config.theta, config.original_max_position_embeddings);
  double high =
      FindCorrectionDim(beta_slow, dim, config.theta, config.original_max_position_embeddings);
  // gpt-oss sets truncate: false, so the range keeps its fractional bounds (HF's default is true).
  if (config.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // HF: "Prevent singularity"

  // torch scalar operands are converted to the tensor dtype (fp32) before each op.
  const float base_f = static_cast<float>(config.theta);
  const float factor_f = static_cast<float>(config.factor);
  const float low_f = static_cast<float>(low);
  const float range_f = static_cast<float>(high - low);
  table.inv_freq.resize(half);
  for (int i = 0; i < half; ++i) {
    // pos_freqs = base ** (arange(0, dim, 2).float() / dim)
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    const float pos_freq = std::pow(base_f, exponent);
    const float extrapolation = 1.0f / pos_freq;
    const float interpolation = 1.0f / (factor_f * pos_freq);
    // linear_ramp_factor(low, high, dim // 2), clamped to [0, 1]; extrapolation weight = 1 - ramp.
    float ramp = (static_cast<float>(i) - low_f) / range_f;
    ramp = std::clamp(ramp, 0.0f, 1.0f);
    const float extrapolation_factor = 1.0f - ramp;
    table.inv_freq[i] =
        interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
  }
  return table;
}

}  // namespace gptoss
