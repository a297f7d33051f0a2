// NcclCommunicator at world size 1 (the multi-GPU code path on one GPU: NCCL all-reduce,
// all-gather, reduce-scatter and grouped send/recv all-to-all to self) and the ExpertDispatcher
// on CUDA: rows carry their source rank and token in the payload and must come back summed, also
// when the fixed-capacity dispatch is replayed from a CUDA graph.
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/core/status.h"
#include "kernels/cuda/cuda_graph.h"
#include "kernels/cuda/cuda_ops.h"
#include "tests/kernels/cuda_test_util.h"
#include "worker/comm/expert_dispatcher.h"
#include "worker/comm/nccl_communicator.h"

namespace gptoss {
namespace {

using testing::DeviceZeros;
using testing::ToDevice;
using testing::ToDeviceI32;
using testing::ToHost;
using testing::ToHostI32;

class CudaCommTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GPTOSS_REQUIRE_GPU();
    auto ops = cuda::CudaOps::Create(0);
    ASSERT_TRUE(ops.ok()) << ops.status();
    ops_ = std::move(*ops);
    auto comm = NcclCommunicator::CreateSingle(ops_->stream());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(*comm);
  }
  std::unique_ptr<cuda::CudaOps> ops_;
  std::unique_ptr<NcclCommunicator> comm_;
};

TEST_F(CudaCommTest, CollectivesAtWorldSizeOne) {
  std::vector<float> v(24);
  std::iota(v.begin(), v.end(), 1.0f);
  auto a = ToDevice(*ops_, v, DType::kF32, {4, 6});
  auto b = DeviceZeros(*ops_, DType::kF32, {4, 6});
  ASSERT_TRUE(comm_->AllReduceSum(a.view).ok());
  ASSERT_TRUE(comm_->AllGather(a.view, b.view).ok());
  EXPECT_EQ(ToHost(*ops_, b.view), v);
  auto c = DeviceZeros(*ops_, DType::kF32, {4, 6});
  ASSERT_TRUE(comm_->ReduceScatterSum(a.view, c.view).ok());
  EXPECT_EQ(ToHost(*ops_, c.view), v);
  auto d = DeviceZeros(*ops_, DType::kF32, {4, 6});
  ASSERT_TRUE(comm_->AllToAllV(a.view, {3}, d.view, {3}).ok());
  auto got = ToHost(*ops_, d.view);
  EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + 18), std::vector<float>(v.begin(), v.begin() + 18));
  EXPECT_EQ(got[18], 0.0f);
  auto counts = comm_->ExchangeCounts({11});
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ((*counts)[0], 11);
  EXPECT_EQ(comm_->AllGather(a.view, DeviceZeros(*ops_, DType::kF32, {5, 6}).view).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(comm_->Synchronize().ok());
}

TEST_F(CudaCommTest, DispatchCombineCarriesSourceRankAndToken) {
  const int64_t n = 5, hidden = 64, k = 2, experts = 4;
  auto layout = ParallelLayout::Create(0, 1, 4, 2, experts);
  ASSERT_TRUE(layout.ok());
  // Payload (F32, exact): row t holds (source rank + 1) * 1000 + t in every column.
  std::vector<float> x(n * hidden);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < hidden; ++h) x[t * hidden + h] = (comm_->rank() + 1) * 1000.0f + t;
  std::vector<int32_t> ids = {0, 1, 2, 3, 1, 2, 3, 0, 0, 2};
  std::vector<float> w(n * k, 0.5f);
  auto x_d = ToDevice(*ops_, x, DType::kF32, {n, hidden});
  auto ids_d = ToDeviceI32(*ops_, ids, {n, k});
  auto w_d = ToDevice(*ops_, w, DType::kF32, {n, k});
  for (int64_t fixed_max : {int64_t{0}, int64_t{32}}) {  // exact counts, then fixed capacity
    ExpertDispatcher dispatcher(comm_.get(), ops_.get(), *layout, DispatchOptions{fixed_max});
    DispatchedRows rows;
    auto handle = dispatcher.Dispatch(x_d.view, ids_d.view, w_d.view, n, &rows);
    ASSERT_TRUE(handle.ok()) << handle.status();
    ASSERT_EQ(handle->num_recv(), n);
    EXPECT_EQ(ToHost(*ops_, rows.x), x) << "every token arrives once, in order, with its payload";
    EXPECT_EQ(ToHostI32(*ops_, rows.ids), ids);
    // Send the rows straight back: the residual (zeros) receives each token's payload once.
    auto residual = DeviceZeros(*ops_, DType::kF32, {n, hidden});
    ASSERT_TRUE(dispatcher.Combine(*handle, rows.x, residual.view).ok());
    EXPECT_EQ(ToHost(*ops_, residual.view), x);
  }
}

// The fixed-capacity dispatch makes no host round trip, so dispatch + combine over NCCL is
// captured in a CUDA graph and replays with new ids and payloads in the same buffers (what a
// decode step at N > 1 ranks does).
TEST_F(CudaCommTest, FixedCapacityDispatchReplaysInAGraph) {
  const int64_t n = 5, hidden = 64, k = 2, experts = 4;
  auto layout = ParallelLayout::Create(0, 1, 4, 2, experts);
  ASSERT_TRUE(layout.ok());
  auto x_d = DeviceZeros(*ops_, DType::kF32, {n, hidden});
  auto ids_d = DeviceZeros(*ops_, DType::kI32, {n, k});
  auto w_d = DeviceZeros(*ops_, DType::kF32, {n, k});
  auto residual = DeviceZeros(*ops_, DType::kF32, {n, hidden});
  ExpertDispatcher dispatcher(comm_.get(), ops_.get(), *layout, DispatchOptions{32});
  cuda::CudaGraphCache graphs(ops_.get());
  auto step = [&]() -> absl::Status {
    GPTOSS_RETURN_IF_ERROR(ops_->Zero(residual.view));
    DispatchedRows rows;
    // Capacity beyond the tokens: padding slots (-1) are packed as zero rows and skipped by the
    // combine inside the graph too.
    GPTOSS_ASSIGN_OR_RETURN(DispatchHandle handle,
                            dispatcher.Dispatch(x_d.view, ids_d.view, w_d.view, n + 3, &rows));
    return dispatcher.Combine(handle, rows.x, residual.view);  // every row straight back
  };
  for (int round = 0; round < 4; ++round) {  // eager, capture, then two replays
    std::vector<float> x(n * hidden);
    for (int64_t i = 0; i < n * hidden; ++i) x[i] = static_cast<float>(round * 1000 + i);
    std::vector<int32_t> ids(n * k);
    for (int64_t i = 0; i < n * k; ++i) ids[i] = static_cast<int32_t>((i + round) % experts);
    ASSERT_TRUE(ops_->CopyFromHost(x_d.view.data, x.data(), x.size() * 4).ok());
    ASSERT_TRUE(ops_->CopyFromHost(ids_d.view.data, ids.data(), ids.size() * 4).ok());
    ASSERT_TRUE(graphs.Run(/*key=*/1, step).ok());
    EXPECT_EQ(ToHost(*ops_, residual.view), x) << "round " << round;
  }
  EXPECT_EQ(graphs.num_graphs(), 1) << graphs.capture_error();
  EXPECT_EQ(graphs.capture_error(), "");
}

}  // namespace
}  // namespace gptoss
