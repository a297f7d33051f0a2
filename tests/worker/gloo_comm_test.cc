// GlooCommunicator between threads over TCP loopback: every collective against its definition
// at world sizes 2, 3 and 4 (payloads say which rank and row they came from), the expert
// dispatcher under adversarial routing, and a peer that dies or never arrives (a bounded,
// clear UNAVAILABLE, never a hang).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kernels/core/dtype.h"
#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/worker/multi_rank.h"
#include "worker/comm/expert_dispatcher.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;
using testing::RunRanks;

#define RANK_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) return absl::InternalError(absl::StrCat("rank ", rank, ": " #cond)); \
  } while (0)

class GlooCollectivesTest : public ::testing::TestWithParam<int> {};

TEST_P(GlooCollectivesTest, MatchDefinitions) {
  const int world = GetParam();
  absl::Status st = RunRanks(world, [&](int rank, GlooCommunicator& comm) -> absl::Status {
    RANK_CHECK(comm.rank() == rank && comm.world_size() == world);
    // AllGather: rank r contributes {100r, 100r+1, 100r+2}.
    HostTensor in(DType::kF32, {3}), out(DType::kF32, {world, 3});
    for (int i = 0; i < 3; ++i) in.as<float>()[i] = 100.0f * rank + i;
    GPTOSS_RETURN_IF_ERROR(comm.AllGather(in.view(), out.view()));
    for (int r = 0; r < world; ++r)
      for (int i = 0; i < 3; ++i) RANK_CHECK(out.as<float>()[r * 3 + i] == 100.0f * r + i);

    // ReduceScatter (F32 and I32): in[j] = rank * 1000 + j; out[i] = sum_r in_r[rank*2 + i].
    for (DType dtype : {DType::kF32, DType::kI32, DType::kBF16}) {
      HostTensor rin(dtype, {world * 2}), rout(dtype, {2});
      for (int j = 0; j < world * 2; ++j) {
        const int v = (dtype == DType::kBF16 ? 4 : 1000) * rank + j;  // exact in bf16
        if (dtype == DType::kF32) rin.as<float>()[j] = static_cast<float>(v);
        if (dtype == DType::kI32) rin.as<int32_t>()[j] = v;
        if (dtype == DType::kBF16) rin.as<uint16_t>()[j] = F32ToBf16(static_cast<float>(v));
      }
      GPTOSS_RETURN_IF_ERROR(comm.ReduceScatterSum(rin.view(), rout.view()));
      for (int i = 0; i < 2; ++i) {
        int want = 0;
        for (int r = 0; r < world; ++r) want += (dtype == DType::kBF16 ? 4 : 1000) * r + rank * 2 + i;
        const double got = dtype == DType::kF32   ? rout.as<float>()[i]
                           : dtype == DType::kI32 ? rout.as<int32_t>()[i]
                                                  : Bf16ToF32(rout.as<uint16_t>()[i]);
        RANK_CHECK(got == want);
      }
    }

    // AllReduce.
    HostTensor ar(DType::kF32, {2});
    ar.as<float>()[0] = 1.0f;
    ar.as<float>()[1] = static_cast<float>(rank);
    GPTOSS_RETURN_IF_ERROR(comm.AllReduceSum(ar.view()));
    RANK_CHECK(ar.as<float>()[0] == world && ar.as<float>()[1] == world * (world - 1) / 2);

    // AllToAllV: rank s sends (d + s) % 3 rows to rank d; row i to d carries [s, d, i].
    std::vector<int64_t> send_counts(world), recv_counts(world);
    for (int d = 0; d < world; ++d) send_counts[d] = (d + rank) % 3;
    for (int s = 0; s < world; ++s) recv_counts[s] = (rank + s) % 3;
    auto counts = comm.ExchangeCounts(send_counts);
    GPTOSS_RETURN_IF_ERROR(counts.status());
    RANK_CHECK(*counts == recv_counts);
    const int64_t ns = std::accumulate(send_counts.begin(), send_counts.end(), int64_t{0});
    const int64_t nr = std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0});
    HostTensor send(DType::kI32, {std::max<int64_t>(ns, 1), 3}), recv(DType::kI32, {std::max<int64_t>(nr, 1), 3});
    int64_t row = 0;
    for (int d = 0; d < world; ++d)
      for (int i = 0; i < send_counts[d]; ++i, ++row) {
        send.as<int32_t>()[row * 3] = rank;
        send.as<int32_t>()[row * 3 + 1] = d;
        send.as<int32_t>()[row * 3 + 2] = i;
      }
    GPTOSS_RETURN_IF_ERROR(comm.AllToAllV(send.view(), send_counts, recv.view(), recv_counts));
    row = 0;
    for (int s = 0; s < world; ++s)
      for (int i = 0; i < recv_counts[s]; ++i, ++row) {
        RANK_CHECK(recv.as<int32_t>()[row * 3] == s);
        RANK_CHECK(recv.as<int32_t>()[row * 3 + 1] == rank);
        RANK_CHECK(recv.as<int32_t>()[row * 3 + 2] == i);
      }
    // Shape errors are caught before any communication (so all ranks can skip them together).
    HostTensor small(DType::kF32, {world * 3 - 1});
    RANK_CHECK(comm.AllGather(in.view(), small.view()).code() == absl::StatusCode::kInvalidArgument);
    RANK_CHECK(!comm.ExchangeCounts({1}).ok() || world == 1);
    const CommStats stats = comm.stats();
    RANK_CHECK(world == 1 || (stats.calls >= 6 && stats.bytes_sent > 0));
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, GlooCollectivesTest, ::testing::Values(1, 2, 3, 4));

// Dispatch with identity experts: every row that arrives must carry the (source rank, token)
// written into it, arrive at a rank owning one of its experts, and combine back into
// residual[t] += x[t] * (number of ranks owning t's experts).
struct Routing {
  const char* name;
  std::function<int(int rank, int token, int j)> expert;  // 8 experts, 2 per rank
  std::function<int(int rank)> tokens;
};

// (routing, fixed capacity?)
class GlooDispatchTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(GlooDispatchTest, RowsLandWhereTheirExpertsLive) {
  const int world = 4, k = 2, hidden = 4, experts = 8;
  const std::vector<Routing> routings = {
      {"all to rank 0's experts", [](int, int t, int j) { return (t + j) % 2; },
       [](int r) { return 3 + r; }},
      {"rank 2 receives nothing",
       [](int r, int t, int j) { const int e = (r + t + 3 * j) % 8; return e / 2 == 2 ? (e + 2) % 8 : e; },
       [](int r) { return 5 - r; }},
      {"one token on four ranks (others empty)", [](int, int, int j) { return 2 * j + 3; },
       [](int r) { return r == 0 ? 1 : 0; }},
      {"odd counts, spread", [](int r, int t, int j) { return (5 * t + 3 * j + r) % 8; },
       [](int r) { return 2 * r + 1; }},
  };
  const Routing& routing = routings[std::get<0>(GetParam())];
  const bool fixed = std::get<1>(GetParam());
  int capacity = 0;
  for (int r = 0; r < world; ++r) capacity = std::max(capacity, routing.tokens(r));
  // Rows source rank s sends to rank d (what the receiver of a fixed-capacity block must find).
  auto sends = [&](int s, int d) {
    int count = 0;
    for (int t = 0; t < routing.tokens(s); ++t) {
      bool any = false;
      for (int j = 0; j < k; ++j) any |= routing.expert(s, t, j) / 2 == d;
      count += any;
    }
    return count;
  };
  absl::Status st = RunRanks(world, [&](int rank, GlooCommunicator& comm) -> absl::Status {
    CpuOps ops;
    GPTOSS_ASSIGN_OR_RETURN(ParallelLayout layout, ParallelLayout::Create(rank, world, 4, 4, experts));
    const int n = routing.tokens(rank);
    HostTensor x(DType::kF32, {n, hidden}), ids(DType::kI32, {n, k}), w(DType::kF32, {n, k});
    std::vector<int> owners(n, 0);
    for (int t = 0; t < n; ++t) {
      std::vector<char> seen(world, 0);
      for (int j = 0; j < k; ++j) {
        const int e = routing.expert(rank, t, j);
        ids.as<int32_t>()[t * k + j] = e;
        w.as<float>()[t * k + j] = 0.5f;
        if (!seen[e / 2]) seen[e / 2] = 1, owners[t]++;
      }
      x.as<float>()[t * hidden] = static_cast<float>(rank);
      x.as<float>()[t * hidden + 1] = static_cast<float>(t);
      x.as<float>()[t * hidden + 2] = 1.0f;
      x.as<float>()[t * hidden + 3] = -1.0f;
    }
    ExpertDispatcher dispatcher(&comm, &ops, layout, DispatchOptions{fixed ? 64 : 0});
    DispatchedRows rows;
    GPTOSS_ASSIGN_OR_RETURN(DispatchHandle handle,
                            dispatcher.Dispatch(x.view(), ids.view(), w.view(), capacity, &rows));
    RANK_CHECK(handle.capacity == (fixed ? capacity : 0));
    // Every arriving row: from the rank the handle says, with an expert this rank owns; in the
    // fixed mode each source's block is `capacity` rows, the unused ones all zero.
    int64_t row = 0;
    for (int s = 0; s < world; ++s) {
      const int64_t real = sends(s, rank);
      if (!fixed) RANK_CHECK(handle.recv_counts[s] == real);
      const int64_t block = fixed ? capacity : real;
      for (int64_t i = 0; i < block; ++i, ++row) {
        if (i >= real) {
          for (int c = 0; c < hidden; ++c) RANK_CHECK(rows.x.as<float>()[row * hidden + c] == 0.0f);
          for (int j = 0; j < k; ++j) RANK_CHECK(rows.weights.as<float>()[row * k + j] == 0.0f);
          continue;
        }
        RANK_CHECK(rows.x.as<float>()[row * hidden] == s);
        bool mine = false;
        for (int j = 0; j < k; ++j) mine |= rows.ids.as<int32_t>()[row * k + j] / 2 == rank;
        RANK_CHECK(mine);
        RANK_CHECK(rows.weights.as<float>()[row * k] == 0.5f);
      }
    }
    RANK_CHECK(row == handle.num_recv());
    HostTensor residual(DType::kF32, {n, hidden});
    GPTOSS_RETURN_IF_ERROR(dispatcher.Combine(handle, rows.x, residual.view()));
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < hidden; ++c)
        RANK_CHECK(residual.as<float>()[t * hidden + c] == owners[t] * x.as<float>()[t * hidden + c]);
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << routing.name << ": " << st;
}

INSTANTIATE_TEST_SUITE_P(Routings, GlooDispatchTest,
                         ::testing::Combine(::testing::Range(0, 4), ::testing::Bool()));

// The peer dies (its sockets close) or hangs (alive, silent: SIGSTOP, a stuck kernel).
class GlooFailureTest : public ::testing::TestWithParam<bool> {};

TEST_P(GlooFailureTest, APeerThatDiesOrHangsEndsTheCollectiveInBoundedTime) {
  const bool hang = GetParam();
  const auto timeout = std::chrono::milliseconds(1500);
  std::atomic<bool> left{false};
  absl::Status st = RunRanks(
      2,
      [&](int rank, GlooCommunicator& comm) -> absl::Status {
        HostTensor in(DType::kF32, {4}), out(DType::kF32, {8});
        GPTOSS_RETURN_IF_ERROR(comm.AllGather(in.view(), out.view()));
        if (rank == 1) {  // leaves without taking part in the next collective
          left = true;
          if (hang) std::this_thread::sleep_for(timeout + std::chrono::seconds(1));
          return absl::OkStatus();
        }
        const auto start = std::chrono::steady_clock::now();
        absl::Status second = comm.AllGather(in.view(), out.view());
        const auto took = std::chrono::steady_clock::now() - start;
        RANK_CHECK(second.code() == absl::StatusCode::kUnavailable);
        RANK_CHECK(absl::StrContains(second.message(), "AllGather"));
        RANK_CHECK(took < timeout + std::chrono::seconds(5));
        // Broken for good: the next call fails at once.
        RANK_CHECK(comm.AllReduceSum(in.view()).code() == absl::StatusCode::kUnavailable);
        return absl::OkStatus();
      },
      timeout);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_TRUE(left);
}

INSTANTIATE_TEST_SUITE_P(DiesOrHangs, GlooFailureTest, ::testing::Bool());

TEST(GlooFormationTest, AWorldThatNeverCompletesFailsToForm) {
  InMemoryRendezvous store;
  GlooOptions options;
  options.timeout = std::chrono::milliseconds(500);
  const auto start = std::chrono::steady_clock::now();
  auto comm = GlooCommunicator::Create(0, 2, store, options);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(comm.status().message(), HasSubstr("forming the Gloo world"));
  EXPECT_FALSE(GlooCommunicator::Create(2, 2, store, options).ok());
}

}  // namespace
}  // namespace gptoss
