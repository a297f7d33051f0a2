// The tensors of a gpt-oss checkpoint in the Hugging Face layout, derived from a ModelConfig:
// one list that both the loader (weights.cc, which checks a checkpoint against it) and the
// generator (checkpoint_writer.cc, which writes it) use, so the two can never disagree.
//
//   model.embed_tokens.weight                      [V, H]            BF16
//   model.layers.N.input_layernorm.weight          [H]               BF16
//   model.layers.N.self_attn.q_proj.{weight,bias}  [Hq*D, H], [Hq*D] BF16 (biases iff
//   attention_bias) model.layers.N.self_attn.k_proj.{weight,bias}  [Hk*D, H], [Hk*D] BF16
//   model.layers.N.self_attn.v_proj.{weight,bias}  [Hk*D, H], [Hk*D] BF16
//   model.layers.N.self_attn.o_proj.{weight,bias}  [H, Hq*D], [H]    BF16
//   model.layers.N.self_attn.sinks                 [Hq]              BF16
//   model.layers.N.post_attention_layernorm.weight [H]               BF16
//   model.layers.N.mlp.router.{weight,bias}        [E, H], [E]       BF16
//   model.layers.N.mlp.experts.gate_up_proj_blocks [E, 2I, H/32, 16] U8  (MXFP4 codes)
//   model.layers.N.mlp.experts.gate_up_proj_scales [E, 2I, H/32]     U8  (E8M0 exponents)
//   model.layers.N.mlp.experts.gate_up_proj_bias   [E, 2I]           BF16
//   model.layers.N.mlp.experts.down_proj_blocks    [E, H, I/32, 16]  U8
//   model.layers.N.mlp.experts.down_proj_scales    [E, H, I/32]      U8
//   model.layers.N.mlp.experts.down_proj_bias      [E, H]            BF16
//   model.norm.weight                              [H]               BF16
//   lm_head.weight                                 [V, H]            BF16 (absent iff
//   tie_word_embeddings)
#pragma once

#include <string>
#include <vector>

#include "worker/model/config.h"
#include "worker/model/safetensors.h"

namespace gptoss {

// What a tensor is for: picks the generator's value distribution and documents the layout.
enum class TensorRole {
  kEmbedding,     // embed_tokens
  kNorm,          // RMSNorm weights (near 1)
  kLinear,        // q/k/v/o and router weights, fan_in = input width
  kBias,          // q/k/v/o, router and expert biases
  kSinks,         // per-head attention sink logits
  kExpertBlocks,  // MXFP4 codes, fan_in = input width of the expert projection
  kExpertScales,  // E8M0 scales of those blocks
  kLmHead,        // unembedding
};

struct CheckpointTensor {
  TensorSpec spec;
  TensorRole role = TensorRole::kLinear;
  int layer = -1;      // -1 for embed, final norm and lm_head
  int64_t fan_in = 0;  // input features feeding one output (kLinear, kExpertBlocks, kLmHead)
};

// Tensor names, exactly as in the HF checkpoints.
std::string LayerTensorName(int layer, const std::string& suffix);
inline constexpr char kEmbedName[] = "model.embed_tokens.weight";
inline constexpr char kFinalNormName[] = "model.norm.weight";
inline constexpr char kLmHeadName[] = "lm_head.weight";

// Every tensor of a checkpoint for `config`, in a canonical order: embed, then each layer
// (norms, attention, router, experts), then the final norm and lm_head.
std::vector<CheckpointTensor> CheckpointTensors(const ModelConfig& config);

}  // namespace gptoss
