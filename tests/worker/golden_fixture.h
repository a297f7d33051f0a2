// Golden fixtures (tests/data/golden/, written by tools/golden/make_fixtures.py from Hugging Face
// transformers): loading, regenerating their checkpoints with our generator, and the error
// measure. Shared by the CPU golden tests and the GPU tests (library gptoss_golden_fixture).
//
// A case <name> is configs/<name>.json plus <name>.safetensors holding:
//   prompt_i [P] I32, tokens_i [32] I32 (HF greedy continuation), logits_i [P+32, V] F32
//   (HF logits at every position of prompt + continuation, one forward pass), seed [1] I32,
//   sha256.<file> [32] U8 for every file of the checkpoint the generator wrote for (config, seed).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model/config.h"

namespace gptoss::testing {

// max|dlogit| / max|ref logit| the golden tests accept (the task's bar; HF runs in fp32 too).
inline constexpr double kGoldenTolerance = 1e-4;

struct GoldenSequence {
  std::vector<int32_t> prompt;
  std::vector<int32_t> tokens;  // greedy continuation
  std::vector<float> logits;    // [(prompt + tokens) * vocab]
  // Logits row `r` (position r of prompt + tokens).
  const float* row(int64_t r, int vocab) const { return logits.data() + r * vocab; }
  std::vector<int32_t> full() const;  // prompt followed by tokens
};

struct GoldenCase {
  std::string name;
  std::string config_path;
  ModelConfig config;
  uint64_t seed = 0;
  std::map<std::string, std::string> checkpoint_sha256;  // file name -> lowercase hex
  std::vector<GoldenSequence> sequences;
};

// The committed cases, in a fixed order.
std::vector<std::string> GoldenCaseNames();
absl::StatusOr<GoldenCase> LoadGoldenCase(const std::string& name);

// Writes the case's checkpoint with our generator into `dir` (in-process) and checks that every
// file's sha256 equals the fixture's: a mismatch means the generator drifted and the fixtures
// must be regenerated (tests/data/golden/README.md).
absl::Status WriteGoldenCheckpoint(const GoldenCase& golden, const std::string& dir);

// max_i |a_i - ref_i| / max_i |ref_i|.
double RelativeMaxError(const float* a, const float* ref, size_t n);

}  // namespace gptoss::testing
