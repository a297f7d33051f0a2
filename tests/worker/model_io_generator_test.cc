// The deterministic checkpoint generator: pinned bytes, seeds, sharding, presets, value sanity.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/worker/model_io_test_util.h"
#include "tests/worker/sha256_for_test.h"
#include "worker/model/checkpoint_layout.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/presets.h"
#include "worker/model/safetensors.h"

namespace gptoss {
namespace {

using ::gptoss::testing::ReadBytes;
using ::gptoss::testing::ScratchDir;
using ::gptoss::testing::Sha256OfFile;
using ::gptoss::testing::SmallConfig;
using ::testing::HasSubstr;

// SHA-256 of `gptoss make-checkpoint --preset tiny --seed 0`. They pin the generator: any change
// to a value formula, the tensor order, the header or the config layout changes them. Such a
// change must be deliberate, because the golden fixtures (tests/data/) were computed by the
// Python oracles from checkpoints this generator wrote; update these only together with them.
// (Checked against `sha256sum` on the files the CLI writes.)
constexpr char kTinyConfigSha256[] =
    "e9b7ead8d62c75a539d33c6bf263159493d75544b202eb7fcbcdf05ea2aa7c5d";
constexpr char kTinyWeightsSha256[] =
    "feeb4a3c40ba735a37292be83ca05eca6da66f3e9dc3c45a4f2e75d538c135a0";

void Write(const ModelConfig& c, const std::string& dir, uint64_t seed,
           uint64_t max_shard = uint64_t{4} << 30) {
  CheckpointWriterOptions opt;
  opt.seed = seed;
  opt.max_shard_bytes = max_shard;
  absl::Status st = WriteCheckpoint(c, dir, opt);
  ASSERT_TRUE(st.ok()) << st;
}

TEST(ModelIoGenerator, TinyPresetIsDeterministicAndPinned) {
  const ModelConfig tiny = PresetConfig("tiny").value();
  const std::string a = ScratchDir("gen_tiny_a"), b = ScratchDir("gen_tiny_b");
  Write(tiny, a, 0);
  Write(tiny, b, 0);
  // Both runs must give the pinned bytes (so also the same bytes as each other).
  for (const std::string& dir : {a, b}) {
    EXPECT_EQ(Sha256OfFile(dir + "/config.json"), kTinyConfigSha256) << dir;
    EXPECT_EQ(Sha256OfFile(dir + "/model.safetensors"), kTinyWeightsSha256) << dir;
  }
  // Only the two files: small checkpoints are not sharded.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(a)) files += e.is_regular_file();
  EXPECT_EQ(files, 2);
}

TEST(ModelIoGenerator, Sha256HelperMatchesKnownVectors) {
  const std::string dir = ScratchDir("gen_sha");
  gptoss::testing::WriteBytes(dir + "/abc", "abc");
  EXPECT_EQ(Sha256OfFile(dir + "/abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  gptoss::testing::WriteBytes(dir + "/empty", "");
  EXPECT_EQ(Sha256OfFile(dir + "/empty"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ModelIoGenerator, SeedChangesWeightsNotConfig) {
  const ModelConfig c = SmallConfig();
  const std::string a = ScratchDir("gen_seed_a"), b = ScratchDir("gen_seed_b");
  Write(c, a, 1);
  Write(c, b, 2);
  EXPECT_EQ(ReadBytes(a + "/config.json"), ReadBytes(b + "/config.json"));
  EXPECT_NE(ReadBytes(a + "/model.safetensors"), ReadBytes(b + "/model.safetensors"));
}

TEST(ModelIoGenerator, ShardedCheckpointHoldsTheSameBytes) {
  const ModelConfig c = SmallConfig();
  const std::string single = ScratchDir("gen_single"), sharded = ScratchDir("gen_sharded");
  Write(c, single, 3);
  Write(c, sharded, 3, /*max_shard=*/48 << 10);
  ASSERT_TRUE(std::filesystem::exists(sharded + "/model.safetensors.index.json"));
  ASSERT_FALSE(std::filesystem::exists(sharded + "/model.safetensors"));
  auto index = nlohmann::json::parse(ReadBytes(sharded + "/model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), CheckpointDataBytes(c));
  std::set<std::string> shard_files;
  std::map<std::string, int> tensors_in;
  for (auto& [name, file] : index["weight_map"].items()) {
    shard_files.insert(file.get<std::string>());
    ++tensors_in[file.get<std::string>()];
  }
  ASSERT_GT(shard_files.size(), 2u);
  // Official numbering: zero-based, "of" the last index.
  const std::string last = absl::StrFormat("%05d", static_cast<int>(shard_files.size()) - 1);
  EXPECT_TRUE(shard_files.count("model-00000-of-" + last + ".safetensors")) << *shard_files.begin();
  // A shard stays under the limit (plus its header) unless one tensor alone exceeds it.
  for (const std::string& f : shard_files) {
    if (tensors_in[f] > 1) {
      EXPECT_LE(std::filesystem::file_size(sharded + "/" + f), (48u << 10) + 4096) << f;
    }
  }

  auto a = Checkpoint::Open(single);
  auto b = Checkpoint::Open(sharded);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ((*a)->names(), (*b)->names());
  for (const std::string& name : (*a)->names()) {
    auto va = (*a)->Get(name);
    auto vb = (*b)->Get(name);
    ASSERT_TRUE(va.ok() && vb.ok());
    ASSERT_EQ(va->bytes(), vb->bytes());
    EXPECT_EQ(std::memcmp(va->data, vb->data, va->bytes()), 0) << name;
  }
  // Re-generating unsharded into the sharded directory removes the stale index.
  Write(c, sharded, 3);
  EXPECT_FALSE(std::filesystem::exists(sharded + "/model.safetensors.index.json"));
  auto again = Checkpoint::Open(sharded);
  ASSERT_TRUE(again.ok()) << again.status();
}

TEST(ModelIoGenerator, OfficialPresetsAreTheOfficialConfigs) {
  for (const auto& [preset, file] :
       {std::pair<std::string, std::string>{"20b", "gpt-oss-20b.json"},
        std::pair<std::string, std::string>{"120b", "gpt-oss-120b.json"}}) {
    auto c = PresetConfig(preset);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(ModelConfigToJson(*c),
              ReadBytes(std::string(GPTOSS_SOURCE_DIR) + "/tests/data/configs/" + file))
        << preset;
  }
  // Tensor bytes equal the official checkpoints' "total_size" (20b: model.safetensors.index.json
  // of openai/gpt-oss-20b; 120b: the same figure as published for openai/gpt-oss-120b), which
  // checks every shape and dtype of the layout at once.
  EXPECT_EQ(CheckpointDataBytes(PresetConfig("20b").value()), 13761264768u);
  EXPECT_EQ(CheckpointDataBytes(PresetConfig("120b").value()), 65248815744u);
  auto bad = PresetConfig("7b");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("unknown preset '7b'"));
}

TEST(ModelIoGenerator, TinyPresetShape) {
  const ModelConfig c = PresetConfig("tiny").value();
  EXPECT_EQ(c.vocab_size, 201088);  // the real vocabulary: served with the real tokenizer
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 4);
  EXPECT_EQ(c.layer_types,
            std::vector<LayerType>({LayerType::kSlidingAttention, LayerType::kFullAttention,
                                    LayerType::kSlidingAttention, LayerType::kFullAttention}));
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_local_experts, 8);
  EXPECT_EQ(c.num_experts_per_tok, 4);
  EXPECT_EQ(c.sliding_window, 16);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 128);
  EXPECT_DOUBLE_EQ(c.rope.factor, 32.0);
}

// Realistic values: finite, in the documented ranges, MXFP4 scales valid and well sized.
TEST(ModelIoGenerator, ValuesAreFiniteAndRealisticallyScaled) {
  const ModelConfig c = SmallConfig();
  const std::string dir = ScratchDir("gen_values");
  Write(c, dir, 0);
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  for (const CheckpointTensor& t : CheckpointTensors(c)) {
    auto v = (*ckpt)->Get(t.spec.name);
    ASSERT_TRUE(v.ok());
    const int64_t n = v->numel();
    if (t.spec.dtype == DType::kBF16) {
      double sum = 0, sq = 0, lo = 1e30, hi = -1e30;
      for (int64_t i = 0; i < n; ++i) {
        const float x = Bf16ToF32(v->as<uint16_t>()[i]);
        ASSERT_TRUE(std::isfinite(x)) << t.spec.name;
        sum += x, sq += double{x} * x, lo = std::min<double>(lo, x), hi = std::max<double>(hi, x);
      }
      const double mean = sum / n, rms = std::sqrt(sq / n);
      switch (t.role) {
        case TensorRole::kNorm:
          EXPECT_GT(lo, 0.8) << t.spec.name;
          EXPECT_LT(hi, 1.2) << t.spec.name;
          break;
        case TensorRole::kLinear:
          EXPECT_NEAR(rms * std::sqrt(double(t.fan_in)), 1.0, 0.25) << t.spec.name;
          break;
        case TensorRole::kBias:
          EXPECT_LT(std::fabs(mean), 0.05) << t.spec.name;
          EXPECT_LT(hi, 0.2) << t.spec.name;
          break;
        case TensorRole::kEmbedding:
          EXPECT_NEAR(rms, 1.0, 0.05) << t.spec.name;
          break;
        case TensorRole::kLmHead:
          EXPECT_NEAR(rms * std::sqrt(double(c.hidden_size)), 2.0, 0.1) << t.spec.name;
          break;
        default:
          break;
      }
    } else if (t.role == TensorRole::kExpertScales) {
      int lo = 255, hi = 0;
      for (int64_t i = 0; i < n; ++i)
        lo = std::min<int>(lo, v->as<uint8_t>()[i]), hi = std::max<int>(hi, v->as<uint8_t>()[i]);
      EXPECT_LT(hi, 255) << t.spec.name;     // 255 is NaN in E8M0
      EXPECT_EQ(hi - lo, 2) << t.spec.name;  // base exponent -1, 0, +1
    }
  }
  // Dequantized MXFP4 RMS within a factor sqrt(2) of 1/sqrt(fan_in): E2M1 magnitudes by code.
  static const float kE2M1[16] = {0,    .5f,  1,  1.5f,  2,  3,  4,  6,
                                  -0.f, -.5f, -1, -1.5f, -2, -3, -4, -6};
  auto blocks = (*ckpt)->Get(LayerTensorName(0, "mlp.experts.gate_up_proj_blocks")).value();
  auto scales = (*ckpt)->Get(LayerTensorName(0, "mlp.experts.gate_up_proj_scales")).value();
  double sq = 0;
  const int64_t nblocks = scales.numel();
  for (int64_t b = 0; b < nblocks; ++b) {
    const double scale = std::ldexp(1.0, scales.as<uint8_t>()[b] - 127);
    for (int k = 0; k < 16; ++k) {
      const uint8_t byte = blocks.as<uint8_t>()[b * 16 + k];
      const double lo = kE2M1[byte & 0xf] * scale, hi = kE2M1[byte >> 4] * scale;
      sq += lo * lo + hi * hi;
    }
  }
  const double rms = std::sqrt(sq / (nblocks * 32)) * std::sqrt(double(c.hidden_size));
  EXPECT_GT(rms, 0.7);
  EXPECT_LT(rms, 1.42);
}

TEST(ModelIoGenerator, ProgressReachesTheTotal) {
  const ModelConfig c = SmallConfig();
  CheckpointWriterOptions opt;
  uint64_t last = 0, total = 0;
  int calls = 0;
  opt.progress = [&](uint64_t done, uint64_t all, const std::string&) {
    EXPECT_GE(done, last);
    last = done, total = all, ++calls;
  };
  ASSERT_TRUE(WriteCheckpoint(c, ScratchDir("gen_progress"), opt).ok());
  EXPECT_GT(calls, 0);
  EXPECT_EQ(last, total);
  EXPECT_EQ(total, CheckpointDataBytes(c));
}

TEST(ModelIoGenerator, UnwritableOutputIsAnError) {
  const std::string dir = ScratchDir("gen_unwritable");
  gptoss::testing::WriteBytes(dir + "/file", "x");
  absl::Status st = WriteCheckpoint(SmallConfig(), dir + "/file", {});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("file"));
  ModelConfig invalid = SmallConfig();
  invalid.hidden_size = 65;  // never written: the config must round-trip through the parser
  st = WriteCheckpoint(invalid, dir + "/invalid", {});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("hidden_size"));
}

}  // namespace
}  // namespace gptoss
