// Model weights in Ops memory (device memory for CudaOps), owned together with their views:
//  - UploadWeights: copies host ModelWeights (views into an mmapped checkpoint) tensor by tensor
//    with Ops::Allocate + Ops::CopyFromHost.
//  - SyntheticWeights: allocates every tensor of a config and fills it in place with the
//    checkpoint generator's values for a seed (kernels/core/synthetic_values.h), so a GPU run of
//    the 20b/120b shapes needs no checkpoint file. The filler is backend-specific: CUDA uses the
//    fill kernel (kernels/cuda/synthetic_fill.h), the host one is FillSyntheticHost.
// Both stack each layer's q, k and v projections (and biases) into one tensor (LayerWeights
// qkv_w / qkv_b) so that the forward pass runs them as one GEMM.
// Contract: the returned views stay valid as long as the OwnedWeights lives (and, for a shard,
// the host copies in weights.owned).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/core/synthetic_values.h"
#include "worker/model/checkpoint_writer.h"  // PlanSyntheticFill
#include "kernels/ops.h"
#include "worker/model/checkpoint_layout.h"
#include "worker/model/config.h"
#include "worker/model/weights.h"

namespace gptoss {

struct OwnedWeights {
  ModelWeights weights;
  std::vector<std::shared_ptr<void>> memory;
  uint64_t bytes = 0;  // total bytes allocated for tensors
};

absl::StatusOr<OwnedWeights> UploadWeights(const ModelWeights& host, Ops& ops);


using SyntheticFiller = std::function<absl::Status(const SyntheticFill&, TensorView dst)>;

// Fills a host tensor (BF16 for gaussian plans, U8 for MXFP4 plans).
absl::Status FillSyntheticHost(const SyntheticFill& fill, TensorView dst);

// The whole model's tensors, filled; `shard` (default world size 1) picks the views of one
// rank. Every rank allocates the full model (fine for the CPU benchmark's small presets; a
// sharded GPU fill of the 120b shapes would allocate only the rank's slices). Sharding o_proj
// copies columns on the host, so shards other than world size 1 need host memory.
absl::StatusOr<OwnedWeights> SyntheticWeights(const ModelConfig& config, uint64_t seed, Ops& ops,
                                              const SyntheticFiller& fill,
                                              std::optional<ParallelLayout> shard = std::nullopt);

}  // namespace gptoss
