// YaRN tables vs transformers' _compute_yarn_parameters (fixture yarn_tables.safetensors from
// tools/golden/make_fixtures.py --only yarn). torch evaluates base ** x with its vectorized pow
// (about 1 ulp); ours is the correctly rounded std::pow, so we allow 1 ulp and nothing more.
#include "kernels/rope_yarn.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "worker/model/safetensors.h"

namespace gptoss {
namespace {

int64_t UlpDistance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::llabs(static_cast<int64_t>(ia) - ib);  // both positive here
}

struct Case {
  int head_dim;
  double theta, factor;
  int original;
  bool truncate;
};
// Must list the same cases, in the same order, as YARN_CASES in tools/golden/make_fixtures.py.
constexpr Case kCases[] = {{64, 150000.0, 32.0, 4096, false},
                           {16, 150000.0, 32.0, 48, false},
                           {16, 10000.0, 8.0, 32, true},
                           {64, 150000.0, 32.0, 64, false},
                           {32, 500000.0, 4.0, 128, true}};

TEST(RopeYarn, MatchesTransformersWithinOneUlp) {
  auto ckpt = Checkpoint::Open(std::string(GPTOSS_SOURCE_DIR) +
                               "/tests/data/golden/yarn_tables.safetensors");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  int64_t worst = 0;
  for (size_t i = 0; i < std::size(kCases); ++i) {
    const Case& c = kCases[i];
    YarnConfig config;
    config.head_dim = c.head_dim;
    config.theta = c.theta;
    config.factor = c.factor;
    config.original_max_position_embeddings = c.original;
    config.truncate = c.truncate;
    const YarnTable table = ComputeYarnTable(config);
    auto inv = (*ckpt)->Get("inv_freq_" + std::to_string(i));
    auto scaling = (*ckpt)->Get("attention_scaling_" + std::to_string(i));
    ASSERT_TRUE(inv.ok() && scaling.ok());
    ASSERT_EQ(inv->numel(), c.head_dim / 2);
    ASSERT_EQ(table.inv_freq.size(), static_cast<size_t>(c.head_dim / 2));
    EXPECT_EQ(table.attention_scaling, scaling->as<float>()[0]) << "case " << i;
    for (int j = 0; j < c.head_dim / 2; ++j) {
      const int64_t ulps = UlpDistance(table.inv_freq[j], inv->as<float>()[j]);
      EXPECT_LE(ulps, 1) << "case " << i << " index " << j << ": ours " << table.inv_freq[j]
                         << " HF " << inv->as<float>()[j];
      worst = std::max(worst, ulps);
    }
  }
  std::printf("largest inv_freq difference: %lld ulp\n", static_cast<long long>(worst));
}

TEST(RopeYarn, NoScalingWithoutFactor) {
  YarnConfig config;
  config.factor = 1.0;
  EXPECT_EQ(ComputeYarnTable(config).attention_scaling, 1.0f);
}

}  // namespace
}  // namespace gptoss
