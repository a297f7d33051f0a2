// CpuOps MoE path: router top-k and the MXFP4 expert MLP. Reference: transformers 5.23.0
// GptOssTopKRouter, GptOssExperts (eager) and integrations/mxfp4.py.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/op_contracts.h"
#include "kernels/cpu/mxfp4.h"

namespace gptoss {
namespace {

using cpu_internal::CheckTensor;
using cpu_internal::LoadFloat;

// NaN ranks below every number so that selection is a strict order even on garbage logits.
float RankKey(float v) { return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v; }

// Dtypes and host memory of one MXFP4 projection (its shapes are the op contract's).
absl::Status CheckMxfp4Tensors(const TensorView& blocks, const TensorView& scales,
                               const TensorView& bias, const char* name) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(blocks, name, DType::kU8, 4));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(scales, name, DType::kU8, 3));
  return CheckTensor(bias, name, bias.dtype == DType::kF32 ? DType::kF32 : DType::kBF16, 2);
}

// out[p][n] = W[e] row n · in[p] + bias[e][n] for every input vector p, decoding each MXFP4 row
// once (on the fly; no dequantized copy of the expert is kept).
void Mxfp4Project(const TensorView& blocks, const TensorView& scales, const TensorView& bias,
                  int64_t e, int64_t n_out, int64_t k, const std::vector<const float*>& in,
                  std::vector<std::vector<float>>& out) {
  std::vector<float> row(k);
  const uint8_t* bl = blocks.as<uint8_t>() + e * n_out * (k / 32) * 16;
  const uint8_t* sc = scales.as<uint8_t>() + e * n_out * (k / 32);
  for (int64_t n = 0; n < n_out; ++n) {
    DecodeMxfp4Row(bl + n * (k / 32) * 16, sc + n * (k / 32), k, row.data());
    const double b = LoadFloat(bias, e * n_out + n);
    for (size_t p = 0; p < in.size(); ++p) {
      double acc = 0;
      for (int64_t i = 0; i < k; ++i) acc += static_cast<double>(in[p][i]) * row[i];
      out[p][n] = static_cast<float>(acc + b);
    }
  }
}

}  // namespace

absl::Status CpuOps::RouterTopK(const TensorView& logits, int k, TensorView expert_ids,
                                TensorView expert_weights) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(logits, "RouterTopK logits", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(expert_ids, "RouterTopK expert_ids", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(expert_weights, "RouterTopK expert_weights", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckRouterTopKShapes(logits, k, expert_ids, expert_weights));
  const int64_t n = logits.dim(0), experts = logits.dim(1);
  std::vector<char> taken(experts);
  std::vector<float> top(k);
  for (int64_t t = 0; t < n; ++t) {
    const float* l = logits.as<float>() + t * experts;
    int32_t* ids = expert_ids.as<int32_t>() + t * k;
    float* w = expert_weights.as<float>() + t * k;
    std::fill(taken.begin(), taken.end(), 0);
    // HF: torch.topk(router_logits, k) -- sorted descending; ties take the lower expert id.
    for (int j = 0; j < k; ++j) {
      int64_t best = -1;
      for (int64_t e = 0; e < experts; ++e) {
        if (taken[e]) continue;
        if (best < 0 || RankKey(l[e]) > RankKey(l[best])) best = e;
      }
      taken[best] = 1;
      ids[j] = static_cast<int32_t>(best);
      top[j] = l[best];
    }
    // gpt-oss: softmax over the k selected logits only (not over all experts).
    const float max_logit = top[0];
    double sum = 0;
    for (int j = 0; j < k; ++j) {
      top[j] = std::exp(top[j] - max_logit);
      sum += top[j];
    }
    for (int j = 0; j < k; ++j) w[j] = static_cast<float>(top[j] / sum);
  }
  return absl::OkStatus();
}

absl::Status CpuOps::MoeMlp(const TensorView& x, const TensorView& expert_ids,
                            const ExpertWeights& ew, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(x, "MoeMlp x", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(expert_ids, "MoeMlp expert_ids", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(out, "MoeMlp out", DType::kF32, 3));
  GPTOSS_RETURN_IF_ERROR(
      CheckMxfp4Tensors(ew.gate_up_blocks, ew.gate_up_scales, ew.gate_up_bias, "gate_up"));
  GPTOSS_RETURN_IF_ERROR(CheckMxfp4Tensors(ew.down_blocks, ew.down_scales, ew.down_bias, "down"));
  GPTOSS_RETURN_IF_ERROR(CheckMoeMlpShapes(x, expert_ids, ew, out));
  const int64_t n = x.dim(0), hidden = x.dim(1), k = expert_ids.dim(1);
  const int64_t local = ew.num_local;
  const int64_t inter = ew.gate_up_blocks.dim(1) / 2;
  const int32_t* ids = expert_ids.as<int32_t>();
  for (int64_t i = 0; i < n * k; ++i)
    GPTOSS_CHECK_ARG(ids[i] >= 0, "MoeMlp: negative expert id ", ids[i], " at row ", i / k);

  // Rows routed to non-local experts stay zero (expert parallelism).
  std::fill_n(out.as<float>(), out.numel(), 0.0f);
  const float limit = ew.swiglu_limit, alpha = ew.swiglu_alpha;
  for (int64_t e = 0; e < local; ++e) {
    std::vector<int64_t> pairs;  // flat (row, slot) indices routed to expert e
    for (int64_t i = 0; i < n * k; ++i)
      if (ids[i] == ew.first_expert + e) pairs.push_back(i);
    if (pairs.empty()) continue;
    std::vector<const float*> in(pairs.size());
    for (size_t p = 0; p < pairs.size(); ++p) in[p] = x.as<float>() + (pairs[p] / k) * hidden;
    std::vector<std::vector<float>> gate_up(pairs.size(), std::vector<float>(2 * inter));
    Mxfp4Project(ew.gate_up_blocks, ew.gate_up_scales, ew.gate_up_bias, e, 2 * inter, hidden, in,
                 gate_up);

    std::vector<std::vector<float>> act(pairs.size(), std::vector<float>(inter));
    for (size_t p = 0; p < pairs.size(); ++p) {
      for (int64_t i = 0; i < inter; ++i) {
        // gpt-oss: gate_up columns are INTERLEAVED, gate = even, up = odd.
        // Clamps: gate only from above (<= limit), up on both sides ([-limit, limit]).
        const float gate = std::min(gate_up[p][2 * i], limit);
        const float up = std::clamp(gate_up[p][2 * i + 1], -limit, limit);
        // glu = gate * sigmoid(alpha * gate), alpha = 1.702; the "+1 on up" is gpt-oss's.
        const float glu = gate * (1.0f / (1.0f + std::exp(-(gate * alpha))));
        act[p][i] = (up + 1.0f) * glu;
      }
    }
    std::vector<const float*> act_in(pairs.size());
    for (size_t p = 0; p < pairs.size(); ++p) act_in[p] = act[p].data();
    std::vector<std::vector<float>> down(pairs.size(), std::vector<float>(hidden));
    Mxfp4Project(ew.down_blocks, ew.down_scales, ew.down_bias, e, hidden, inter, act_in, down);
    for (size_t p = 0; p < pairs.size(); ++p)
      std::copy(down[p].begin(), down[p].end(), out.as<float>() + pairs[p] * hidden);
  }
  return absl::OkStatus();
}

}  // namespace gptoss
