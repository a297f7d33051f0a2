// The deterministic checkpoint generator: writes `config.json` and the weights of a gpt-oss model
// in the exact Hugging Face layout and dtypes (checkpoint_layout.h): MXFP4 experts as U8
// blocks + U8 scales, everything else BF16.
//
// Contract:
//  - Same (config, seed) -> same bytes on any machine. Values come only from integer arithmetic
//    (SplitMix64, kernels/core/rng.h) and exactly rounded IEEE operations (+, -, *, /, sqrt) on
//    doubles; no libm transcendentals, no std::*_distribution, and the file is compiled with
//    -ffp-contract=off so no FMA changes a rounding. Every value is a function of (seed, tensor
//    name, element index) only, so chunking and tensor order cannot change it.
//  - Realistic scale: weights ~ N(0, 1/fan_in) (Irwin-Hall of four uniforms, bounded at 3.46
//    sigma), norm weights mean 1 sigma 0.05, biases sigma 0.05, sinks and embeddings sigma 1,
//    lm_head sigma 2/sqrt(H) (logits of sigma ~2: non-degenerate, far from one-hot; HF's own
//    forward on the tiny preset gives entropy ~10 nats of 12.2 possible); MXFP4 codes uniform over
//    all 16 E2M1 values with per-block E8M0 exponents chosen so the dequantized weights have an RMS
//    within a factor of sqrt(2) of 1/sqrt(fan_in). No NaN or Inf can occur.
//  - Streaming: at most one chunk (a few MB) of one tensor is in memory, so 120b (~65 GB) works.
//  - Layout on disk: a checkpoint of at most `max_shard_bytes` is one `model.safetensors`;
//    larger ones are sharded like the official repos, `model-00000-of-0000N.safetensors` (the
//    official zero-based numbering, N = last index) plus `model.safetensors.index.json`
//    ({"metadata": {"total_size"}, "weight_map"}). Within a file, wider dtypes come first, so
//    every BF16 tensor is 2-byte aligned. Files are written as .tmp and renamed; config.json is
//    written last, so an interrupted run never looks like a checkpoint. A stale
//    model.safetensors / index.json of the other layout in the directory is removed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "kernels/core/synthetic_values.h"
#include "worker/model/checkpoint_layout.h"
#include "worker/model/config.h"

namespace gptoss {

struct CheckpointWriterOptions {
  uint64_t seed = 0;
  uint64_t max_shard_bytes = uint64_t{4} << 30;  // 4 GiB
  // Called after every chunk with the bytes written so far, the total and the current file name.
  std::function<void(uint64_t done, uint64_t total, const std::string& file)> progress;
};

absl::Status WriteCheckpoint(const ModelConfig& config, const std::string& out_dir,
                             const CheckpointWriterOptions& options);

// Total bytes of tensor data a checkpoint for `config` holds (for progress and sanity checks).
uint64_t CheckpointDataBytes(const ModelConfig& config);

// How the generator draws one tensor's values (its stream key, distribution and MXFP4
// exponent); the values themselves are kernels/core/synthetic_values.h's, so gptoss-bench can
// build the same weights in device memory (worker/model/device_weights.h).
SyntheticFill PlanSyntheticFill(const CheckpointTensor& tensor, uint64_t seed, int hidden_size);

}  // namespace gptoss
