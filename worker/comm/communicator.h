// Communicator: the collectives between the ranks (one per GPU, or per CPU process in tests) of
// one model replica, as the tensor-parallel attention and expert-parallel MoE need them:
//  - after o_proj: ReduceScatterSum (TP partial sums -> each rank owns a slice of the tokens);
//  - around the experts: AllToAllV (dispatch rows to the ranks owning their experts, and back),
//    driven by ExpertDispatcher (expert_dispatcher.h);
//  - before the next attention: AllGather (every rank sees every token again);
//  - AllReduceSum for anything replicated (e.g. logits when the vocab is sharded).
// Implementations: NcclCommunicator (CUDA, nccl_communicator.h), LocalCommunicator (one host
// rank, local_communicator.h) and GlooCommunicator (host ranks over TCP, gloo_communicator.h).
//
// Contract:
//  - Tensors are contiguous and live on device() (CUDA memory for NCCL, host memory otherwise).
//  - Every rank calls the same collectives in the same order with matching shapes; shapes and
//    dtypes are checked locally and mismatches are InvalidArgument naming the argument.
//  - Device implementations are asynchronous, ordered on the stream they were created with
//    (normally the CudaOps stream, so they interleave correctly with the math);
//    Synchronize() waits. Host-valued results (ExchangeCounts) are synchronous.
//  - Reductions support F32, BF16 and I32; movement (AllGather, AllToAllV) any dtype.
//  - Packing and combining the dispatch's rows is local work: Ops::PackRows/ScatterAddRows,
//    with device-side indices.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/core/tensor.h"

namespace gptoss {

// Running totals of one rank's collectives since creation (what StepResult and the metrics
// report): bytes this rank sent to other ranks, calls, and wall time inside the calls (for
// asynchronous device communicators: time to enqueue, not to complete).
struct CommStats {
  uint64_t calls = 0;
  uint64_t bytes_sent = 0;
  double seconds = 0.0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual Device device() const = 0;
  // Whether the collectives can be captured in a CUDA graph: enqueued on the ops stream with no
  // host synchronization (NCCL). Host and staged communicators run on the host: never.
  virtual bool capturable() const { return false; }

  // inout = elementwise sum over ranks, in place.
  virtual absl::Status AllReduceSum(TensorView inout) = 0;
  // out = concat over ranks (rank order) of `in`; out.numel() == world_size * in.numel().
  virtual absl::Status AllGather(const TensorView& in, TensorView out) = 0;
  // out = this rank's slice (rank order) of the elementwise sum over ranks of `in`;
  // in.numel() == world_size * out.numel().
  virtual absl::Status ReduceScatterSum(const TensorView& in, TensorView out) = 0;
  // Row-wise all-to-all. A row is send.numel() / send.dim(0) elements (recv rows must have the
  // same width and dtype). Rows [sum(send_counts[<r]), +send_counts[r]) of `send` go to rank r;
  // recv_counts[r] rows arrive from rank r, packed in rank order into `recv`.
  virtual absl::Status AllToAllV(const TensorView& send, const std::vector<int64_t>& send_counts,
                                 TensorView recv, const std::vector<int64_t>& recv_counts) = 0;
  // Host-level exchange of per-destination counts: returns c with c[r] = what rank r passed as
  // send_counts[this rank]. Synchronous.
  virtual absl::StatusOr<std::vector<int64_t>> ExchangeCounts(
      const std::vector<int64_t>& send_counts) = 0;

  virtual absl::Status Synchronize() = 0;

  virtual CommStats stats() const { return {}; }

  // Ends every collective in flight and every later one with UNAVAILABLE: the worker's
  // watchdog calls it (from another thread) when a step has waited too long for a peer that
  // died or hangs. NCCL needs it (ncclCommAbort: a hung NCCL kernel never returns on its own);
  // host communicators time out by themselves, so the default does nothing.
  virtual void Abort() {}
};

}  // namespace gptoss
