#include "tests/worker/golden_fixture.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/core/status.h"
#include "tests/worker/sha256_for_test.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/safetensors.h"

namespace gptoss::testing {
namespace {

std::string GoldenDir() { return std::string(GPTOSS_SOURCE_DIR) + "/tests/data/golden"; }

template <typename T>
absl::StatusOr<std::vector<T>> ReadVector(const Checkpoint& file, const std::string& name,
                                          DType dtype) {
  GPTOSS_ASSIGN_OR_RETURN(TensorView t, file.Get(name));
  if (t.dtype != dtype)
    return absl::InvalidArgumentError(absl::StrCat("golden fixture tensor ", name, " has dtype ",
                                                   std::string(DTypeName(t.dtype))));
  const T* p = t.as<T>();
  return std::vector<T>(p, p + t.numel());
}

std::string Hex(const std::vector<uint8_t>& bytes) {
  std::string out;
  char buf[3];
  for (uint8_t b : bytes) {
    std::snprintf(buf, sizeof(buf), "%02x", b);
    out += buf;
  }
  return out;
}

}  // namespace

std::vector<int32_t> GoldenSequence::full() const {
  std::vector<int32_t> out = prompt;
  out.insert(out.end(), tokens.begin(), tokens.end());
  return out;
}

std::vector<std::string> GoldenCaseNames() {
  return {"swa_yarn", "deep_gqa", "mha_top1", "batch2"};
}

absl::StatusOr<GoldenCase> LoadGoldenCase(const std::string& name) {
  GoldenCase golden;
  golden.name = name;
  golden.config_path = GoldenDir() + "/configs/" + name + ".json";
  GPTOSS_ASSIGN_OR_RETURN(golden.config, LoadModelConfig(golden.config_path));
  GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> file,
                   Checkpoint::Open(GoldenDir() + "/" + name + ".safetensors"));
  GPTOSS_ASSIGN_OR_RETURN(std::vector<int32_t> seed, ReadVector<int32_t>(*file, "seed", DType::kI32));
  if (seed.size() != 1)
    return absl::InvalidArgumentError("golden fixture: seed must hold one value");
  golden.seed = static_cast<uint64_t>(seed[0]);
  for (const std::string& tensor : file->names()) {
    if (tensor.rfind("sha256.", 0) != 0) continue;
    GPTOSS_ASSIGN_OR_RETURN(std::vector<uint8_t> digest, ReadVector<uint8_t>(*file, tensor, DType::kU8));
    golden.checkpoint_sha256[tensor.substr(7)] = Hex(digest);
  }
  const int vocab = golden.config.vocab_size;
  for (int i = 0; file->Has("prompt_" + std::to_string(i)); ++i) {
    GoldenSequence seq;
    const std::string suffix = std::to_string(i);
    GPTOSS_ASSIGN_OR_RETURN(seq.prompt, ReadVector<int32_t>(*file, "prompt_" + suffix, DType::kI32));
    GPTOSS_ASSIGN_OR_RETURN(seq.tokens, ReadVector<int32_t>(*file, "tokens_" + suffix, DType::kI32));
    GPTOSS_ASSIGN_OR_RETURN(seq.logits, ReadVector<float>(*file, "logits_" + suffix, DType::kF32));
    if (seq.logits.size() != (seq.prompt.size() + seq.tokens.size()) * static_cast<size_t>(vocab))
      return absl::InvalidArgumentError(
          absl::StrCat("golden fixture ", name, ": logits_", i, " does not hold every position"));
    golden.sequences.push_back(std::move(seq));
  }
  if (golden.sequences.empty() || golden.checkpoint_sha256.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("golden fixture ", name, " holds no sequences or digests"));
  return golden;
}

absl::Status WriteGoldenCheckpoint(const GoldenCase& golden, const std::string& dir) {
  CheckpointWriterOptions options;
  options.seed = golden.seed;
  GPTOSS_RETURN_IF_ERROR(WriteCheckpoint(golden.config, dir, options));
  std::vector<std::string> written;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    written.push_back(entry.path().filename().string());
  std::sort(written.begin(), written.end());
  std::vector<std::string> expected;
  for (const auto& [file, digest] : golden.checkpoint_sha256) expected.push_back(file);
  if (written != expected)
    return absl::FailedPreconditionError(
        absl::StrCat("generator drift: the checkpoint for ", golden.name, " has files {",
                     absl::StrJoin(written, ", "), "}, the fixture {",
                     absl::StrJoin(expected, ", "), "}; regenerate the fixtures"));
  for (const auto& [file, digest] : golden.checkpoint_sha256) {
    const std::string got = Sha256OfFile(dir + "/" + file);
    if (got != digest)
      return absl::FailedPreconditionError(
          absl::StrCat("generator drift: ", golden.name, "/", file, " has sha256 ", got,
                       ", the fixture was made from ", digest,
                       "; regenerate the fixtures (tests/data/golden/README.md)"));
  }
  return absl::OkStatus();
}

double RelativeMaxError(const float* a, const float* ref, size_t n) {
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - ref[i]);
    max_diff = std::isnan(d) ? INFINITY : std::max(max_diff, d);
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref[i])));
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

}  // namespace gptoss::testing
