// Roofline accounting for gptoss-bench: the bytes a decode step must move through HBM and the
// FLOPs a prefill must do, counted from the checkpoint layout (worker/model/checkpoint_layout.h)
// so they follow the config exactly.
//
// Decode step of B sequences at context C (one new token each):
//   every layer's dense weights (attention q/k/v/o + biases, sinks, norms, router) once,
//   + the experts the step touches: E * (1 - (1 - k/E)^B) of them per layer in expectation
//     (uniform, independent routing; batch 1 touches exactly k = 4), each read once in MXFP4
//     (blocks + scales) plus its bf16 biases,
//   + B embedding rows, the whole bf16 lm_head, the final norm,
//   + the KV cache read by attention (B * min(C, window) keys on sliding layers, B * C on full
//     layers) and the B new K/V rows written.
// Activations are ignored (a few MB per step).
#pragma once

#include <cstdint>

#include "worker/model/config.h"

namespace gptoss::bench {

struct ModelBytes {
  double dense_per_layer = 0;   // bytes read every step, per layer (mean over layers)
  double expert_per_layer = 0;  // bytes of ONE expert of one layer (MXFP4 + biases)
  double lm_head = 0;           // final norm + lm_head
  double embed_row = 0;         // one embedding row
  double kv_per_token_layer = 0;  // K + V of one token in one layer
  int64_t active_params_per_token = 0;  // batch-1 parameters touched per token (for FLOPs)
};

ModelBytes CountModelBytes(const ModelConfig& config);

// Expected experts per layer touched by a batch of B tokens.
double ExpectedExpertsTouched(const ModelConfig& config, int batch);

// Bytes moved by one decode step (B new tokens, each sequence at context `context`).
double DecodeStepBytes(const ModelConfig& config, int batch, int context);

// FLOPs of a prefill of L tokens (2 per MAC: dense + 4 experts per token + attention QK/PV).
double PrefillFlops(const ModelConfig& config, int prompt_len);

}  // namespace gptoss::bench
