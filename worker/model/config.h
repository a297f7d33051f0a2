// ModelConfig: the parsed `config.json` of a gpt-oss checkpoint (model_type "gpt_oss").
// ParseModelConfig accepts both official configs (openai/gpt-oss-20b, -120b) verbatim and
// rejects anything it cannot serve with InvalidArgument naming the field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/rope_yarn.h"

namespace gptoss {

enum class LayerType { kSlidingAttention, kFullAttention };

struct ModelConfig {
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;
  int num_local_experts = 0;
  int num_experts_per_tok = 0;
  int sliding_window = 0;
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-5f;
  float swiglu_limit = 7.0f;
  bool attention_bias = true;
  bool tie_word_embeddings = false;
  YarnConfig rope;                     // rope_theta + rope_scaling (yarn)
  std::vector<LayerType> layer_types;  // size num_hidden_layers
  std::vector<int> eos_token_ids;
  int pad_token_id = -1;
  bool experts_mxfp4 = true;           // quantization_config.quant_method == "mxfp4"
};

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text);
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

// JSON text of a config in the official layout (used by the checkpoint generator).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace gptoss
