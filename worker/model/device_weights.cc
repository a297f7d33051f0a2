#include "worker/model/device_weights.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/core/rng.h"
#include "kernels/core/status.h"

namespace gptoss {
namespace {

absl::StatusOr<TensorView> AllocateLike(Ops& ops, const TensorView& like, OwnedWeights& owned) {
  GPTOSS_ASSIGN_OR_RETURN(std::shared_ptr<void> memory, ops.Allocate(std::max<size_t>(like.bytes(), 1)));
  TensorView view = like;
  view.data = memory.get();
  view.device = ops.device();
  owned.memory.push_back(std::move(memory));
  owned.bytes += like.bytes();
  return view;
}

absl::Status Upload(Ops& ops, TensorView& field, OwnedWeights& owned) {
  if (field.empty()) return absl::OkStatus();  // absent bias
  GPTOSS_CHECK_ARG(field.device == Device::kCpu, "UploadWeights: source tensor is not in host memory");
  const void* src = field.data;
  GPTOSS_ASSIGN_OR_RETURN(TensorView dst, AllocateLike(ops, field, owned));
  GPTOSS_RETURN_IF_ERROR(ops.CopyFromHost(dst.data, src, field.bytes()));
  field = dst;
  return absl::OkStatus();
}

// Fills `dst` (Ops memory) from `src`, a host tensor (upload) or one in Ops memory.
using Place = std::function<absl::Status(const TensorView& src, TensorView dst)>;

// Stacks one projection triple (q, k, v weights, or their biases) into one allocation whose row
// blocks the three views then point at. All three empty (no attention bias): nothing to do.
absl::Status Stack(Ops& ops, TensorView& q, TensorView& k, TensorView& v, TensorView& stacked,
                   OwnedWeights& owned, const Place& place) {
  if (q.empty() && k.empty() && v.empty()) return absl::OkStatus();
  GPTOSS_CHECK_ARG(!q.empty() && !k.empty() && !v.empty() && q.dtype == k.dtype &&
                       k.dtype == v.dtype && q.rank == k.rank && k.rank == v.rank &&
                       (q.rank == 1 || (q.rank == 2 && q.dim(1) == k.dim(1) &&
                                        k.dim(1) == v.dim(1))),
                   "stacking q/k/v: shapes ", q.ShapeString(), ", ", k.ShapeString(), " and ",
                   v.ShapeString(), " do not stack");
  TensorView like = q;
  like.dims[0] = q.dim(0) + k.dim(0) + v.dim(0);
  GPTOSS_ASSIGN_OR_RETURN(stacked, AllocateLike(ops, like, owned));
  int64_t row = 0;
  for (TensorView* part : {&q, &k, &v}) {
    const TensorView dst = stacked.Rows(row, part->dim(0));
    GPTOSS_RETURN_IF_ERROR(place(*part, dst));
    row += part->dim(0);
    *part = dst;
  }
  return absl::OkStatus();
}

absl::Status StackQkv(Ops& ops, LayerWeights& l, OwnedWeights& owned, const Place& place) {
  GPTOSS_RETURN_IF_ERROR(Stack(ops, l.q_w, l.k_w, l.v_w, l.qkv_w, owned, place));
  return Stack(ops, l.q_b, l.k_b, l.v_b, l.qkv_b, owned, place);
}

}  // namespace

absl::StatusOr<OwnedWeights> UploadWeights(const ModelWeights& host, Ops& ops) {
  OwnedWeights owned;
  owned.weights = host;
  owned.weights.owned.clear();
  ModelWeights& w = owned.weights;
  const bool tied = host.lm_head.data == host.embed.data;
  GPTOSS_RETURN_IF_ERROR(Upload(ops, w.embed, owned));
  GPTOSS_RETURN_IF_ERROR(Upload(ops, w.final_norm, owned));
  if (tied) {
    w.lm_head = w.embed;
  } else {
    GPTOSS_RETURN_IF_ERROR(Upload(ops, w.lm_head, owned));
  }
  const Place upload = [&ops](const TensorView& src, TensorView dst) {
    GPTOSS_CHECK_ARG(src.device == Device::kCpu, "UploadWeights: source tensor is not in host memory");
    return ops.CopyFromHost(dst.data, src.data, src.bytes());
  };
  for (LayerWeights& l : w.layers) {
    GPTOSS_RETURN_IF_ERROR(StackQkv(ops, l, owned, upload));
    for (TensorView* t : {&l.input_norm, &l.post_attention_norm, &l.o_w, &l.o_b, &l.sinks,
                          &l.router_w, &l.router_b, &l.experts.gate_up_blocks,
                          &l.experts.gate_up_scales, &l.experts.gate_up_bias,
                          &l.experts.down_blocks, &l.experts.down_scales,
                          &l.experts.down_bias})
      GPTOSS_RETURN_IF_ERROR(Upload(ops, *t, owned));
  }
  return owned;
}

absl::Status FillSyntheticHost(const SyntheticFill& fill, TensorView dst) {
  GPTOSS_CHECK_ARG(dst.device == Device::kCpu, "FillSyntheticHost: destination is not host memory");
  const int64_t n = dst.numel();
  if (fill.kind == SyntheticFill::kGaussianBf16) {
    GPTOSS_CHECK_ARG(dst.dtype == DType::kBF16, "FillSyntheticHost: gaussian fill needs BF16");
    for (int64_t i = 0; i < n; ++i) dst.as<uint16_t>()[i] = SyntheticBf16(fill, i);
  } else {
    GPTOSS_CHECK_ARG(dst.dtype == DType::kU8, "FillSyntheticHost: MXFP4 fills need U8");
    for (int64_t i = 0; i < n; ++i) dst.as<uint8_t>()[i] = SyntheticByte(fill, i);
  }
  return absl::OkStatus();
}

absl::StatusOr<OwnedWeights> SyntheticWeights(const ModelConfig& config, uint64_t seed, Ops& ops,
                                              const SyntheticFiller& fill,
                                              std::optional<ParallelLayout> shard) {
  GPTOSS_ASSIGN_OR_RETURN(const ParallelLayout one,
                   ParallelLayout::Create(0, 1, config.num_attention_heads,
                                          config.num_key_value_heads, config.num_local_experts));
  const ParallelLayout layout = shard.value_or(one);
  OwnedWeights owned;
  std::map<std::string, TensorView> views;
  for (const CheckpointTensor& t : CheckpointTensors(config)) {
    TensorView like(nullptr, t.spec.dtype, {}, ops.device());
    GPTOSS_CHECK_ARG(t.spec.shape.size() <= 4, "SyntheticWeights: rank of ", t.spec.name);
    like.rank = static_cast<int>(t.spec.shape.size());
    for (int i = 0; i < like.rank; ++i) like.dims[i] = t.spec.shape[i];
    GPTOSS_ASSIGN_OR_RETURN(TensorView view, AllocateLike(ops, like, owned));
    GPTOSS_RETURN_IF_ERROR(fill(PlanSyntheticFill(t, seed, config.hidden_size), view));
    views[t.spec.name] = view;
  }
  GPTOSS_ASSIGN_OR_RETURN(owned.weights, AssembleWeights(views, config, layout));
  // Stack q/k/v by device copies, then free the separate tensors (at world size 1, where each
  // view is its whole allocation; a shard's slices keep their full tensors).
  const Place copy = [&ops](const TensorView& src, TensorView dst) { return ops.Copy(src, dst); };
  for (LayerWeights& l : owned.weights.layers) {
    const std::vector<TensorView> separate = {l.q_w, l.k_w, l.v_w, l.q_b, l.k_b, l.v_b};
    GPTOSS_RETURN_IF_ERROR(StackQkv(ops, l, owned, copy));
    GPTOSS_RETURN_IF_ERROR(ops.Synchronize());  // the copies have read the separate tensors
    for (const TensorView& t : separate) {
      auto it = std::find_if(owned.memory.begin(), owned.memory.end(),
                             [&](const std::shared_ptr<void>& m) { return m.get() == t.data; });
      if (layout.world_size != 1 || t.empty() || it == owned.memory.end()) continue;
      owned.memory.erase(it);
      owned.bytes -= t.bytes();
    }
  }
  return owned;
}

}  // namespace gptoss
