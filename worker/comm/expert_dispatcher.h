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
//  - exact (capacity > DispatchOptions::fixed_max_rows): the plan is made on the host (the
//    expert ids are copied back: a synchronization point), the ranks exchange how many rows
//    each sends to each (ExchangeCounts), then move exactly those rows;
//  - fixed capacity (capacity <= fixed_max_rows, decode-sized steps): the plan is made on the
//    device (Ops::PlanDispatch) and every rank sends `capacity` rows to every rank, the unused
//    ones zero (expert 0 with weight 0: the receiving rank computes them, the source ignores
//    what comes back). No count exchange and no host round trip: with a capturable
//    communicator (NCCL) the whole MoE block replays in a CUDA graph. The price is the
//    padding rows.
// Both give bit-identical results: a real row meets the same arithmetic in either mode, and the
// combine adds the ranks' results in rank order in both. (An expert id outside the model, which
// the router never produces, is an error in the exact mode and sends its token nowhere in the
// fixed one.)
//
// Contract: tensors live on the communicator's device; rows are packed and combined with
// Ops::PackRows / Ops::ScatterAddRows through a device-side index. Buffers are owned by the
// dispatcher, grow as needed and stay valid until the next Dispatch (a graph replays them, so
// they only grow between captures: the transformer's scratch generation covers that). A handle
// is only valid for the Dispatch that made it.
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
  // the host. Every token is reported once, by the rank that owns its row, after the step
  // (Transformer::ReportRouting: the routing is recorded on the device during the step).
  virtual void OnRouted(int layer, const std::vector<int32_t>& ids, int64_t num_tokens,
                        int top_k) = 0;
  // One all-to-all of the dispatcher: "dispatch" (rows out to the experts' ranks) or
  // "combine" (results back), its wall time (to enqueue, on a device communicator) and the
  // bytes this rank sent to other ranks. Reported when the exchange is issued from the host: a
  // decode step replayed from a CUDA graph issues none, so replayed steps are not in these
  // figures (nor in the communicator's CommStats).
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
  int64_t capacity = 0;              // fixed mode: rows per rank pair on the wire; 0: exact
  std::vector<int64_t> send_counts;  // rows on the wire to each rank (fixed: capacity each)
  std::vector<int64_t> recv_counts;  // rows on the wire from each rank
  // [sum of send_counts] I32 on the device: send row i carries token index[i] (-1: padding).
  TensorView index;
  int64_t num_recv() const;  // rows this rank received and must return
};

// The exact mode's plan, made on the host (no communication): for each destination rank in
// order, the tokens having at least one expert owned by it, ascending. Ids must be in
// [0, layout.num_experts).
struct DispatchPlan {
  std::vector<int64_t> send_counts;
  std::vector<int32_t> send_token;  // rank-major
};
absl::StatusOr<DispatchPlan> PlanDispatch(const std::vector<int32_t>& expert_ids,
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

  // Receives the exchanges; may be null.
  void SetObserver(MoeObserver* observer) { observer_ = observer; }
  // Changes whenever a buffer is reallocated (a captured CUDA graph would read freed memory).
  uint64_t generation() const { return generation_; }

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
  // The exact mode's index (uploaded) and counts (exchanged).
  absl::Status PlanOnHost(const TensorView& expert_ids, DispatchHandle& h);
  // Bytes of `counts` rows of `row_bytes` that go to other ranks.
  uint64_t SentBytes(const std::vector<int64_t>& counts, int64_t row_bytes) const;

  Communicator* comm_;
  Ops* ops_;
  ParallelLayout layout_;
  DispatchOptions options_;
  MoeObserver* observer_ = nullptr;
  Buffer index_, send_, recv_, x_, ids_, w_, back_;
  uint64_t generation_ = 0;
};

}  // namespace gptoss
