// worker/comm on the host: dispatch planning for several ranks (pure), the world-size-1
// LocalCommunicator, and ExpertDispatcher dispatch -> experts -> combine reproducing the direct
// MoE (MoeMlp + MoeCombine) exactly. The NCCL communicator runs the same checks on a GPU
// (tests/worker/cuda_comm_test.cc).
#include <numeric>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_ops.h"
#include "worker/comm/expert_dispatcher.h"
#include "worker/comm/local_communicator.h"

namespace gptoss {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(PlanDispatchTest, SendsEachTokenOnceToEveryOwningRank) {
  // 8 experts over 4 ranks: rank r owns experts 2r, 2r+1.
  auto layout = ParallelLayout::Create(1, 4, 8, 4, 8);
  ASSERT_TRUE(layout.ok());
  const std::vector<int32_t> ids = {0, 1,   // token 0 -> rank 0 only (twice, deduplicated)
                                    7, 2,   // token 1 -> ranks 3 and 1
                                    4, 5,   // token 2 -> rank 2
                                    3, 6};  // token 3 -> ranks 1 and 3
  auto plan = PlanDispatch(ids, 4, 2, *layout);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->send_counts, ElementsAre(1, 2, 1, 2));
  EXPECT_THAT(plan->send_token, ElementsAre(0, 1, 3, 2, 1, 3));
}

TEST(PlanDispatchTest, RejectsBadIds) {
  auto layout = ParallelLayout::Create(0, 2, 8, 4, 8);
  ASSERT_TRUE(layout.ok());
  auto plan = PlanDispatch({0, 8}, 1, 2, *layout);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("expert id 8"));
  EXPECT_FALSE(PlanDispatch({0, 1, 2}, 1, 2, *layout).ok());
}

TEST(LocalCommunicatorTest, CollectivesAreIdentitiesAndCheckShapes) {
  LocalCommunicator comm;
  HostTensor a(DType::kF32, {2, 3}), b(DType::kF32, {2, 3}), c(DType::kF32, {3, 3});
  std::iota(a.as<float>(), a.as<float>() + 6, 1.0f);
  ASSERT_TRUE(comm.AllReduceSum(a.view()).ok());
  ASSERT_TRUE(comm.AllGather(a.view(), b.view()).ok());
  EXPECT_EQ(b.as<float>()[5], 6.0f);
  EXPECT_EQ(comm.AllGather(a.view(), c.view()).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(comm.AllToAllV(a.view(), {2}, b.view(), {2}).ok());
  EXPECT_EQ(comm.AllToAllV(a.view(), {3}, b.view(), {3}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.AllToAllV(a.view(), {1, 1}, b.view(), {2}).code(), absl::StatusCode::kInvalidArgument);
  HostTensor u8(DType::kU8, {4});
  EXPECT_EQ(comm.AllReduceSum(u8.view()).code(), absl::StatusCode::kInvalidArgument);
  auto counts = comm.ExchangeCounts({5});
  ASSERT_TRUE(counts.ok());
  EXPECT_THAT(*counts, ElementsAre(5));
}

TEST(ExpertDispatcherTest, DispatchExpertsCombineEqualsDirectMoe) {
  CpuOps ops;
  LocalCommunicator comm;
  const int64_t n = 6, hidden = 32, inter = 32, experts = 4, k = 2;
  auto layout = ParallelLayout::Create(0, 1, 4, 2, experts);
  ASSERT_TRUE(layout.ok());
  std::mt19937 gen(5);
  auto fill = [&](HostTensor& t, float scale) {
    std::uniform_real_distribution<float> u(-scale, scale);
    for (int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = u(gen);
  };
  HostTensor x(DType::kF32, {n, hidden}), w(DType::kF32, {n, k}), ids(DType::kI32, {n, k});
  fill(x, 1.0f);
  fill(w, 1.0f);
  for (int64_t t = 0; t < n; ++t) {
    ids.as<int32_t>()[t * k] = static_cast<int32_t>(t % experts);
    ids.as<int32_t>()[t * k + 1] = static_cast<int32_t>((t + 1) % experts);
  }
  HostTensor gub(DType::kU8, {experts, 2 * inter, hidden / 32, 16}), gus(DType::kU8, {experts, 2 * inter, hidden / 32});
  HostTensor dnb(DType::kU8, {experts, hidden, inter / 32, 16}), dns(DType::kU8, {experts, hidden, inter / 32});
  HostTensor gubias(DType::kF32, {experts, 2 * inter}), dnbias(DType::kF32, {experts, hidden});
  for (HostTensor* t : {&gub, &dnb})
    for (int64_t i = 0; i < t->numel(); ++i) t->as<uint8_t>()[i] = static_cast<uint8_t>(gen());
  for (HostTensor* t : {&gus, &dns})
    for (int64_t i = 0; i < t->numel(); ++i) t->as<uint8_t>()[i] = static_cast<uint8_t>(122 + gen() % 3);
  fill(gubias, 0.1f);
  fill(dnbias, 0.1f);
  ExpertWeights ew{gub.view(), gus.view(), gubias.view(), dnb.view(), dns.view(), dnbias.view(), 0,
                   static_cast<int>(experts), 7.0f, 1.702f};

  // Direct: residual += sum_j w_j expert_j(x).
  HostTensor rows(DType::kF32, {n, k, hidden}), direct(DType::kF32, {n, hidden});
  ASSERT_TRUE(ops.MoeMlp(x.view(), ids.view(), ew, rows.view()).ok());
  ASSERT_TRUE(ops.MoeCombine(rows.view(), w.view(), direct.view()).ok());

  // Through the dispatcher, in the exact mode and with a fixed capacity (2 padding rows).
  for (int64_t fixed_max : {int64_t{0}, int64_t{32}}) {
  SCOPED_TRACE(fixed_max ? "fixed capacity" : "exact counts");
  ExpertDispatcher dispatcher(&comm, &ops, *layout, DispatchOptions{fixed_max});
  DispatchedRows got;
  auto handle = dispatcher.Dispatch(x.view(), ids.view(), w.view(), n + 2, &got);
  ASSERT_TRUE(handle.ok()) << handle.status();
  const int64_t r = handle->num_recv();
  EXPECT_EQ(r, fixed_max ? n + 2 : n);
  EXPECT_EQ(handle->capacity, fixed_max ? n + 2 : 0);
  HostTensor rrows(DType::kF32, {r, k, hidden}), y(DType::kF32, {r, hidden}), residual(DType::kF32, {n, hidden});
  ASSERT_TRUE(ops.MoeMlp(got.x, got.ids, ew, rrows.view()).ok());
  ASSERT_TRUE(ops.MoeCombine(rrows.view(), got.weights, y.view()).ok());
  ASSERT_TRUE(dispatcher.Combine(*handle, y.view(), residual.view()).ok());
  for (int64_t i = 0; i < n * hidden; ++i) ASSERT_EQ(residual.as<float>()[i], direct.as<float>()[i]) << i;

  // A handle does not fit another shape.
  HostTensor wrong(DType::kF32, {r + 1, hidden});
  EXPECT_EQ(dispatcher.Combine(*handle, wrong.view(), residual.view()).code(),
            absl::StatusCode::kInvalidArgument);
  // A capacity below this rank's token count is refused.
  EXPECT_EQ(dispatcher.Dispatch(x.view(), ids.view(), w.view(), n - 1, &got).status().code(),
            absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace gptoss
