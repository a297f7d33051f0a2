// LoadWeights: checks a checkpoint against the config and hands out this rank's views
// (see weights.h for the sharding contract).
#include "worker/model/weights.h"

#include <cstring>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/core/status.h"
#include "worker/model/checkpoint_layout.h"
#include "worker/model/safetensors.h"

namespace gptoss {
namespace {

// At most this many names per list in an error message; the rest are counted.
constexpr size_t kMaxNamesShown = 12;

std::string NameList(const std::vector<std::string>& names) {
  std::vector<std::string> shown(names.begin(),
                                 names.begin() + std::min(names.size(), kMaxNamesShown));
  std::string out = absl::StrJoin(shown, ", ");
  if (names.size() > kMaxNamesShown)
    absl::StrAppend(&out, ", ... and ", names.size() - kMaxNamesShown, " more");
  return out;
}

// Rows [first, first + count) of a row-major tensor: contiguous, so a view.

absl::Status CheckLayout(const ModelConfig& c, const ParallelLayout& p) {
  if (p.num_heads != c.num_attention_heads || p.num_kv_heads != c.num_key_value_heads ||
      p.num_experts != c.num_local_experts)
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel layout (heads ", p.num_heads, ", kv heads ", p.num_kv_heads, ", experts ",
        p.num_experts, ") does not match the config (", c.num_attention_heads, ", ",
        c.num_key_value_heads, ", ", c.num_local_experts, ")"));
  // Re-check what ParallelLayout::Create checks, for layouts built by hand.
  if (p.world_size < 1 || p.rank < 0 || p.rank >= p.world_size || p.num_heads % p.world_size ||
      p.num_kv_heads % p.world_size || p.num_experts % p.world_size)
    return absl::InvalidArgumentError(
        absl::StrCat("invalid parallel layout: rank ", p.rank, " of ", p.world_size));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelWeights> AssembleWeights(const std::map<std::string, TensorView>& views,
                                             const ModelConfig& c, const ParallelLayout& p) {
  GPTOSS_RETURN_IF_ERROR(CheckLayout(c, p));
  for (const CheckpointTensor& t : CheckpointTensors(c))
    if (!views.count(t.spec.name))
      return absl::InvalidArgumentError(
          absl::StrCat("AssembleWeights: no view for '", t.spec.name, "'"));
  const int64_t D = c.head_dim, H = c.hidden_size;
  const int heads = p.local_heads(), kv_heads = p.local_kv_heads();
  ModelWeights w;
  w.embed = views.at(kEmbedName);
  w.final_norm = views.at(kFinalNormName);
  w.lm_head = c.tie_word_embeddings ? w.embed : views.at(kLmHeadName);
  // Vocab-parallel lm_head when the world divides the vocabulary (201088 = 2^6 * 3142: any
  // world up to 64 ranks of a power of two); otherwise every rank keeps the whole matrix.
  if (p.world_size > 1 && c.vocab_size % p.world_size == 0) {
    const int64_t part = c.vocab_size / p.world_size;
    w.lm_head = w.lm_head.Rows(p.rank * part, part);
  }
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    auto get = [&](const char* suffix) -> TensorView {
      auto it = views.find(LayerTensorName(l, suffix));
      return it == views.end() ? TensorView()
                               : it->second;  // absent: a bias without attention_bias
    };
    LayerWeights lw;
    lw.type = c.layer_types[l];
    lw.input_norm = get("input_layernorm.weight");
    lw.post_attention_norm = get("post_attention_layernorm.weight");
    lw.q_w = get("self_attn.q_proj.weight").Rows(p.first_head() * D, heads * D);
    lw.k_w = get("self_attn.k_proj.weight").Rows(p.first_kv_head() * D, kv_heads * D);
    lw.v_w = get("self_attn.v_proj.weight").Rows(p.first_kv_head() * D, kv_heads * D);
    if (c.attention_bias) {
      lw.q_b = get("self_attn.q_proj.bias").Rows(p.first_head() * D, heads * D);
      lw.k_b = get("self_attn.k_proj.bias").Rows(p.first_kv_head() * D, kv_heads * D);
      lw.v_b = get("self_attn.v_proj.bias").Rows(p.first_kv_head() * D, kv_heads * D);
      // The reduce-scatter after o_proj sums the ranks' partial outputs: only rank 0 adds the bias.
      if (p.rank == 0) lw.o_b = get("self_attn.o_proj.bias");
    }
    const TensorView o_full = get("self_attn.o_proj.weight");
    if (p.world_size == 1) {
      lw.o_w = o_full;
    } else {
      if (o_full.device != Device::kCpu)
        return absl::InvalidArgumentError("AssembleWeights: sharding o_proj needs host views");
      // Columns [first_head*D, (first_head+heads)*D) of every row: strided, so copied.
      const int64_t cols = heads * D, full_cols = o_full.dim(1), first_col = p.first_head() * D;
      auto copy =
          std::make_shared<HostTensor>(DType::kBF16, std::initializer_list<int64_t>{H, cols});
      const auto* src = o_full.as<const uint16_t>();
      auto* dst = copy->as<uint16_t>();
      for (int64_t r = 0; r < H; ++r)
        std::memcpy(dst + r * cols, src + r * full_cols + first_col, static_cast<size_t>(cols) * 2);
      lw.o_w = copy->view();
      w.owned.push_back(std::move(copy));
    }
    lw.sinks = get("self_attn.sinks").Rows(p.first_head(), heads);
    lw.router_w = get("mlp.router.weight");
    lw.router_b = get("mlp.router.bias");
    ExpertWeights& ex = lw.experts;
    ex.first_expert = p.first_expert();
    ex.num_local = p.local_experts();
    ex.swiglu_limit = c.swiglu_limit;
    ex.swiglu_alpha = c.swiglu_alpha;
    ex.gate_up_blocks =
        get("mlp.experts.gate_up_proj_blocks").Rows(ex.first_expert, ex.num_local);
    ex.gate_up_scales =
        get("mlp.experts.gate_up_proj_scales").Rows(ex.first_expert, ex.num_local);
    ex.gate_up_bias = get("mlp.experts.gate_up_proj_bias").Rows(ex.first_expert, ex.num_local);
    ex.down_blocks = get("mlp.experts.down_proj_blocks").Rows(ex.first_expert, ex.num_local);
    ex.down_scales = get("mlp.experts.down_proj_scales").Rows(ex.first_expert, ex.num_local);
    ex.down_bias = get("mlp.experts.down_proj_bias").Rows(ex.first_expert, ex.num_local);
    w.layers.push_back(lw);
  }
  return w;
}

uint64_t ShardBytes(const ModelWeights& w) {
  std::set<const void*> seen;
  uint64_t bytes = 0;
  auto add = [&](const TensorView& t) {
    if (t.data != nullptr && seen.insert(t.data).second) bytes += t.bytes();
  };
  for (const TensorView& t : {w.embed, w.final_norm, w.lm_head}) add(t);
  for (const LayerWeights& l : w.layers) {
    for (const TensorView& t : {l.input_norm, l.post_attention_norm, l.q_w, l.q_b, l.k_w, l.k_b,
                                l.v_w, l.v_b, l.o_w, l.o_b, l.sinks, l.router_w, l.router_b})
      add(t);
    const ExpertWeights& e = l.experts;
    for (const TensorView& t : {e.gate_up_blocks, e.gate_up_scales, e.gate_up_bias,
                                e.down_blocks, e.down_scales, e.down_bias})
      add(t);
  }
  return bytes;
}

absl::StatusOr<ModelWeights> LoadWeights(const Checkpoint& ckpt, const ModelConfig& c,
                                         const ParallelLayout& p) {
  GPTOSS_RETURN_IF_ERROR(CheckLayout(c, p));
  const std::vector<CheckpointTensor> expected = CheckpointTensors(c);

  // Names first, so that a checkpoint for another config reports everything that differs at once.
  std::set<std::string> expected_names;
  std::vector<std::string> missing, unexpected;
  for (const CheckpointTensor& t : expected) {
    expected_names.insert(t.spec.name);
    if (!ckpt.Has(t.spec.name)) missing.push_back(t.spec.name);
  }
  for (const std::string& name : ckpt.names())
    if (!expected_names.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty()) {
    std::string msg = absl::StrCat("checkpoint '", ckpt.path(), "' does not match the config");
    if (!missing.empty())
      absl::StrAppend(&msg, "; ", missing.size(), " missing tensors: ", NameList(missing));
    if (!unexpected.empty())
      absl::StrAppend(&msg, "; ", unexpected.size(), " unexpected tensors: ", NameList(unexpected));
    return absl::InvalidArgumentError(msg);
  }

  std::map<std::string, TensorView> views;
  for (const CheckpointTensor& t : expected) {
    GPTOSS_ASSIGN_OR_RETURN(TensorSpec got, ckpt.Describe(t.spec.name));
    if (got.dtype != t.spec.dtype || got.shape != t.spec.shape)
      return absl::InvalidArgumentError(absl::StrCat(
          ckpt.FileOf(t.spec.name), ": tensor '", t.spec.name, "' is ",
          std::string(DTypeName(got.dtype)), " ", got.ShapeString(), " but the config needs ",
          std::string(DTypeName(t.spec.dtype)), " ", t.spec.ShapeString()));
    GPTOSS_ASSIGN_OR_RETURN(views[t.spec.name], ckpt.Get(t.spec.name));
  }

  return AssembleWeights(views, c, p);
}

}  // namespace gptoss
