// ModelWeights: views of every tensor the forward pass reads, for this rank's shard.
// LoadWeights validates the checkpoint against the config (names, shapes, dtypes; missing and
// unexpected tensors, every name listed) and returns host views into the mmapped checkpoint
// (no copies), which live as long as the Checkpoint. A GPU backend uploads these views to
// device memory.
//
// Sharding (ParallelLayout): q/k/v weights and biases and the sinks are row slices of this
// rank's heads, and the experts are this rank's contiguous expert range: both are plain views.
// o_proj's weight needs the columns of this rank's heads, which are not contiguous in the [H,
// Hq*D] row-major tensor: for world_size > 1 they are copied once into `owned`. o_b is set only
// on rank 0 (empty on other ranks) so that the reduce-scatter after o_proj adds it exactly once.
// lm_head is a row slice of this rank's V/N vocabulary rows when N divides V (the transformer
// gathers the logits), else replicated. Embedding, router and norms are replicated. Without attention_bias the bias views are
// empty; with tie_word_embeddings lm_head is the embedding view.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/model/config.h"
#include "worker/model/parallel_layout.h"

namespace gptoss {

class Checkpoint;  // worker/model/safetensors.h

struct LayerWeights {
  LayerType type = LayerType::kFullAttention;
  TensorView input_norm;           // [H] BF16
  TensorView post_attention_norm;  // [H] BF16
  TensorView q_w, q_b;             // [Hq_local*D, H], [Hq_local*D]
  TensorView k_w, k_b;             // [Hk_local*D, H], [Hk_local*D]
  TensorView v_w, v_b;             // [Hk_local*D, H], [Hk_local*D]
  // q, k and v stacked in one tensor ([(Hq_local + 2 Hk_local)*D, H] and its bias) when the
  // weights live in Ops memory (device_weights.h): q_w/k_w/v_w are then views of its row
  // blocks, and the three projections run as one GEMM. Empty for mmapped host weights.
  TensorView qkv_w, qkv_b;
  TensorView o_w, o_b;             // [H, Hq_local*D], [H] (o_b empty on ranks != 0)
  TensorView sinks;                // [Hq_local] BF16
  TensorView router_w, router_b;   // [E, H], [E] (replicated)
  ExpertWeights experts;           // this rank's experts only
};

struct ModelWeights {
  TensorView embed;       // [V, H] BF16
  TensorView final_norm;  // [H] BF16
  TensorView lm_head;     // [V, H] BF16 (not tied to embed)
  std::vector<LayerWeights> layers;
  std::vector<std::shared_ptr<HostTensor>> owned;  // host copies the views above may point into
};

// This rank's ModelWeights from views of every tensor CheckpointTensors(config) lists, by name,
// in their full (unsharded) checkpoint shapes, which are not re-checked here. LoadWeights calls
// it after validating a checkpoint; uploaded and synthetic device weights
// (worker/model/device_weights.h) use it too. Sharding o_proj (world_size > 1) copies columns on
// the host, so it needs host views.
absl::StatusOr<ModelWeights> AssembleWeights(const std::map<std::string, TensorView>& views,
                                             const ModelConfig& config,
                                             const ParallelLayout& layout);

// Bytes of the distinct tensors `weights` views (a tied lm_head counts once): what this rank
// reads of the checkpoint, or holds on its device.
uint64_t ShardBytes(const ModelWeights& weights);

absl::StatusOr<ModelWeights> LoadWeights(const Checkpoint& checkpoint, const ModelConfig& config,
                                         const ParallelLayout& layout);

}  // namespace gptoss
