// CudaOps::AttentionWithSinks vs CpuOps over a paged cache: decode (one token per sequence) and
// prefill / chunked-prefill tiles, mixed batches, the sliding-window edge (context = window,
// window + 1), released (-1) blocks outside the window, block sizes that do not divide the
// tiles, contexts long enough to take the split-K (flash-decoding) path, and both the gpt-oss
// head geometry (64 q / 8 kv heads, dim 64) and the tiny preset's (8 / 2, dim 16).
// Unused and released cache blocks are filled with NaN: reading one poisons the output.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/cuda_test_util.h"

namespace gptoss {
namespace {

using testing::CudaOpsTest;
using testing::DevicePoisoned;
using testing::DeviceZeros;
using testing::ExpectClose;
using testing::HostF32;
using testing::HostI32;
using testing::HostValues;
using testing::RandomVector;
using testing::ToDevice;
using testing::ToDeviceI32;
using testing::ToHost;

struct Seq {
  int context;  // context_len after this step
  int n_new;    // new tokens of this step
};

struct AttnCase {
  std::string name;
  int heads, kv_heads, head_dim, block_size, window;
  std::vector<Seq> seqs;
};

class CudaAttentionTest : public CudaOpsTest, public ::testing::WithParamInterface<AttnCase> {};

TEST_P(CudaAttentionTest, MatchesCpu) {
  const AttnCase& c = GetParam();
  const int S = static_cast<int>(c.seqs.size());
  const int bs = c.block_size, D = c.head_dim;
  int max_ctx = 0, T = 0;
  for (const Seq& s : c.seqs) {
    max_ctx = std::max(max_ctx, s.context);
    T += s.n_new;
  }
  const int max_blocks = (max_ctx + bs - 1) / bs;
  const int num_blocks = S * max_blocks + 3;  // spare blocks never referenced (NaN)

  // Block tables: a random permutation of physical blocks; blocks wholly before the window of
  // the first new token are released (-1), as the engine may do.
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), gen_);
  std::vector<int32_t> tables(S * max_blocks, -1), query_start(S + 1, 0), context(S);
  std::vector<char> used(num_blocks, 0);
  int next = 0;
  for (int s = 0; s < S; ++s) {
    const Seq& q = c.seqs[s];
    context[s] = q.context;
    query_start[s + 1] = query_start[s] + q.n_new;
    const int first_pos = q.context - q.n_new;
    const int lo = c.window > 0 ? std::max(0, first_pos - c.window + 1) : 0;
    for (int b = 0; b * bs < q.context; ++b) {
      const int phys = perm[next++];
      if ((b + 1) * bs <= lo) continue;  // released: wholly outside the window
      tables[s * max_blocks + b] = phys;
      used[phys] = 1;
    }
  }
  const int64_t row = static_cast<int64_t>(c.kv_heads) * D;
  auto k_cache = RandomVector(static_cast<size_t>(num_blocks) * bs * row, gen_);
  auto v_cache = RandomVector(static_cast<size_t>(num_blocks) * bs * row, gen_);
  for (int b = 0; b < num_blocks; ++b) {
    if (used[b]) continue;
    std::fill_n(k_cache.begin() + static_cast<int64_t>(b) * bs * row, bs * row, std::numeric_limits<float>::quiet_NaN());
    std::fill_n(v_cache.begin() + static_cast<int64_t>(b) * bs * row, bs * row, std::numeric_limits<float>::quiet_NaN());
  }
  auto q = RandomVector(static_cast<size_t>(T) * c.heads * D, gen_, 2.0f);
  auto sinks = RandomVector(c.heads, gen_, 2.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));

  auto q_d = ToDevice(gpu(), q, DType::kBF16, {T, c.heads, D});
  auto kc_d = ToDevice(gpu(), k_cache, DType::kBF16, {num_blocks, bs, c.kv_heads, D});
  auto vc_d = ToDevice(gpu(), v_cache, DType::kBF16, {num_blocks, bs, c.kv_heads, D});
  auto sinks_d = ToDevice(gpu(), sinks, DType::kBF16, {c.heads});
  auto qs_d = ToDeviceI32(gpu(), query_start, {S + 1});
  auto ctx_d = ToDeviceI32(gpu(), context, {S});
  auto bt_d = ToDeviceI32(gpu(), tables, {S, max_blocks});
  auto out_d = DevicePoisoned(gpu(), DType::kBF16, {T, static_cast<int64_t>(c.heads) * D});
  AttentionBatch batch_d{qs_d.view, ctx_d.view, bt_d.view, S, T, max_ctx};
  const absl::Status st = gpu().AttentionWithSinks(q_d.view, KvLayerView{kc_d.view, vc_d.view},
                                                   sinks_d.view, batch_d, c.window, scale, out_d.view);
  ASSERT_TRUE(st.ok()) << st;
  const auto got = ToHost(gpu(), out_d.view);

  HostTensor q_h = HostF32(q, {T, c.heads, D});
  HostTensor kc_h = HostF32(k_cache, {num_blocks, bs, c.kv_heads, D});
  HostTensor vc_h = HostF32(v_cache, {num_blocks, bs, c.kv_heads, D});
  HostTensor sinks_h = HostF32(sinks, {c.heads});
  HostTensor qs_h = HostI32(query_start, {S + 1}), ctx_h = HostI32(context, {S});
  HostTensor bt_h = HostI32(tables, {S, max_blocks});
  HostTensor out_h(DType::kF32, {T, static_cast<int64_t>(c.heads) * D});
  AttentionBatch batch_h{qs_h.view(), ctx_h.view(), bt_h.view(), S, T, max_ctx};
  ASSERT_TRUE(cpu_.AttentionWithSinks(q_h.view(), KvLayerView{kc_h.view(), vc_h.view()}, sinks_h.view(),
                                      batch_h, c.window, scale, out_h.view())
                  .ok());
  ExpectClose(got, HostValues(out_h), 1.5e-2, 1e-3, "attention " + c.name);
}

std::vector<AttnCase> Cases() {
  std::vector<AttnCase> cases;
  for (int w : {0, 128}) {
    const std::string tag = w ? "_swa" : "_full";
    // gpt-oss geometry.
    cases.push_back({"decode" + tag, 64, 8, 64, 16, w, {{1, 1}, {129, 1}, {300, 1}, {128, 1}}});
    cases.push_back({"prefill" + tag, 64, 8, 64, 16, w, {{37, 37}, {9, 9}}});
    cases.push_back({"chunked_prefill" + tag, 64, 8, 64, 16, w, {{200, 45}, {150, 1}}});
    cases.push_back({"long_decode_splitk" + tag, 64, 8, 64, 16, w, {{5000, 1}}});
    cases.push_back({"long_prefill_tail" + tag, 64, 8, 64, 32, w, {{700, 130}}});
  }
  // Tiny preset geometry: 8 q heads, 2 kv heads, head_dim 16, window 16, odd block size.
  cases.push_back({"tiny_mixed_swa", 8, 2, 16, 5, 16, {{40, 40}, {17, 1}, {16, 1}, {23, 7}}});
  cases.push_back({"tiny_mixed_full", 8, 2, 16, 5, 0, {{40, 40}, {17, 1}, {3, 2}}});
  cases.push_back({"tiny_decode_batch", 8, 2, 16, 8, 16, {{100, 1}, {1, 1}, {33, 1}, {64, 1}, {5, 1}}});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Paged, CudaAttentionTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST_F(CudaOpsTest, AttentionReportsReleasedBlockInsideWindow) {
  // Sequence of 40 positions, block size 8, full attention, but block 1 is released: the query
  // at position 39 attends it, so the GPU must report it rather than read garbage.
  const int bs = 8, D = 16, heads = 2, kv = 1, blocks = 5;
  auto kc = DeviceZeros(gpu(), DType::kBF16, {blocks, bs, kv, D});
  auto vc = DeviceZeros(gpu(), DType::kBF16, {blocks, bs, kv, D});
  auto q = DeviceZeros(gpu(), DType::kBF16, {1, heads, D});
  auto sinks = DeviceZeros(gpu(), DType::kBF16, {heads});
  auto qs = ToDeviceI32(gpu(), {0, 1}, {2});
  auto ctx = ToDeviceI32(gpu(), {40}, {1});
  auto bt = ToDeviceI32(gpu(), {0, -1, 2, 3, 4}, {1, 5});
  auto out = DeviceZeros(gpu(), DType::kBF16, {1, heads * D});
  AttentionBatch batch{qs.view, ctx.view, bt.view, 1, 1, 40};
  ASSERT_TRUE(gpu().AttentionWithSinks(q.view, KvLayerView{kc.view, vc.view}, sinks.view, batch, 0,
                                       0.25f, out.view)
                  .ok());
  const absl::Status st = gpu().Synchronize();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), ::testing::HasSubstr("released"));
}

}  // namespace
}  // namespace gptoss
