// SizeKvPools: the geometry a world gets, from the ranks' offers (pure; no workers needed).
#include "coordinator/kv_sizing.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/model/presets.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

class KvSizingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ModelConfig> config = PresetConfig("tiny");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    absl::StatusOr<ParallelLayout> layout =
        ParallelLayout::Create(0, 1, config_.num_attention_heads, config_.num_key_value_heads,
                               config_.num_local_experts);
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = *layout;
    options_.max_num_seqs = 4;
    options_.max_batch_tokens = 64;
  }
  int64_t Bytes(const KvPoolSpec& s) const {
    return KvCachePool::FullBlockBytes(config_, layout_, DType::kF32, s.block_size) *
               s.num_full_blocks +
           KvCachePool::SlidingBlockBytes(config_, layout_, DType::kF32, s.block_size) *
               s.num_sliding_blocks;
  }

  ModelConfig config_;
  ParallelLayout layout_;
  KvSizingOptions options_;
};

TEST_F(KvSizingTest, TheSmallestOfferSizesThePools) {
  const uint64_t small = 8 << 20, large = 64 << 20;
  auto from_small = SizeKvPools(config_, layout_, DType::kF32, {small}, options_, std::nullopt);
  auto from_both =
      SizeKvPools(config_, layout_, DType::kF32, {large, small, large}, options_, std::nullopt);
  ASSERT_TRUE(from_small.ok()) << from_small.status();
  ASSERT_TRUE(from_both.ok()) << from_both.status();
  EXPECT_EQ(from_both->num_full_blocks, from_small->num_full_blocks);
  EXPECT_EQ(from_both->num_sliding_blocks, from_small->num_sliding_blocks);
  EXPECT_LE(Bytes(*from_small), static_cast<int64_t>(small));
  EXPECT_GT(from_small->num_full_blocks, 0);
}

TEST_F(KvSizingTest, AFixedGeometryMustFitEveryRank) {
  options_.num_full_blocks = 100;
  options_.num_sliding_blocks = 50;
  auto fits = SizeKvPools(config_, layout_, DType::kF32, {uint64_t{1} << 30}, options_,
                          std::nullopt);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->num_full_blocks, 100);
  EXPECT_EQ(fits->num_sliding_blocks, 50);
  const uint64_t need = static_cast<uint64_t>(Bytes(*fits));
  auto short_by_one =
      SizeKvPools(config_, layout_, DType::kF32, {uint64_t{1} << 30, need - 1}, options_,
                  std::nullopt);
  ASSERT_FALSE(short_by_one.ok());
  EXPECT_EQ(short_by_one.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(short_by_one.status().message(), HasSubstr("kv_cache_bytes"));
  EXPECT_TRUE(
      SizeKvPools(config_, layout_, DType::kF32, {need}, options_, std::nullopt).ok());
}

TEST_F(KvSizingTest, ALaterWorldKeepsTheFirstGeometry) {
  auto first = SizeKvPools(config_, layout_, DType::kF32, {16 << 20}, options_, std::nullopt);
  ASSERT_TRUE(first.ok()) << first.status();
  // A bigger offer later does not change the geometry; a smaller one that cannot hold it fails.
  auto bigger = SizeKvPools(config_, layout_, DType::kF32, {256 << 20}, options_, *first);
  ASSERT_TRUE(bigger.ok()) << bigger.status();
  EXPECT_EQ(bigger->num_full_blocks, first->num_full_blocks);
  EXPECT_EQ(bigger->num_sliding_blocks, first->num_sliding_blocks);
  auto smaller = SizeKvPools(config_, layout_, DType::kF32, {1 << 20}, options_, *first);
  EXPECT_EQ(smaller.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(SizeKvPools(config_, layout_, DType::kF32, {}, options_, std::nullopt).ok());
}

}  // namespace
}  // namespace gptoss
