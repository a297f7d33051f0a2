// SimpleRunner: the tests' oracle, a minimal host-driven runner around Transformer. Everything
// else (gptoss serve, generate, logits, gptoss-bench) runs the paged engine (worker/engine),
// which schedules and pages; this one keeps everything trivial, so that the engine can be
// checked against it:
//  - a contiguous KV cache for up to `max_seqs` sequences of up to `max_len` positions each:
//    sequence slot s owns physical blocks [s*B, (s+1)*B), B = ceil(max_len / block_size), in
//    every layer (full and sliding layers get separate pools of the same geometry);
//  - the sliding layers' block tables mark blocks wholly outside the window of the step's first
//    new token as -1 (released), exercising the contract that attention never reads them;
//  - one Step() runs any mix of prefill chunks and decode tokens for several sequences at once.
// Contract: any world size (Options::comm). Inputs are validated (ids < vocab, lengths <= max_len, slot numbers)
// with InvalidArgument / ResourceExhausted naming the problem. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/model/config.h"
#include "worker/model/transformer.h"
#include "worker/model/weights.h"

namespace gptoss {

class SimpleRunner {
 public:
  struct Options {
    int max_seqs = 4;
    int max_len = 1024;
    int block_size = 16;
    // This rank's link to the others (world size > 1: every rank runs the same calls with the
    // same inputs, holds the weights of its shard, and gets the same logits). Null: world 1.
    Communicator* comm = nullptr;
    DispatchOptions dispatch;  // the expert dispatcher's mode threshold (world size > 1)
  };

  static absl::StatusOr<std::unique_ptr<SimpleRunner>> Create(const ModelConfig& config,
                                                              const ModelWeights& weights, Ops* ops,
                                                              const Options& options);

  // New tokens for sequence slot `seq`; logits of every new token if all_logits, else of the
  // last one only.
  struct SeqInput {
    int seq = 0;
    std::vector<int32_t> tokens;
    bool all_logits = false;
  };
  // Appends each input's tokens to its sequence in ONE forward step and returns, per input, its
  // logits rows flattened [rows * vocab] on the host.
  absl::StatusOr<std::vector<std::vector<float>>> Step(const std::vector<SeqInput>& inputs);

  void Reset(int seq);
  void ResetAll();
  int length(int seq) const { return lengths_.at(seq); }
  int vocab_size() const { return config_.vocab_size; }

  // All-position logits [ids.size() * vocab] of one prompt, as a single prefill on slot 0.
  absl::StatusOr<std::vector<float>> PromptLogits(const std::vector<int32_t>& ids);

  struct GenerateOptions {
    int max_tokens = 32;
    SamplingParams sampling;        // `step` is filled in per generated token
    std::vector<int32_t> stop_ids;  // generation of a sequence ends after emitting one of these
    bool record_logits = false;     // keep the logits each token was sampled from
  };
  struct Generation {
    std::vector<int32_t> tokens;  // generated ids (a final stop id included)
    std::vector<float> logits;    // [tokens.size() * vocab] when record_logits
  };
  // Prefills all prompts together in one step (different lengths), then decodes them together
  // in one step per token until each has max_tokens or emitted a stop id.
  absl::StatusOr<std::vector<Generation>> Generate(const std::vector<std::vector<int32_t>>& prompts,
                                                   const GenerateOptions& options);

 private:
  SimpleRunner(const ModelConfig& config, Ops* ops, const Options& options)
      : config_(config), ops_(ops), options_(options) {}

  // Runs one forward step; leaves the logits [rows, vocab] in device memory (logits_view_).
  absl::Status Forward(const std::vector<SeqInput>& inputs, int64_t* rows);

  const ModelConfig config_;
  Ops* const ops_;
  const Options options_;
  int blocks_per_seq_ = 0;
  std::unique_ptr<Transformer> transformer_;
  std::vector<std::shared_ptr<void>> cache_memory_;
  KvCache cache_;
  std::vector<int> lengths_;
  std::shared_ptr<void> logits_memory_;
  size_t logits_bytes_ = 0;
  TensorView logits_view_;
};

}  // namespace gptoss
