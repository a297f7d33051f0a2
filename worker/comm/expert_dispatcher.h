// ExpertDispatcher: expert-parallel MoE data movement, DeepEP style. Dispatch sends every
// token row to each rank that owns at least one of its top-k experts (once per rank, with all
// k ids and weights, packed into one byte row so that ONE all-to-all carries them) and returns
// a handle; Combine reuses the handle to send the ranks' results back and add them into the
// residual.
//
// Per layer, on every rank (ParallelLayout gives the expert ranges):
//   handle = Dispatch(h [T,H], ids [T,k], weights [T,k], capacity, &rows) // rows [R,H],[R,k],[R,k]
//   MoeMlp(rows.x, rows.ids, local experts) -> [R,k,H]   (non-local ids give zero rows)
//   MoeCombine(those, rows.weights, y [R,H] zeroed)     // weighted sum of the local experts
//   Combine(handle, y, residual [T,H])                   // residual[t] += sum over ranks
//
// Two modes, chosen identically on every rank from `capacity` (the most rows any rank can
// send to one destination: every rank passes the same value, the token slice of the step):
//  - exact (capacity > DispatchOptions::fixed_max_rows): the ranks first exchange how many rows
//    each sends to each (ExchangeCounts), then move exactly those rows;
//  - fixed capacity (capacity <= fixed_max_rows, decode-sized steps): no count exchange; every
//    rank sends `capacity` rows to every rank, the unused ones zero (expert 0 with weight 0:
//    the receiving rank computes them and the source ignores what comes back). One collective
//    less per layer, and no host round trip of counts, at the price of padding rows.
// Both give bit-identical results: a real row meets the same arithmetic in either mode.
//
// Contract: tensors live on the communicator's device. The plan needs the expert ids on the
// host, so Dispatch copies them (T*k int32) with ops->CopyToHost (a synchronization point).
// Buffers are owned by the dispatcher, grow as needed and stay valid until the next Dispatch.
// A handle is only valid for the Dispatch that made it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/comm/communicator.h"
#include "worker/model/parallel_layout.h"

namespace gptoss {

// What the MoE does, for metrics (worker/worker_metrics.h). Called on the thread that runs the
// forward pass; must be cheap and must not block.
class MoeObserver {
 public:
  virtual ~MoeObserver() = default;
  // The router's choices of `num_tokens` tokens in layer `layer`: ids [num_tokens * top_k], on
  // the host. Every token is reported once, by the rank that owns its row.
  virtual void OnRouted(int layer, const std::vector<int32_t>& ids, int64_t num_tokens,
                        int top_k) = 0;
  // One all-to-all of the dispatcher: "dispatch" (rows out to the experts' ranks) or
  // "combine" (results back), its wall time and the bytes this rank sent to other ranks.
  virtual void OnExchange(const char* direction, double seconds, uint64_t bytes) = 0;
};

struct DispatchOptions {
  // Steps whose per-rank capacity is at most this many rows use the fixed-capacity mode.
  // 0: always exact.
  int64_t fixed_max_rows = 32;
};

struct DispatchHandle {
  int64_t num_tokens = 0;
  int top_k = 0;
  std::vector<int64_t> send_counts;  // real rows to each rank
  std::vector<int64_t> recv_counts;  // real rows from each rank (exact mode)
  std::vector<int32_t> send_token;   // real send row i (rank-major) carries token send_token[i]
  int64_t capacity = 0;              // fixed mode: rows per rank pair on the wire; 0: exact
  int64_t num_send() const { return static_cast<int64_t>(send_token.size()); }
  // Rows this rank received (and must return): real ones, plus padding in fixed mode.
  int64_t num_recv() const;
  // What goes over the wire per rank, both ways.
  std::vector<int64_t> wire_send_counts() const;
  std::vector<int64_t> wire_recv_counts() const;
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
  ExpertDispatcher(Communicator* comm, Ops* ops, const ParallelLayout& layout,
                   DispatchOptions options = {})
      : comm_(comm), ops_(ops), layout_(layout), options_(options) {}

  // Receives the routing (of `layer`, the next Dispatch's) and the exchanges; may be null.
  void SetObserver(MoeObserver* observer) { observer_ = observer; }
  void SetLayer(int layer) { layer_ = layer; }

  // capacity: the same value on every rank, >= the number of tokens of any rank (the step's
  // token slice); it picks the mode.
  absl::StatusOr<DispatchHandle> Dispatch(const TensorView& x, const TensorView& expert_ids,
                                          const TensorView& expert_weights, int64_t capacity,
                                          DispatchedRows* rows);
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
  // Bytes of `counts` rows of `row_bytes` that go to other ranks.
  uint64_t SentBytes(const std::vector<int64_t>& counts, int64_t row_bytes) const;

  Communicator* comm_;
  Ops* ops_;
  ParallelLayout layout_;
  DispatchOptions options_;
  MoeObserver* observer_ = nullptr;
  int layer_ = 0;
  Buffer send_, recv_, x_, ids_, w_, back_;
};

}  // namespace gptoss
