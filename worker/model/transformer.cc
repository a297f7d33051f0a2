// The gpt-oss forward pass, top to bottom, against Ops only (CpuOps and CudaOps alike).
// Reference: transformers 5.23.0 modeling_gpt_oss.py (GptOssModel / GptOssDecoderLayer) and
// openai/gpt-oss torch/model.py. Per layer:
//   x += o_proj(attention_with_sinks(rope(q), rope(k), v))      (pre-norm: input_layernorm)
//   x += sum_j w_j * expert_{id_j}(h),  ids/w = router top-k      (pre-norm:
//   post_attention_layernorm)
// then logits = lm_head(norm(x)) for the requested rows.
//
// Parallel structure: attention runs over this rank's heads and the MoE over this rank's expert
// range (ParallelLayout). World size 1 needs no communication; the TP reduce-scatter / all-gather
// after o_proj and the EP dispatch/combine around the experts belong where marked "TP:"/"EP:" and
// arrive with the communicator (a later issue), so Create rejects world_size > 1 for now.
#include "worker/model/transformer.h"

#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "kernels/rope_yarn.h"

namespace gptoss {
namespace {

// One device buffer viewed as a tensor; grows (never shrinks) so pointers stay stable across
// steps of the same or smaller size (CUDA graphs replay them).
struct Scratch {
  std::shared_ptr<void> memory;
  size_t bytes = 0;

  absl::StatusOr<TensorView> View(Ops* ops, DType dtype, std::initializer_list<int64_t> shape) {
    TensorView view(nullptr, dtype, shape, ops->device());
    if (view.bytes() > bytes) {
      GPTOSS_ASSIGN_OR_RETURN(memory, ops->Allocate(view.bytes()));
      bytes = view.bytes();
    }
    view.data = memory.get();
    return view;
  }
};

class TransformerImpl final : public Transformer {
 public:
  TransformerImpl(const ModelConfig& config, const ModelWeights& weights,
                  const ParallelLayout& layout, Ops* ops)
      : config_(config), weights_(weights), layout_(layout), ops_(ops) {}

  absl::Status Init();
  absl::Status Forward(const StepBatch& batch, KvCache& cache, TensorView logits) override;

 private:
  absl::Status Layer(int l, const StepBatch& batch, KvLayerView cache, int64_t n);

  const ModelConfig config_;
  const ModelWeights weights_;
  const ParallelLayout layout_;
  Ops* const ops_;
  DType act_ = DType::kF32;
  int heads_ = 0, kv_heads_ = 0, head_dim_ = 0, hidden_ = 0, top_k_ = 0;
  float scale_ = 1.0f;
  std::shared_ptr<void> inv_freq_;
  RopeTable rope_;
  // Activations of one step (T = tokens of the step, R = logit rows).
  TensorView x_, h_, q_, k_, v_, attn_, o_, router_logits_, expert_ids_, expert_weights_, moe_rows_;
  Scratch sx_, sh_, sq_, sk_, sv_, sattn_, so_, srl_, sids_, sw_, srows_, sfin_, sfin_norm_;
};

absl::Status TransformerImpl::Init() {
  const ModelConfig& c = config_;
  GPTOSS_CHECK_ARG(ops_ != nullptr, "Transformer: null ops");
  if (layout_.world_size != 1) {
    return absl::UnimplementedError(absl::StrCat(
        "Transformer: world size ", layout_.world_size,
        " needs the TP/EP communicator, which is not wired in yet; run with world size 1"));
  }
  GPTOSS_CHECK_ARG(static_cast<int>(weights_.layers.size()) == c.num_hidden_layers &&
                       static_cast<int>(c.layer_types.size()) == c.num_hidden_layers,
                   "Transformer: ", weights_.layers.size(), " layer weights and ",
                   c.layer_types.size(), " layer types for ", c.num_hidden_layers, " layers");
  GPTOSS_CHECK_ARG(c.head_dim > 0 && c.head_dim % 2 == 0, "Transformer: head_dim ", c.head_dim,
                   " must be positive and even");
  GPTOSS_CHECK_ARG(c.num_experts_per_tok >= 1 && c.num_experts_per_tok <= c.num_local_experts,
                   "Transformer: experts per token ", c.num_experts_per_tok, " out of range");
  act_ = ops_->activation_dtype();
  heads_ = layout_.local_heads();
  kv_heads_ = layout_.local_kv_heads();
  head_dim_ = c.head_dim;
  hidden_ = c.hidden_size;
  top_k_ = c.num_experts_per_tok;
  // HF: self.scaling = head_dim ** -0.5 (1/8 for head_dim 64).
  scale_ = static_cast<float>(std::pow(static_cast<double>(head_dim_), -0.5));

  // YaRN inverse frequencies, computed once on the host and uploaded (kernels/rope_yarn.h).
  YarnConfig yarn = c.rope;
  yarn.head_dim = head_dim_;
  const YarnTable table = ComputeYarnTable(yarn);
  const size_t bytes = table.inv_freq.size() * sizeof(float);
  GPTOSS_ASSIGN_OR_RETURN(inv_freq_, ops_->Allocate(bytes));
  GPTOSS_RETURN_IF_ERROR(ops_->CopyFromHost(inv_freq_.get(), table.inv_freq.data(), bytes));
  rope_.inv_freq = TensorView(inv_freq_.get(), DType::kF32,
                              {static_cast<int64_t>(table.inv_freq.size())}, ops_->device());
  rope_.attention_scaling = table.attention_scaling;
  return absl::OkStatus();
}

absl::Status TransformerImpl::Forward(const StepBatch& batch, KvCache& cache, TensorView logits) {
  const int64_t n = batch.token_ids.dim(0);
  const int64_t rows = batch.logit_rows.dim(0);
  GPTOSS_CHECK_ARG(
      batch.token_ids.rank == 1 && batch.positions.rank == 1 && batch.positions.dim(0) == n,
      "Forward: token_ids ", batch.token_ids.ShapeString(), " and positions ",
      batch.positions.ShapeString(), " must both be [T]");
  GPTOSS_CHECK_ARG(static_cast<int>(cache.layers.size()) == config_.num_hidden_layers,
                   "Forward: KV cache has ", cache.layers.size(), " layers, the model ",
                   config_.num_hidden_layers);
  GPTOSS_CHECK_ARG(logits.rank == 2 && logits.dim(0) == rows &&
                       logits.dim(1) == config_.vocab_size && logits.dtype == DType::kF32,
                   "Forward: logits ", logits.ShapeString(), " must be F32 [", rows, ",",
                   config_.vocab_size, "]");
  if (n == 0) return absl::OkStatus();

  const int64_t q_width = static_cast<int64_t>(heads_) * head_dim_;
  const int64_t kv_width = static_cast<int64_t>(kv_heads_) * head_dim_;
  const int64_t experts = config_.num_local_experts;
  GPTOSS_ASSIGN_OR_RETURN(x_, sx_.View(ops_, act_, {n, hidden_}));
  GPTOSS_ASSIGN_OR_RETURN(h_, sh_.View(ops_, act_, {n, hidden_}));
  GPTOSS_ASSIGN_OR_RETURN(q_, sq_.View(ops_, act_, {n, q_width}));
  GPTOSS_ASSIGN_OR_RETURN(k_, sk_.View(ops_, act_, {n, kv_width}));
  GPTOSS_ASSIGN_OR_RETURN(v_, sv_.View(ops_, act_, {n, kv_width}));
  GPTOSS_ASSIGN_OR_RETURN(attn_, sattn_.View(ops_, act_, {n, q_width}));
  GPTOSS_ASSIGN_OR_RETURN(o_, so_.View(ops_, act_, {n, hidden_}));
  GPTOSS_ASSIGN_OR_RETURN(router_logits_, srl_.View(ops_, DType::kF32, {n, experts}));
  GPTOSS_ASSIGN_OR_RETURN(expert_ids_, sids_.View(ops_, DType::kI32, {n, top_k_}));
  GPTOSS_ASSIGN_OR_RETURN(expert_weights_, sw_.View(ops_, DType::kF32, {n, top_k_}));
  GPTOSS_ASSIGN_OR_RETURN(moe_rows_, srows_.View(ops_, act_, {n, top_k_, hidden_}));

  GPTOSS_RETURN_IF_ERROR(ops_->Embedding(batch.token_ids, weights_.embed, x_));
  for (int l = 0; l < config_.num_hidden_layers; ++l) {
    GPTOSS_RETURN_IF_ERROR(Layer(l, batch, cache.layers[l], n));
  }
  if (rows == 0) return absl::OkStatus();

  // Only the requested rows go through the final norm and lm_head (prefill wants the last row
  // of each sequence, the golden tests every row): gather them with the embedding op.
  GPTOSS_ASSIGN_OR_RETURN(TensorView fin, sfin_.View(ops_, act_, {rows, hidden_}));
  GPTOSS_ASSIGN_OR_RETURN(TensorView fin_norm, sfin_norm_.View(ops_, act_, {rows, hidden_}));
  GPTOSS_RETURN_IF_ERROR(ops_->Embedding(batch.logit_rows, x_, fin));
  GPTOSS_RETURN_IF_ERROR(ops_->RmsNorm(fin, weights_.final_norm, config_.rms_norm_eps, fin_norm));
  // lm_head is its own matrix (tie_word_embeddings: false), no bias.
  return ops_->Linear(fin_norm, weights_.lm_head, TensorView(), logits);
}

absl::Status TransformerImpl::Layer(int l, const StepBatch& batch, KvLayerView cache, int64_t n) {
  const LayerWeights& w = weights_.layers[l];
  const bool sliding = config_.layer_types[l] == LayerType::kSlidingAttention;

  // --- Attention block (pre-norm). RMSNorm in fp32 with eps from the config (1e-5).
  GPTOSS_RETURN_IF_ERROR(ops_->RmsNorm(x_, w.input_norm, config_.rms_norm_eps, h_));
  // q, k, v and o all carry biases in gpt-oss (attention_bias: true).
  GPTOSS_RETURN_IF_ERROR(ops_->Linear(h_, w.q_w, w.q_b, q_));
  GPTOSS_RETURN_IF_ERROR(ops_->Linear(h_, w.k_w, w.k_b, k_));
  GPTOSS_RETURN_IF_ERROR(ops_->Linear(h_, w.v_w, w.v_b, v_));
  const TensorView q3 = q_.Reshaped({n, heads_, head_dim_});
  const TensorView k3 = k_.Reshaped({n, kv_heads_, head_dim_});
  const TensorView v3 = v_.Reshaped({n, kv_heads_, head_dim_});
  // YaRN RoPE on q and k (rotate_half, cos/sin scaled by attention_scaling); v is not rotated.
  GPTOSS_RETURN_IF_ERROR(ops_->RopeYarn(q3, k3, batch.positions, rope_));
  // The cache stores rotated keys, as HF's DynamicCache does.
  GPTOSS_RETURN_IF_ERROR(ops_->AppendKv(k3, v3, sliding ? batch.sliding_slots : batch.full_slots, cache));
  // layer_types alternate sliding (window = sliding_window) and full attention; the sinks are
  // an extra softmax column per head, scale = 1/sqrt(head_dim).
  GPTOSS_RETURN_IF_ERROR(ops_->AttentionWithSinks(q3, cache, w.sinks, sliding ? batch.sliding : batch.full,
                                           sliding ? config_.sliding_window : 0, scale_, attn_));
  // o_proj; its bias is added once (by TP rank 0). TP: reduce-scatter of o_ goes here.
  GPTOSS_RETURN_IF_ERROR(ops_->Linear(attn_, w.o_w, layout_.rank == 0 ? w.o_b : TensorView(), o_));
  GPTOSS_RETURN_IF_ERROR(ops_->AddInPlace(o_, x_));

  // --- MoE block (pre-norm).
  GPTOSS_RETURN_IF_ERROR(ops_->RmsNorm(x_, w.post_attention_norm, config_.rms_norm_eps, h_));
  // Router: linear with bias over ALL experts, top-k, then softmax over the k selected only.
  GPTOSS_RETURN_IF_ERROR(ops_->Linear(h_, w.router_w, w.router_b, router_logits_));
  GPTOSS_RETURN_IF_ERROR(ops_->RouterTopK(router_logits_, top_k_, expert_ids_, expert_weights_));
  // EP: dispatch rows to the ranks owning their experts here; MoeMlp runs the local range only.
  ExpertWeights experts = w.experts;
  experts.swiglu_limit = config_.swiglu_limit;
  experts.swiglu_alpha = config_.swiglu_alpha;
  GPTOSS_RETURN_IF_ERROR(ops_->MoeMlp(h_, expert_ids_, experts, moe_rows_));
  // EP: combine returns the rows here. x += sum_j weight_j * expert_j(h).
  return ops_->MoeCombine(moe_rows_, expert_weights_, x_);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Transformer>> Transformer::Create(const ModelConfig& config,
                                                                 const ModelWeights& weights,
                                                                 const ParallelLayout& layout,
                                                                 Ops* ops) {
  auto transformer = std::make_unique<TransformerImpl>(config, weights, layout, ops);
  GPTOSS_RETURN_IF_ERROR(transformer->Init());
  return std::unique_ptr<Transformer>(std::move(transformer));
}

}  // namespace gptoss
