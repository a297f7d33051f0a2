// The HF tensor list of a gpt-oss checkpoint (see checkpoint_layout.h).
#include "worker/model/checkpoint_layout.h"

#include "absl/strings/str_cat.h"

namespace gptoss {

std::string LayerTensorName(int layer, const std::string& suffix) {
  return absl::StrCat("model.layers.", layer, ".", suffix);
}

std::vector<CheckpointTensor> CheckpointTensors(const ModelConfig& c) {
  const int64_t V = c.vocab_size, H = c.hidden_size, I = c.intermediate_size;
  const int64_t E = c.num_local_experts, D = c.head_dim;
  const int64_t q_out = int64_t{c.num_attention_heads} * D,
                kv_out = int64_t{c.num_key_value_heads} * D;
  std::vector<CheckpointTensor> out;
  auto add = [&](std::string name, DType dtype, std::vector<int64_t> shape, TensorRole role,
                 int layer, int64_t fan_in) {
    out.push_back({TensorSpec{std::move(name), dtype, std::move(shape)}, role, layer, fan_in});
  };
  add(kEmbedName, DType::kBF16, {V, H}, TensorRole::kEmbedding, -1, 0);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    auto name = [&](const char* suffix) { return LayerTensorName(l, suffix); };
    add(name("input_layernorm.weight"), DType::kBF16, {H}, TensorRole::kNorm, l, 0);
    add(name("self_attn.q_proj.weight"), DType::kBF16, {q_out, H}, TensorRole::kLinear, l, H);
    add(name("self_attn.k_proj.weight"), DType::kBF16, {kv_out, H}, TensorRole::kLinear, l, H);
    add(name("self_attn.v_proj.weight"), DType::kBF16, {kv_out, H}, TensorRole::kLinear, l, H);
    add(name("self_attn.o_proj.weight"), DType::kBF16, {H, q_out}, TensorRole::kLinear, l, q_out);
    if (c.attention_bias) {
      add(name("self_attn.q_proj.bias"), DType::kBF16, {q_out}, TensorRole::kBias, l, 0);
      add(name("self_attn.k_proj.bias"), DType::kBF16, {kv_out}, TensorRole::kBias, l, 0);
      add(name("self_attn.v_proj.bias"), DType::kBF16, {kv_out}, TensorRole::kBias, l, 0);
      add(name("self_attn.o_proj.bias"), DType::kBF16, {H}, TensorRole::kBias, l, 0);
    }
    add(name("self_attn.sinks"), DType::kBF16, {c.num_attention_heads}, TensorRole::kSinks, l, 0);
    add(name("post_attention_layernorm.weight"), DType::kBF16, {H}, TensorRole::kNorm, l, 0);
    add(name("mlp.router.weight"), DType::kBF16, {E, H}, TensorRole::kLinear, l, H);
    add(name("mlp.router.bias"), DType::kBF16, {E}, TensorRole::kBias, l, 0);
    // MXFP4: 32 input features per scale byte, 16 bytes (two E2M1 codes each) per block.
    add(name("mlp.experts.gate_up_proj_blocks"), DType::kU8, {E, 2 * I, H / 32, 16},
        TensorRole::kExpertBlocks, l, H);
    add(name("mlp.experts.gate_up_proj_scales"), DType::kU8, {E, 2 * I, H / 32},
        TensorRole::kExpertScales, l, H);
    add(name("mlp.experts.gate_up_proj_bias"), DType::kBF16, {E, 2 * I}, TensorRole::kBias, l, 0);
    add(name("mlp.experts.down_proj_blocks"), DType::kU8, {E, H, I / 32, 16},
        TensorRole::kExpertBlocks, l, I);
    add(name("mlp.experts.down_proj_scales"), DType::kU8, {E, H, I / 32}, TensorRole::kExpertScales,
        l, I);
    add(name("mlp.experts.down_proj_bias"), DType::kBF16, {E, H}, TensorRole::kBias, l, 0);
  }
  add(kFinalNormName, DType::kBF16, {H}, TensorRole::kNorm, -1, 0);
  if (!c.tie_word_embeddings) add(kLmHeadName, DType::kBF16, {V, H}, TensorRole::kLmHead, -1, H);
  return out;
}

}  // namespace gptoss
