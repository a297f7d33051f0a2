// Deterministic gpt-oss checkpoint generator (see checkpoint_writer.h for the contract).
// This file is compiled with -ffp-contract=off (worker/model/CMakeLists.txt): the value of every
// weight must be the same rounded IEEE result on every machine and compiler.
#include "worker/model/checkpoint_writer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/core/dtype.h"
#include "kernels/core/rng.h"
#include "kernels/core/synthetic_values.h"
#include "kernels/core/status.h"
#include "nlohmann/json.hpp"
#include "worker/model/checkpoint_layout.h"
#include "worker/model/safetensors_writer.h"

namespace gptoss {
namespace {

constexpr size_t kChunkBytes = size_t{4} << 20;
constexpr char kIndexFile[] = "model.safetensors.index.json";
constexpr char kSingleFile[] = "model.safetensors";

// Writes `count` elements starting at element `first` of the tensor into `out` (little-endian).
void FillChunk(const SyntheticFill& f, uint64_t first, uint64_t count, uint8_t* out) {
  if (f.kind == SyntheticFill::kGaussianBf16) {
    for (uint64_t i = 0; i < count; ++i) {
      const uint16_t b = SyntheticBf16(f, first + i);
      out[2 * i] = static_cast<uint8_t>(b & 0xff);
      out[2 * i + 1] = static_cast<uint8_t>(b >> 8);
    }
    return;
  }
  for (uint64_t i = 0; i < count; ++i) out[i] = SyntheticByte(f, first + i);
}

struct Shard {
  std::string file;
  std::vector<const CheckpointTensor*> tensors;
  uint64_t bytes = 0;
};

std::vector<Shard> PlanShards(const std::vector<CheckpointTensor>& tensors,
                              uint64_t max_shard_bytes) {
  std::vector<Shard> shards;
  uint64_t total = 0;
  for (const CheckpointTensor& t : tensors) total += t.spec.bytes();
  if (total <= max_shard_bytes) {
    shards.push_back({kSingleFile, {}, 0});
    for (const CheckpointTensor& t : tensors) shards[0].tensors.push_back(&t);
    shards[0].bytes = total;
  } else {
    for (const CheckpointTensor& t : tensors) {
      if (shards.empty() || (!shards.back().tensors.empty() &&
                             shards.back().bytes + t.spec.bytes() > max_shard_bytes))
        shards.emplace_back();
      shards.back().tensors.push_back(&t);
      shards.back().bytes += t.spec.bytes();
    }
    const int last = static_cast<int>(shards.size()) - 1;
    for (int i = 0; i <= last; ++i)
      shards[i].file = absl::StrFormat("model-%05d-of-%05d.safetensors", i, last);
  }
  // Wider dtypes first inside each file, so every element is aligned to its size.
  for (Shard& s : shards)
    std::stable_sort(s.tensors.begin(), s.tensors.end(),
                     [](const CheckpointTensor* a, const CheckpointTensor* b) {
                       return DTypeSize(a->spec.dtype) > DTypeSize(b->spec.dtype);
                     });
  return shards;
}

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr)
    return absl::InternalError(absl::StrCat(tmp, ": cannot create: ", std::strerror(errno)));
  const bool wrote = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!wrote || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status st =
        absl::InternalError(absl::StrCat(path, ": write failed: ", std::strerror(errno)));
    std::remove(tmp.c_str());
    return st;
  }
  return absl::OkStatus();
}

// 64-bit FNV-1a of the tensor name (the generator's per-tensor stream).
uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

// Base E8M0 exponent for MXFP4 weights of RMS ~ 1/sqrt(fan_in): codes uniform over the 16 E2M1
// values (mean square 68.5/8), per-block offsets -1,0,0,+1 (mean square factor 1.5625); the
// power of two within sqrt(2) of the target, found by exact doublings.
int Mxfp4BaseExponent(int64_t fan_in) {
  const double target =
      1.0 / std::sqrt(static_cast<double>(fan_in)) / std::sqrt(68.5 / 8.0 * 1.5625);
  const double sqrt2 = std::sqrt(2.0);
  int e = 0;
  double x = 1.0;
  while (x > target * sqrt2) {
    x *= 0.5;
    --e;
  }
  while (x < target / sqrt2) {
    x *= 2.0;
    ++e;
  }
  return e;
}

// Keeps one allocation per tensor and its view.
}  // namespace

SyntheticFill PlanSyntheticFill(const CheckpointTensor& t, uint64_t seed, int hidden_size) {
  SyntheticFill f;
  f.key = SplitMix64(SplitMix64(seed) ^ Fnv1a(t.spec.name));
  // Irwin-Hall of four 16-bit uniforms: variance (65536^2 - 1) / 3 -> unit scale.
  const double unit = std::sqrt(3.0 / 4294967295.0);
  auto gaussian = [&](double mean, double sigma) {
    f.kind = SyntheticFill::kGaussianBf16;
    f.mean = mean;
    f.scale = sigma * unit;
  };
  switch (t.role) {
    case TensorRole::kEmbedding: gaussian(0.0, 1.0); break;
    case TensorRole::kNorm: gaussian(1.0, 0.05); break;
    case TensorRole::kLinear: gaussian(0.0, 1.0 / std::sqrt(static_cast<double>(t.fan_in))); break;
    case TensorRole::kBias: gaussian(0.0, 0.05); break;
    case TensorRole::kSinks: gaussian(0.0, 1.0); break;
    case TensorRole::kLmHead:
      gaussian(0.0, 2.0 / std::sqrt(static_cast<double>(hidden_size)));
      break;
    case TensorRole::kExpertBlocks: f.kind = SyntheticFill::kMxfp4Codes; break;
    case TensorRole::kExpertScales:
      f.kind = SyntheticFill::kE8M0Scales;
      f.exponent = Mxfp4BaseExponent(t.fan_in);
      break;
  }
  return f;
}


uint64_t CheckpointDataBytes(const ModelConfig& config) {
  uint64_t total = 0;
  for (const CheckpointTensor& t : CheckpointTensors(config)) total += t.spec.bytes();
  return total;
}

absl::Status WriteCheckpoint(const ModelConfig& config, const std::string& out_dir,
                             const CheckpointWriterOptions& options) {
  // Round-trip the config through its own parser: never write a checkpoint we would refuse.
  const std::string config_json = ModelConfigToJson(config);
  GPTOSS_RETURN_IF_ERROR(ParseModelConfig(config_json).status());
  if (options.max_shard_bytes == 0)
    return absl::InvalidArgumentError("max_shard_bytes must be positive");

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec || !std::filesystem::is_directory(out_dir))
    return absl::InternalError(absl::StrCat("cannot create output directory '", out_dir, "'",
                                            ec ? absl::StrCat(": ", ec.message()) : std::string()));

  const std::vector<CheckpointTensor> tensors = CheckpointTensors(config);
  const std::vector<Shard> shards = PlanShards(tensors, options.max_shard_bytes);
  const bool sharded = shards.size() > 1 || shards[0].file != kSingleFile;
  // A stale file of the other layout would be picked up by Checkpoint::Open: remove it.
  std::filesystem::remove(std::filesystem::path(out_dir) / (sharded ? kSingleFile : kIndexFile),
                          ec);
  std::filesystem::remove(std::filesystem::path(out_dir) / "config.json", ec);

  uint64_t total = 0;
  for (const Shard& s : shards) total += s.bytes;
  uint64_t done = 0;
  std::vector<uint8_t> chunk(kChunkBytes);
  nlohmann::json weight_map = nlohmann::json::object();
  for (const Shard& shard : shards) {
    std::vector<TensorSpec> specs;
    for (const CheckpointTensor* t : shard.tensors) {
      specs.push_back(t->spec);
      weight_map[t->spec.name] = shard.file;
    }
    const std::string path = out_dir + "/" + shard.file;
    GPTOSS_ASSIGN_OR_RETURN(auto writer, SafetensorsWriter::Create(path, specs));
    for (const CheckpointTensor* t : shard.tensors) {
      const SyntheticFill fill = PlanSyntheticFill(*t, options.seed, config.hidden_size);
      const uint64_t elem = DTypeSize(t->spec.dtype);
      const uint64_t n = static_cast<uint64_t>(t->spec.numel());
      const uint64_t per_chunk = kChunkBytes / elem;
      for (uint64_t first = 0; first < n; first += per_chunk) {
        const uint64_t count = std::min(per_chunk, n - first);
        FillChunk(fill, first, count, chunk.data());
        GPTOSS_RETURN_IF_ERROR(writer->Write(chunk.data(), count * elem));
        done += count * elem;
        if (options.progress) options.progress(done, total, shard.file);
      }
    }
    GPTOSS_RETURN_IF_ERROR(writer->Finish());
  }
  if (sharded) {
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    GPTOSS_RETURN_IF_ERROR(WriteTextFile(out_dir + "/" + kIndexFile, index.dump(2) + "\n"));
  }
  return WriteTextFile(out_dir + "/config.json", config_json);
}

}  // namespace gptoss
