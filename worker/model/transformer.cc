// The gpt-oss forward pass, top to bottom, against Ops only (CpuOps and CudaOps alike).
// Reference: transformers 5.23.0 modeling_gpt_oss.py (GptOssModel / GptOssDecoderLayer) and
// openai/gpt-oss torch/model.py. Per layer:
//   x += o_proj(attention_with_sinks(rope(q), rope(k), v))      (pre-norm: input_layernorm)
//   x += sum_j w_j * expert_{id_j}(h),  ids/w = router top-k      (pre-norm:
//   post_attention_layernorm)
// then logits = lm_head(norm(x)) for the requested rows.
//
// Parallel structure (ParallelLayout, transformer.h): attention runs over this rank's heads and
// the MoE over this rank's expert range. World size 1 needs no communication and keeps the
// direct MoE; at N > 1 the steps marked "TP:" and "EP:" exchange rows with the other ranks.
#include "worker/model/transformer.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/core/dtype.h"
#include "kernels/core/status.h"
#include "kernels/rope_yarn.h"
#include "worker/comm/expert_dispatcher.h"
#include "worker/comm/local_communicator.h"

namespace gptoss {
namespace {

// One device buffer viewed as a tensor; grows (never shrinks) so pointers stay stable across
// steps of the same or smaller size (CUDA graphs replay them). Each growth bumps `generation`.
struct Scratch {
  std::shared_ptr<void> memory;
  size_t bytes = 0;

  absl::StatusOr<TensorView> View(Ops* ops, DType dtype, std::initializer_list<int64_t> shape,
                                  uint64_t& generation) {
    TensorView view(nullptr, dtype, shape, ops->device());
    if (view.bytes() > bytes) {
      GPTOSS_ASSIGN_OR_RETURN(memory, ops->Allocate(view.bytes()));
      bytes = view.bytes();
      ++generation;
    }
    view.data = memory.get();
    return view;
  }
};

class TransformerImpl final : public Transformer {
 public:
  TransformerImpl(const ModelConfig& config, const ModelWeights& weights,
                  const ParallelLayout& layout, Ops* ops, Communicator* comm,
                  DispatchOptions dispatch)
      : config_(config),
        weights_(weights),
        layout_(layout),
        ops_(ops),
        comm_(comm),
        dispatch_options_(dispatch) {}

  absl::Status Init();
  int world_size() const { return layout_.world_size; }
  absl::Status Forward(const StepBatch& batch, KvCache& cache, TensorView logits) override;
  void SetMoeObserver(MoeObserver* observer) override {
    observer_ = observer;
    dispatcher_->SetObserver(observer);
  }
  absl::Status ReportRouting(int64_t rows, int64_t step_tokens) override;
  bool HostFree(int64_t tokens) const override {
    const int world = layout_.world_size;
    return world == 1 || (tokens + world - 1) / world <= dispatch_options_.fixed_max_rows;
  }
  // Both only grow, so the sum changes whenever either reallocates.
  uint64_t scratch_generation() const override { return generation_ + dispatcher_->generation(); }

 private:
  absl::Status Attention(int l, const StepBatch& batch, KvLayerView cache, int64_t n);
  // x += o (the attention's output), then x += MoE(norm(x)), over the step's rows x [T, H]
  // with all experts local (world size 1), or over this rank's n rows with the experts spread
  // over the ranks (MoeParallel).
  absl::Status Moe(int l, const TensorView& o, TensorView x);
  // n: this rank's rows; capacity: the step's token slice (the same on every rank).
  absl::Status MoeParallel(int l, const TensorView& o, TensorView x, int64_t n, int64_t capacity);
  ExpertWeights Experts(int l) const;
  absl::Status Logits(const StepBatch& batch, int64_t rows, TensorView logits);

  const ModelConfig config_;
  const ModelWeights weights_;
  const ParallelLayout layout_;
  Ops* const ops_;
  Communicator* comm_;
  LocalCommunicator local_comm_;  // comm_ when the caller gives none (world size 1)
  const DispatchOptions dispatch_options_;
  std::unique_ptr<ExpertDispatcher> dispatcher_;
  bool vocab_parallel_ = false;
  MoeObserver* observer_ = nullptr;
  std::vector<int32_t> host_ids_;  // the routing read back for observer_
  TensorView routing_;  // with an observer: [layers, slice, k] of the step (srouting_)
  uint64_t generation_ = 0;        // scratch_generation()
  DType act_ = DType::kF32;
  int heads_ = 0, kv_heads_ = 0, head_dim_ = 0, hidden_ = 0, top_k_ = 0;
  float scale_ = 1.0f;
  std::shared_ptr<void> inv_freq_;
  RopeTable rope_;
  // Activations of one step (T = tokens of the step padded to a multiple of the world size,
  // R = logit rows).
  TensorView x_, h_, q_, k_, v_, attn_, o_, router_logits_, expert_ids_, expert_weights_, moe_rows_;
  Scratch sx_, sh_, sq_, sk_, sv_, sattn_, so_, srl_, sids_, sw_, srows_, sfin_, sfin_norm_;
  Scratch sslice_, smoe_, sy_, slogits_, sgathered_, sqkv_, srouting_;
};

absl::Status TransformerImpl::Init() {
  const ModelConfig& c = config_;
  GPTOSS_CHECK_ARG(ops_ != nullptr, "Transformer: null ops");
  if (comm_ == nullptr) {
    GPTOSS_CHECK_ARG(layout_.world_size == 1, "Transformer: world size ", layout_.world_size,
                     " needs a communicator");
    comm_ = &local_comm_;
  }
  GPTOSS_CHECK_ARG(comm_->world_size() == layout_.world_size && comm_->rank() == layout_.rank,
                   "Transformer: communicator rank ", comm_->rank(), " of ", comm_->world_size(),
                   " does not match the layout's rank ", layout_.rank, " of ", layout_.world_size);
  GPTOSS_CHECK_ARG(comm_->device() == ops_->device(),
                   "Transformer: the communicator and the ops work on different memory");
  dispatcher_ = std::make_unique<ExpertDispatcher>(comm_, ops_, layout_, dispatch_options_);
  const int64_t vocab = c.vocab_size, lm_rows = weights_.lm_head.rank == 2 ? weights_.lm_head.dim(0) : -1;
  vocab_parallel_ = layout_.world_size > 1 && lm_rows * layout_.world_size == vocab;
  GPTOSS_CHECK_ARG(lm_rows == vocab || vocab_parallel_, "Transformer: lm_head has ", lm_rows,
                   " rows; expected the vocabulary (", vocab, ") or its 1/", layout_.world_size,
                   " slice");
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

  // TP: the reduce-scatter gives every rank the same number of rows, so the step is padded to a
  // multiple of the world size; padding rows are zero and stay zero (no MoE runs on them).
  const int world = layout_.world_size;
  const int64_t padded = (n + world - 1) / world * world;
  const int64_t q_width = static_cast<int64_t>(heads_) * head_dim_;
  const int64_t kv_width = static_cast<int64_t>(kv_heads_) * head_dim_;
  const int64_t experts = config_.num_local_experts;
  GPTOSS_ASSIGN_OR_RETURN(x_, sx_.View(ops_, act_, {padded, hidden_}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(h_, sh_.View(ops_, act_, {n, hidden_}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(q_, sq_.View(ops_, act_, {n, q_width}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(k_, sk_.View(ops_, act_, {n, kv_width}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(v_, sv_.View(ops_, act_, {n, kv_width}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(attn_, sattn_.View(ops_, act_, {n, q_width}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(o_, so_.View(ops_, act_, {padded, hidden_}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(router_logits_, srl_.View(ops_, DType::kF32, {n, experts}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(expert_ids_, sids_.View(ops_, DType::kI32, {n, top_k_}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(expert_weights_, sw_.View(ops_, DType::kF32, {n, top_k_}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(moe_rows_, srows_.View(ops_, act_, {n, top_k_, hidden_}, generation_));
  // The routing of the rows this rank routes ([layers, its slice, k]), recorded on the device.
  routing_ = TensorView();
  if (observer_) {
    GPTOSS_ASSIGN_OR_RETURN(routing_, srouting_.View(ops_, DType::kI32,
                                                     {config_.num_hidden_layers, padded / world,
                                                      top_k_},
                                                     generation_));
  }
  if (padded > n) {
    GPTOSS_RETURN_IF_ERROR(ops_->Zero(x_.Rows(n, padded - n)));
    GPTOSS_RETURN_IF_ERROR(ops_->Zero(o_.Rows(n, padded - n)));
  }

  GPTOSS_RETURN_IF_ERROR(ops_->Embedding(batch.token_ids, weights_.embed, x_.Rows(0, n)));
  const int64_t slice = padded / world;
  const int64_t first = layout_.rank * slice;
  const int64_t owned = std::max<int64_t>(0, std::min(n, first + slice) - first);
  for (int l = 0; l < config_.num_hidden_layers; ++l) {
    GPTOSS_RETURN_IF_ERROR(Attention(l, batch, cache.layers[l], n));
    if (world == 1) {
      GPTOSS_RETURN_IF_ERROR(Moe(l, o_.Rows(0, n), x_.Rows(0, n)));
      continue;
    }
    // TP: sum the ranks' partial o_proj outputs; this rank keeps its slice of the rows (its
    // padding rows are zero in o_ and in x_, and stay so).
    GPTOSS_ASSIGN_OR_RETURN(TensorView o_slice, sslice_.View(ops_, act_, {slice, hidden_}, generation_));
    GPTOSS_RETURN_IF_ERROR(comm_->ReduceScatterSum(o_, o_slice));
    const TensorView x_slice = x_.Rows(first, slice);
    GPTOSS_RETURN_IF_ERROR(MoeParallel(l, o_slice.Rows(0, owned), x_slice.Rows(0, owned), owned, slice));
    // Every rank needs every row for the next attention (in place: the slice sits in x_).
    GPTOSS_RETURN_IF_ERROR(comm_->AllGather(x_slice, x_));
  }
  if (rows == 0) return absl::OkStatus();
  return Logits(batch, rows, logits);
}

absl::Status TransformerImpl::Logits(const StepBatch& batch, int64_t rows, TensorView logits) {
  // Only the requested rows go through the final norm and lm_head (prefill wants the last row
  // of each sequence, the golden tests every row): gather them with the embedding op.
  GPTOSS_ASSIGN_OR_RETURN(TensorView fin, sfin_.View(ops_, act_, {rows, hidden_}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(TensorView fin_norm, sfin_norm_.View(ops_, act_, {rows, hidden_}, generation_));
  GPTOSS_RETURN_IF_ERROR(ops_->Embedding(batch.logit_rows, x_, fin));
  GPTOSS_RETURN_IF_ERROR(ops_->RmsNorm(fin, weights_.final_norm, config_.rms_norm_eps, fin_norm));
  // lm_head is its own matrix (tie_word_embeddings: false), no bias.
  if (!vocab_parallel_) return ops_->Linear(fin_norm, weights_.lm_head, TensorView(), logits);
  // Vocab-parallel: this rank's V/N columns, gathered as [N, R, V/N] blocks, then reordered into
  // [R, V] (row i of rank r's block is columns [r*V/N, (r+1)*V/N) of logits row i).
  const int world = layout_.world_size;
  const int64_t part = weights_.lm_head.dim(0);
  GPTOSS_ASSIGN_OR_RETURN(TensorView mine, slogits_.View(ops_, DType::kF32, {rows, part}, generation_));
  GPTOSS_ASSIGN_OR_RETURN(TensorView all, sgathered_.View(ops_, DType::kF32, {world * rows, part}, generation_));
  GPTOSS_RETURN_IF_ERROR(ops_->Linear(fin_norm, weights_.lm_head, TensorView(), mine));
  GPTOSS_RETURN_IF_ERROR(comm_->AllGather(mine, all));
  // Row i of logits is row i of every rank's block side by side (no host index: capturable).
  std::vector<TensorView> blocks;
  for (int r = 0; r < world; ++r) blocks.push_back(all.Rows(r * rows, rows));
  return ops_->PackRows(blocks, TensorView(),
                        TensorView(logits.data, DType::kU8, {rows, part * world * 4}, logits.device));
}

absl::Status TransformerImpl::Attention(int l, const StepBatch& batch, KvLayerView cache,
                                        int64_t n) {
  const LayerWeights& w = weights_.layers[l];
  const bool sliding = config_.layer_types[l] == LayerType::kSlidingAttention;

  // --- Attention block (pre-norm). RMSNorm in fp32 with eps from the config (1e-5).
  GPTOSS_RETURN_IF_ERROR(ops_->RmsNorm(x_.Rows(0, n), w.input_norm, config_.rms_norm_eps, h_));
  const TensorView q3 = q_.Reshaped({n, heads_, head_dim_});
  const TensorView k3 = k_.Reshaped({n, kv_heads_, head_dim_});
  const TensorView v3 = v_.Reshaped({n, kv_heads_, head_dim_});
  const TensorView& slots = sliding ? batch.sliding_slots : batch.full_slots;
  // q, k, v and o all carry biases in gpt-oss (attention_bias: true). YaRN RoPE on q and k
  // (rotate_half, cos/sin scaled by attention_scaling); v is not rotated. The cache stores
  // rotated keys, as HF's DynamicCache does.
  if (!w.qkv_w.empty()) {  // stacked weights: one GEMM, its column blocks read in place
    GPTOSS_ASSIGN_OR_RETURN(TensorView qkv, sqkv_.View(ops_, act_, {n, w.qkv_w.dim(0)}, generation_));
    GPTOSS_RETURN_IF_ERROR(ops_->Linear(h_, w.qkv_w, w.qkv_b, qkv));
    GPTOSS_RETURN_IF_ERROR(
        ops_->QkvRopeAppendKv(qkv, q3, k3, v3, batch.positions, rope_, slots, cache));
  } else {
    GPTOSS_RETURN_IF_ERROR(ops_->Linear(h_, w.q_w, w.q_b, q_));
    GPTOSS_RETURN_IF_ERROR(ops_->Linear(h_, w.k_w, w.k_b, k_));
    GPTOSS_RETURN_IF_ERROR(ops_->Linear(h_, w.v_w, w.v_b, v_));
    GPTOSS_RETURN_IF_ERROR(ops_->RopeAppendKv(q3, k3, v3, batch.positions, rope_, slots, cache));
  }
  // layer_types alternate sliding (window = sliding_window) and full attention; the sinks are
  // an extra softmax column per head, scale = 1/sqrt(head_dim).
  GPTOSS_RETURN_IF_ERROR(ops_->AttentionWithSinks(q3, cache, w.sinks,
                                                  sliding ? batch.sliding : batch.full,
                                                  sliding ? config_.sliding_window : 0, scale_,
                                                  attn_));
  // o_proj over this rank's heads; its bias is added once (rank 0's weights carry it), so the
  // TP sum of the ranks' partial outputs is the full projection.
  return ops_->Linear(attn_, w.o_w, w.o_b, o_.Rows(0, n));
}

absl::Status TransformerImpl::ReportRouting(int64_t rows, int64_t step_tokens) {
  if (observer_ == nullptr || step_tokens <= 0) return absl::OkStatus();
  GPTOSS_CHECK_ARG(rows >= 0 && rows <= step_tokens, "ReportRouting: ", rows,
                   " rows of a step of ", step_tokens, " tokens");
  // The step's [layers, slice, k] routing of this rank's slice of the rows, where its Forward
  // (or the graph captured from one of the same shape) recorded it: the view is a function of T
  // alone. Real rows come first in the step, so this rank's real rows are a prefix of its slice.
  const int world = layout_.world_size;
  const int64_t slice = (step_tokens + world - 1) / world;
  const int64_t mine = std::clamp<int64_t>(rows - layout_.rank * slice, 0, slice);
  const int64_t per_layer = slice * top_k_;
  if (mine == 0) return absl::OkStatus();
  // Metrics must never fail a step: a step that recorded no routing reports none.
  if (static_cast<size_t>(config_.num_hidden_layers * per_layer) * 4 > srouting_.bytes)
    return absl::OkStatus();
  host_ids_.resize(static_cast<size_t>(config_.num_hidden_layers * per_layer));
  GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(host_ids_.data(), srouting_.memory.get(),
                                          host_ids_.size() * sizeof(int32_t)));
  std::vector<int32_t> layer_ids;
  for (int l = 0; l < config_.num_hidden_layers; ++l) {
    const auto first = host_ids_.begin() + l * per_layer;
    layer_ids.assign(first, first + mine * top_k_);
    observer_->OnRouted(l, layer_ids, mine, top_k_);
  }
  return absl::OkStatus();
}

ExpertWeights TransformerImpl::Experts(int l) const {
  ExpertWeights experts = weights_.layers[l].experts;
  experts.swiglu_limit = config_.swiglu_limit;
  experts.swiglu_alpha = config_.swiglu_alpha;
  return experts;
}

absl::Status TransformerImpl::Moe(int l, const TensorView& o, TensorView x) {
  const LayerWeights& w = weights_.layers[l];
  // --- MoE block (pre-norm): x += o, h = norm(x).
  GPTOSS_RETURN_IF_ERROR(
      ops_->AddRmsNorm(o, x, w.post_attention_norm, config_.rms_norm_eps, h_));
  // Router: linear with bias over ALL experts, top-k, then softmax over the k selected only.
  GPTOSS_RETURN_IF_ERROR(ops_->Router(h_, w.router_w, w.router_b, top_k_, router_logits_,
                                      expert_ids_, expert_weights_));
  // Recorded on the device; ReportRouting reads all layers at once after the step.
  if (!routing_.empty()) GPTOSS_RETURN_IF_ERROR(ops_->Copy(expert_ids_, routing_.Row(l)));
  // x += sum_j weight_j * expert_j(h).
  return ops_->MoeExperts(h_, expert_ids_, expert_weights_, Experts(l), moe_rows_, x);
}

absl::Status TransformerImpl::MoeParallel(int l, const TensorView& o, TensorView x, int64_t n,
                                          int64_t capacity) {
  const LayerWeights& w = weights_.layers[l];
  const TensorView h = h_.Rows(0, n), ids = expert_ids_.Rows(0, n),
                   weights = expert_weights_.Rows(0, n);
  if (n > 0) {  // a rank may own no rows of a short step; it still serves its experts
    GPTOSS_RETURN_IF_ERROR(
        ops_->AddRmsNorm(o, x, w.post_attention_norm, config_.rms_norm_eps, h));
    GPTOSS_RETURN_IF_ERROR(ops_->Router(h, w.router_w, w.router_b, top_k_,
                                        router_logits_.Rows(0, n), ids, weights));
    if (!routing_.empty()) GPTOSS_RETURN_IF_ERROR(ops_->Copy(ids, routing_.Row(l).Rows(0, n)));
  }
  // EP: each row goes to the ranks owning its experts; they run their local experts on it and
  // send back the weighted sum, which the source rank adds into x.
  DispatchedRows rows;
  GPTOSS_ASSIGN_OR_RETURN(DispatchHandle handle, dispatcher_->Dispatch(h, ids, weights, capacity, &rows));
  const int64_t received = handle.num_recv();
  GPTOSS_ASSIGN_OR_RETURN(TensorView y, sy_.View(ops_, act_, {received, hidden_}, generation_));
  if (received > 0) {
    GPTOSS_ASSIGN_OR_RETURN(TensorView out,
                            smoe_.View(ops_, act_, {received, top_k_, hidden_}, generation_));
    GPTOSS_RETURN_IF_ERROR(ops_->Zero(y));
    GPTOSS_RETURN_IF_ERROR(ops_->MoeExperts(rows.x, rows.ids, rows.weights, Experts(l), out, y));
  }
  return dispatcher_->Combine(handle, y, x);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Transformer>> Transformer::Create(const ModelConfig& config,
                                                                 const ModelWeights& weights,
                                                                 const ParallelLayout& layout,
                                                                 Ops* ops, Communicator* comm,
                                                                 DispatchOptions dispatch) {
  auto transformer =
      std::make_unique<TransformerImpl>(config, weights, layout, ops, comm, dispatch);
  GPTOSS_RETURN_IF_ERROR(transformer->Init());
  return std::unique_ptr<Transformer>(std::move(transformer));
}

}  // namespace gptoss
