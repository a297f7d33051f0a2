// Model presets (see presets.h).
#include "worker/model/presets.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gptoss {
namespace {

// Fields shared by both official releases (config.json of openai/gpt-oss-20b and -120b).
ModelConfig Official(int layers, int experts) {
  ModelConfig c;
  c.vocab_size = 201088;
  c.hidden_size = 2880;
  c.intermediate_size = 2880;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 64;
  c.num_key_value_heads = 8;
  c.head_dim = 64;
  c.num_local_experts = experts;
  c.num_experts_per_tok = 4;
  c.sliding_window = 128;
  c.max_position_embeddings = 131072;
  c.rms_norm_eps = 1e-5f;
  c.swiglu_limit = 7.0f;
  c.swiglu_alpha = 1.702f;
  c.attention_bias = true;
  c.tie_word_embeddings = false;
  c.rope = YarnConfig{/*head_dim=*/64,   /*theta=*/150000.0,
                      /*factor=*/32.0,   /*beta_fast=*/32.0,
                      /*beta_slow=*/1.0, /*original_max_position_embeddings=*/4096,
                      /*truncate=*/false};
  for (int i = 0; i < layers; ++i)
    c.layer_types.push_back(i % 2 == 0 ? LayerType::kSlidingAttention : LayerType::kFullAttention);
  c.eos_token_ids = {200002};  // <|return|>
  c.pad_token_id = 199999;     // <|endoftext|>
  c.experts_mxfp4 = true;
  return c;
}

ModelConfig Tiny() {
  ModelConfig c = Official(/*layers=*/4, /*experts=*/8);
  c.hidden_size = 64;
  c.intermediate_size = 64;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.sliding_window = 16;
  c.max_position_embeddings = 4096;
  c.rope.head_dim = 16;
  c.rope.original_max_position_embeddings = 128;  // 4096 / 128 = factor 32
  return c;
}

// The tiny model with gpt-oss-120b's parallel shape scaled down: 8 kv heads (as 120b) and 32
// experts top-4, so it shards over 1, 2, 4 and 8 ranks like the real model does.
ModelConfig Wide() {
  ModelConfig c = Tiny();
  c.hidden_size = 128;
  c.intermediate_size = 128;
  c.num_attention_heads = 16;
  c.num_key_value_heads = 8;
  c.num_local_experts = 32;
  return c;
}

}  // namespace

std::vector<std::string> PresetNames() { return {"tiny", "wide", "20b", "120b"}; }

absl::StatusOr<ModelConfig> PresetConfig(const std::string& name) {
  if (name == "tiny") return Tiny();
  if (name == "wide") return Wide();
  if (name == "20b") return Official(/*layers=*/24, /*experts=*/32);
  if (name == "120b") return Official(/*layers=*/36, /*experts=*/128);
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown preset '", name, "' (known: ", absl::StrJoin(PresetNames(), ", "), ")"));
}

}  // namespace gptoss
