// ExpertDispatcher: expert-parallel MoE data movement, DeepEP style. Dispatch sends every
// token row to each rank that owns at least one of its top-k experts (once per rank, with all
// k ids and weights) and returns a handle; Combine reuses the handle to send the ranks' results
// back and add them into the residual.
//
// Per layer, on every rank (ParallelLayout gives the expert ranges):
//   handle = Dispatch(h [T,H], ids [T,k], weights [T,k], &rows)   // rows.x [R,H], ids, weights
//   MoeMlp(rows.x, rows.ids, local experts) -> [R,k,H]   (non-local ids give zero rows)
//   MoeCombine(those, rows.weights, y [R,H] zeroed)     // weighted sum of the local experts
//   Combine(handle, y, residual [T,H])                   // residual[t] += sum over ranks
//
// Contract: tensors live on the communicator's device. The plan needs the expert ids on the
// host, so Dispatch copies them (T*k int32) with ops->CopyToHost (a synchronization point) and
// exchanges counts with the other ranks. Buffers are owned by the dispatcher, grow as needed
// and stay valid until the next Dispatch. A handle is only valid for the Dispatch that made it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/comm/communicator.h"
#include "worker/model/parallel_layout.h"

namespace gptoss {

struct DispatchHandle {
  int64_t num_tokens = 0;
  int top_k = 0;
  std::vector<int64_t> send_counts;  // rows to each rank
  std::vector<int64_t> recv_counts;  // rows from each rank
  std::vector<int32_t> send_token;   // send row i (rank-major) carries token send_token[i]
  int64_t num_send() const { return static_cast<int64_t>(send_token.size()); }
  int64_t num_recv() const;
};

// Pure planning (no communication): for each destination rank in order, the tokens having at
// least one expert owned by it, ascending. recv_counts is left empty. Ids must be in
// [0, layout.num_experts).
absl::StatusOr<DispatchHandle> PlanDispatch(const std::vector<int32_t>& expert_ids,
                                            int64_t num_tokens, int top_k,
                                            const ParallelLayout& layout);

struct DispatchedRows {
  TensorView x;        // [R, H]
  TensorView ids;      // [R, k] I32 (global expert ids)
  TensorView weights;  // [R, k] F32
};

class ExpertDispatcher {
 public:
  ExpertDispatcher(Communicator* comm, Ops* ops, const ParallelLayout& layout)
      : comm_(comm), ops_(ops), layout_(layout) {}

  absl::StatusOr<DispatchHandle> Dispatch(const TensorView& x, const TensorView& expert_ids,
                                          const TensorView& expert_weights, DispatchedRows* rows);
  // residual[t,:] += the rows returned for token t by every rank. results [R,H] in the order of
  // the dispatched rows.
  absl::Status Combine(const DispatchHandle& handle, const TensorView& results,
                       TensorView residual);

 private:
  struct Buffer {
    std::shared_ptr<void> memory;
    size_t bytes = 0;
  };
  absl::StatusOr<TensorView> View(Buffer& buffer, DType dtype, int64_t rows, int64_t width);

  Communicator* comm_;
  Ops* ops_;
  ParallelLayout layout_;
  Buffer send_x_, send_ids_, send_w_, recv_x_, recv_ids_, recv_w_, back_;
};

}  // namespace gptoss
