// MXFP4 decode vs transformers' own convert_moe_packed_tensors, bit for bit. The fixture
// (tests/data/golden/mxfp4_decode.safetensors, tools/golden/make_fixtures.py --only mxfp4)
// covers every byte value (both nibbles) and every E8M0 scale byte 0..255.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/mxfp4.h"
#include "worker/model/safetensors.h"

namespace gptoss {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(CpuMxfp4, MatchesTransformersBitForBit) {
  auto ckpt = Checkpoint::Open(std::string(GPTOSS_SOURCE_DIR) +
                               "/tests/data/golden/mxfp4_decode.safetensors");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto blocks = (*ckpt)->Get("blocks");
  auto scales = (*ckpt)->Get("scales");
  auto expected = (*ckpt)->Get("expected");
  ASSERT_TRUE(blocks.ok() && scales.ok() && expected.ok());
  const int64_t experts = blocks->dim(0), rows = blocks->dim(1), groups = blocks->dim(2);
  const int64_t k = groups * 32;
  ASSERT_EQ(expected->dim(0), experts);
  ASSERT_EQ(expected->dim(1), k);  // HF layout after its transpose: [E, K, N]
  ASSERT_EQ(expected->dim(2), rows);
  std::vector<float> row(k);
  int64_t checked = 0;
  for (int64_t e = 0; e < experts; ++e) {
    for (int64_t n = 0; n < rows; ++n) {
      const int64_t r = e * rows + n;
      DecodeMxfp4Row(blocks->as<uint8_t>() + r * groups * 16, scales->as<uint8_t>() + r * groups, k,
                     row.data());
      for (int64_t i = 0; i < k; ++i) {
        const float want = expected->as<float>()[(e * k + i) * rows + n];
        ASSERT_EQ(Bits(row[i]), Bits(want)) << "expert " << e << " row " << n << " col " << i
                                            << ": ours " << row[i] << " HF " << want;
        // The scalar helper agrees with the row decoder.
        const uint8_t byte = blocks->as<uint8_t>()[r * groups * 16 + i / 2];
        const uint8_t code = i % 2 == 0 ? (byte & 0x0f) : (byte >> 4);
        ASSERT_EQ(Bits(Mxfp4Value(code, scales->as<uint8_t>()[r * groups + i / 32])), Bits(want));
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, experts * rows * k);
}

}  // namespace
}  // namespace gptoss
