// ModelConfig: the parsed `config.json` of a gpt-oss checkpoint (model_type "gpt_oss").
// ParseModelConfig accepts both official configs (openai/gpt-oss-20b, -120b) verbatim and
// rejects anything it cannot serve with InvalidArgument naming the field.
//
// Absent fields take the defaults of transformers' GptOssConfig (5.23): e.g. head_dim 64,
// layer_types alternating sliding/full starting with sliding, sliding_window 128, and YaRN with
// factor 32, beta 32/1, original length 4096, truncate false when neither rope_scaling nor
// rope_parameters is given. Inside a given rope dict HF's own fallbacks apply: an absent
// `truncate` means true, an absent original_max_position_embeddings means
// max_position_embeddings. `experts_per_token` is an alias of `num_experts_per_tok` and
// `num_experts` of `num_local_experts` (they must agree when both are present). A config
// without `quantization_config` (bf16 experts) or with another quant_method is rejected as
// unsupported: the engine only runs MXFP4 experts.
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
  float swiglu_alpha = 1.702f;  // sigmoid gain of the clamped SwiGLU (GptOssConfig default)
  bool attention_bias = true;
  bool tie_word_embeddings = false;
  YarnConfig rope;                     // rope_theta + rope_scaling (yarn)
  std::vector<LayerType> layer_types;  // size num_hidden_layers
  std::vector<int> eos_token_ids;
  int pad_token_id = -1;
  bool experts_mxfp4 = true;  // quantization_config.quant_method == "mxfp4"
};

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text);
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

// JSON text of a config in the official layout (sorted keys, 2-space indent, trailing newline,
// as transformers' save_pretrained writes it; used by the checkpoint generator). For the
// official 20b/120b configs ParseModelConfig followed by ModelConfigToJson reproduces the file
// byte for byte (tests/worker/model_io_config_test.cc).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace gptoss
