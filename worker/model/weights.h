// ModelWeights: views of every tensor the forward pass reads, for this rank's shard.
// LoadWeights validates the checkpoint against the config (names, shapes, dtypes; missing and
// unexpected tensors) and returns host views into the mmapped checkpoint (no copies). A GPU
// backend uploads these views to device memory.
#pragma once

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
  TensorView o_w, o_b;             // [H, Hq_local*D], [H] (bias added once, by tp rank 0)
  TensorView sinks;                // [Hq_local] BF16
  TensorView router_w, router_b;   // [E, H], [E] (replicated)
  ExpertWeights experts;           // this rank's experts only
};

struct ModelWeights {
  TensorView embed;       // [V, H] BF16
  TensorView final_norm;  // [H] BF16
  TensorView lm_head;     // [V, H] BF16 (not tied to embed)
  std::vector<LayerWeights> layers;
};

absl::StatusOr<ModelWeights> LoadWeights(const Checkpoint& checkpoint, const ModelConfig& config,
                                         const ParallelLayout& layout);

}  // namespace gptoss
