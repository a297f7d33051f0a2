// BlockPool and KvBlockManager: the paged KV accounting of both pools.
#include <algorithm>

#include "coordinator/scheduler/block_pool.h"
#include "coordinator/scheduler/kv_block_manager.h"
#include "gtest/gtest.h"

namespace gptoss {
namespace {

TEST(BlockPoolTest, AllocationIsAllOrNothing) {
  BlockPool pool(4);
  std::vector<int32_t> got;
  ASSERT_TRUE(pool.Allocate(3, got).ok());
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(pool.num_free(), 1);
  absl::Status s = pool.Allocate(2, got);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(pool.num_free(), 1);
  std::vector<int32_t> sorted = got;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
}

TEST(BlockPoolTest, FreeRejectsUnknownAndDoubleFree) {
  BlockPool pool(2);
  std::vector<int32_t> got;
  ASSERT_TRUE(pool.Allocate(1, got).ok());
  EXPECT_TRUE(pool.Free(got[0]).ok());
  EXPECT_EQ(pool.Free(got[0]).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.Free(-1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.Free(2).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.num_free(), 2);
  EXPECT_EQ(pool.Allocate(-1, got).code(), absl::StatusCode::kInvalidArgument);
}

KvGeometry Geometry(int full, int sliding, int window, int bs = 4) {
  KvGeometry g;
  g.block_size = bs;
  g.num_full_blocks = full;
  g.num_sliding_blocks = sliding;
  g.sliding_window = window;
  return g;
}

int LiveBlocks(const std::vector<int32_t>& table) {
  return static_cast<int>(std::count_if(table.begin(), table.end(), [](int b) { return b >= 0; }));
}

TEST(KvBlockManagerTest, FullBlocksGrowWithTheSequence) {
  KvBlockManager m(Geometry(/*full=*/10, /*sliding=*/10, /*window=*/8));
  Sequence seq;
  ASSERT_TRUE(m.Allocate(seq, 5).ok());  // positions 0..4 → 2 blocks of 4
  seq.num_computed = 5;
  EXPECT_EQ(seq.full_blocks.size(), 2u);
  ASSERT_TRUE(m.Allocate(seq, 3).ok());  // up to position 7: still 2 blocks
  seq.num_computed = 8;
  EXPECT_EQ(seq.full_blocks.size(), 2u);
  ASSERT_TRUE(m.Allocate(seq, 1).ok());
  seq.num_computed = 9;
  EXPECT_EQ(seq.full_blocks.size(), 3u);
  EXPECT_EQ(m.free_full(), 7);
  ASSERT_TRUE(m.FreeAll(seq).ok());
  EXPECT_EQ(m.free_full(), 10);
  EXPECT_EQ(m.free_sliding(), 10);
  EXPECT_TRUE(seq.full_blocks.empty());
}

// Decoding far past the window keeps at most ceil(W/bs)+1 sliding blocks alive, and the ones
// still alive cover every key the next query can see (positions > p - W).
TEST(KvBlockManagerTest, SlidingBlocksAreBoundedAndReleasedAsTheWindowMoves) {
  const int bs = 4, window = 10;
  const int bound = KvBlockManager::SlidingBlocksForDecode(window, bs);
  EXPECT_EQ(bound, 4);
  KvBlockManager m(Geometry(/*full=*/100, /*sliding=*/bound, window, bs));
  Sequence seq;
  for (int p = 0; p < 200; ++p) {
    ASSERT_TRUE(m.ReleaseOutOfWindow(seq).ok());
    ASSERT_EQ(m.MaxAllocatable(seq, 1), 1) << "at position " << p;
    ASSERT_TRUE(m.Allocate(seq, 1).ok()) << "at position " << p;
    EXPECT_LE(LiveBlocks(seq.sliding_blocks), bound);
    // Keys visible from query p: (p - W, p].
    for (int k = std::max(0, p - window + 1); k <= p; ++k)
      ASSERT_GE(seq.sliding_blocks[k / bs], 0) << "key " << k << " of query " << p;
    seq.num_computed = p + 1;
  }
  EXPECT_EQ(seq.sliding_blocks.size(), 50u);
  EXPECT_EQ(seq.sliding_released, 50 - LiveBlocks(seq.sliding_blocks));
}

TEST(KvBlockManagerTest, PrefillChunkNeedsWindowPlusChunk) {
  const int bs = 4, window = 8;
  KvBlockManager m(Geometry(/*full=*/100, /*sliding=*/100, window, bs));
  Sequence seq;
  ASSERT_TRUE(m.Allocate(seq, 20).ok());  // positions 0..19
  seq.num_computed = 20;
  ASSERT_TRUE(m.ReleaseOutOfWindow(seq).ok());
  // Next query at 20 sees keys 13..20: blocks 3.. stay, blocks 0..2 (positions < 12) go.
  EXPECT_EQ(seq.sliding_released, 3);
  EXPECT_EQ(LiveBlocks(seq.sliding_blocks), 2);
  ASSERT_TRUE(m.Allocate(seq, 12).ok());  // chunk 20..31: blocks 3..7 live
  EXPECT_EQ(LiveBlocks(seq.sliding_blocks), 5);
  EXPECT_LE(LiveBlocks(seq.sliding_blocks), (window - 1 + 12 + bs - 1) / bs + 1);
  EXPECT_EQ(m.free_sliding(), 95);
}

TEST(KvBlockManagerTest, MaxAllocatableAndAllOrNothing) {
  KvBlockManager m(Geometry(/*full=*/3, /*sliding=*/20, /*window=*/8));
  Sequence seq;
  EXPECT_EQ(m.MaxAllocatable(seq, 100), 12);  // 3 full blocks of 4
  EXPECT_EQ(m.Allocate(seq, 13).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(seq.full_blocks.empty());
  EXPECT_TRUE(seq.sliding_blocks.empty());
  ASSERT_TRUE(m.Allocate(seq, 10).ok());
  seq.num_computed = 10;
  EXPECT_EQ(m.MaxAllocatable(seq, 100), 2);
  EXPECT_EQ(m.MaxAllocatable(seq, 1), 1);
}

TEST(KvBlockManagerTest, ModelsWithOnlyOneKindOfLayerUseOnePool) {
  KvGeometry g = Geometry(/*full=*/2, /*sliding=*/0, /*window=*/0);
  g.has_sliding_layers = false;
  KvBlockManager m(g);
  Sequence seq;
  EXPECT_EQ(m.MaxAllocatable(seq, 100), 8);
  ASSERT_TRUE(m.Allocate(seq, 8).ok());
  EXPECT_TRUE(seq.sliding_blocks.empty());
  seq.num_computed = 8;
  EXPECT_TRUE(m.ReleaseOutOfWindow(seq).ok());
}

}  // namespace
}  // namespace gptoss
