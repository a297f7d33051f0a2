#include "tools/bench/roofline.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "worker/model/checkpoint_layout.h"

namespace gptoss::bench {
namespace {

bool IsExpertTensor(const std::string& name) { return name.find(".mlp.experts.") != std::string::npos; }

}  // namespace

ModelBytes CountModelBytes(const ModelConfig& c) {
  ModelBytes m;
  double dense = 0, experts = 0;
  int64_t dense_params = 0, expert_params = 0;
  for (const CheckpointTensor& t : CheckpointTensors(c)) {
    const double bytes = static_cast<double>(t.spec.bytes());
    if (t.layer < 0) {
      if (t.role == TensorRole::kEmbedding) {
        m.embed_row = bytes / c.vocab_size;
      } else {
        m.lm_head += bytes;  // final norm and lm_head
        if (t.role == TensorRole::kLmHead) dense_params += t.spec.numel();
      }
    } else if (IsExpertTensor(t.spec.name)) {
      experts += bytes;
      // Parameters of the expert weights: two MXFP4 values per block byte.
      if (t.role == TensorRole::kExpertBlocks) expert_params += 2 * t.spec.numel();
    } else {
      dense += bytes;
      if (t.role == TensorRole::kLinear) dense_params += t.spec.numel();
    }
  }
  const int layers = std::max(1, c.num_hidden_layers);
  m.dense_per_layer = dense / layers;
  m.expert_per_layer = experts / layers / std::max(1, c.num_local_experts);
  m.kv_per_token_layer = 2.0 * c.num_key_value_heads * c.head_dim * 2;  // K and V, bf16
  m.active_params_per_token =
      dense_params + expert_params / std::max(1, c.num_local_experts) * c.num_experts_per_tok;
  return m;
}

double ExpectedExpertsTouched(const ModelConfig& c, int batch) {
  const double e = c.num_local_experts, k = c.num_experts_per_tok;
  if (e <= 0) return 0;
  return e * (1.0 - std::pow(1.0 - k / e, batch));
}

double DecodeStepBytes(const ModelConfig& c, int batch, int context) {
  const ModelBytes m = CountModelBytes(c);
  double bytes = m.lm_head + batch * m.embed_row;
  const double touched = ExpectedExpertsTouched(c, batch);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const bool sliding = l < static_cast<int>(c.layer_types.size()) &&
                         c.layer_types[l] == LayerType::kSlidingAttention;
    const int keys = sliding && c.sliding_window > 0 ? std::min(context, c.sliding_window) : context;
    bytes += m.dense_per_layer + touched * m.expert_per_layer;
    bytes += static_cast<double>(batch) * (keys + 1) * m.kv_per_token_layer;  // read + write
  }
  return bytes;
}

double PrefillFlops(const ModelConfig& c, int prompt_len) {
  const ModelBytes m = CountModelBytes(c);
  double flops = 2.0 * static_cast<double>(m.active_params_per_token) * prompt_len;
  // Attention: QK^T and PV, 2 FLOPs per MAC each, over the causal (or windowed) key ranges.
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const bool sliding = l < static_cast<int>(c.layer_types.size()) &&
                         c.layer_types[l] == LayerType::kSlidingAttention;
    double keys = 0;
    for (int p = 0; p < prompt_len; ++p)
      keys += sliding && c.sliding_window > 0 ? std::min(p + 1, c.sliding_window) : p + 1;
    flops += 4.0 * keys * c.num_attention_heads * c.head_dim;
  }
  return flops;
}

}  // namespace gptoss::bench
