#include "worker/comm/expert_dispatcher.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "worker/comm/collective_checks.h"

namespace gptoss {

namespace {

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

uint64_t ExpertDispatcher::SentBytes(const std::vector<int64_t>& counts, int64_t row_bytes) const {
  uint64_t rows = 0;
  for (size_t r = 0; r < counts.size(); ++r)
    if (static_cast<int>(r) != layout_.rank) rows += static_cast<uint64_t>(counts[r]);
  return rows * static_cast<uint64_t>(row_bytes);
}

int64_t DispatchHandle::num_recv() const {
  return std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0});
}

absl::StatusOr<DispatchPlan> PlanDispatch(const std::vector<int32_t>& expert_ids,
                                          int64_t num_tokens, int top_k,
                                          const ParallelLayout& layout) {
  GPTOSS_CHECK_ARG(num_tokens >= 0 && top_k >= 1, "PlanDispatch: ", num_tokens, " tokens, top_k ", top_k);
  GPTOSS_CHECK_ARG(static_cast<int64_t>(expert_ids.size()) == num_tokens * top_k, "PlanDispatch: ",
                   expert_ids.size(), " expert ids for ", num_tokens, " x ", top_k);
  GPTOSS_CHECK_ARG(layout.world_size >= 1 && layout.num_experts % layout.world_size == 0 &&
                       layout.num_experts > 0,
                   "PlanDispatch: invalid layout");
  const int world = layout.world_size;
  DispatchPlan plan;
  plan.send_counts.assign(world, 0);
  std::vector<std::vector<int32_t>> per_rank(world);
  std::vector<char> needs(world);
  for (int64_t t = 0; t < num_tokens; ++t) {
    std::fill(needs.begin(), needs.end(), 0);
    for (int j = 0; j < top_k; ++j) {
      const int32_t e = expert_ids[t * top_k + j];
      GPTOSS_CHECK_ARG(e >= 0 && e < layout.num_experts, "PlanDispatch: expert id ", e, " of token ",
                       t, " is outside [0, ", layout.num_experts, ")");
      needs[layout.ExpertOwner(e)] = 1;
    }
    for (int r = 0; r < world; ++r)
      if (needs[r]) per_rank[r].push_back(static_cast<int32_t>(t));
  }
  for (int r = 0; r < world; ++r) {
    plan.send_counts[r] = static_cast<int64_t>(per_rank[r].size());
    plan.send_token.insert(plan.send_token.end(), per_rank[r].begin(), per_rank[r].end());
  }
  return plan;
}

absl::StatusOr<TensorView> ExpertDispatcher::View(Buffer& buffer, DType dtype, int64_t rows,
                                                  int64_t width) {
  TensorView view(nullptr, dtype, {rows, width}, ops_->device());
  const size_t bytes = std::max<size_t>(view.bytes(), 1);
  if (bytes > buffer.bytes) {
    GPTOSS_ASSIGN_OR_RETURN(buffer.memory, ops_->Allocate(bytes));
    buffer.bytes = bytes;
    ++generation_;
  }
  view.data = buffer.memory.get();
  return view;
}

absl::Status ExpertDispatcher::PlanOnHost(const TensorView& expert_ids, DispatchHandle& h) {
  const int64_t n = expert_ids.dim(0), k = expert_ids.dim(1);
  std::vector<int32_t> host_ids(static_cast<size_t>(n * k));
  GPTOSS_RETURN_IF_ERROR(
      ops_->CopyToHost(host_ids.data(), expert_ids.data, host_ids.size() * sizeof(int32_t)));
  GPTOSS_ASSIGN_OR_RETURN(DispatchPlan plan,
                          PlanDispatch(host_ids, n, static_cast<int>(k), layout_));
  GPTOSS_ASSIGN_OR_RETURN(h.recv_counts, comm_->ExchangeCounts(plan.send_counts));
  h.send_counts = std::move(plan.send_counts);
  const int64_t sent = static_cast<int64_t>(plan.send_token.size());
  GPTOSS_ASSIGN_OR_RETURN(TensorView index, View(index_, DType::kI32, sent, 1));
  h.index = index.Reshaped({sent});
  if (sent == 0) return absl::OkStatus();
  return ops_->CopyFromHost(h.index.data, plan.send_token.data(), sent * sizeof(int32_t));
}

absl::StatusOr<DispatchHandle> ExpertDispatcher::Dispatch(const TensorView& x,
                                                          const TensorView& expert_ids,
                                                          const TensorView& expert_weights,
                                                          int64_t capacity, DispatchedRows* rows) {
  GPTOSS_CHECK_ARG(rows != nullptr, "Dispatch: null output");
  GPTOSS_CHECK_ARG(x.rank == 2 && expert_ids.rank == 2 && expert_weights.rank == 2,
                   "Dispatch: x ", x.ShapeString(), ", ids ", expert_ids.ShapeString(),
                   " and weights ", expert_weights.ShapeString(), " must be rank 2");
  GPTOSS_CHECK_ARG(expert_ids.dtype == DType::kI32 && expert_weights.dtype == DType::kF32,
                   "Dispatch: ids must be I32 and weights F32");
  const int64_t n = x.dim(0), hidden = x.dim(1), k = expert_ids.dim(1);
  GPTOSS_CHECK_ARG(expert_ids.dim(0) == n && expert_weights.dim(0) == n && expert_weights.dim(1) == k,
                   "Dispatch: ids ", expert_ids.ShapeString(), " and weights ",
                   expert_weights.ShapeString(), " must be [", n, ",k]");
  GPTOSS_CHECK_ARG(x.device == comm_->device() && x.device == ops_->device(),
                   "Dispatch: tensors must live on the communicator's device");
  GPTOSS_CHECK_ARG(capacity >= n, "Dispatch: capacity ", capacity, " is below this rank's ", n,
                   " tokens");

  const int world = layout_.world_size;
  DispatchHandle h;
  h.num_tokens = n;
  h.top_k = static_cast<int>(k);
  const auto start = std::chrono::steady_clock::now();  // the plan (and count exchange) included
  if (capacity <= options_.fixed_max_rows) {
    h.capacity = std::max<int64_t>(capacity, 1);
    h.send_counts.assign(world, h.capacity);
    h.recv_counts = h.send_counts;
    // Rank d's block is slots row d: its tokens, then -1 (packed as zero rows).
    GPTOSS_ASSIGN_OR_RETURN(TensorView slots, View(index_, DType::kI32, world, h.capacity));
    GPTOSS_RETURN_IF_ERROR(ops_->PlanDispatch(expert_ids, layout_.local_experts(), slots));
    h.index = slots.Reshaped({world * h.capacity});
  } else {
    GPTOSS_RETURN_IF_ERROR(PlanOnHost(expert_ids, h));
  }
  // One packed byte row per dispatched token: [x | ids | weights].
  const int64_t row_bytes = hidden * static_cast<int64_t>(DTypeSize(x.dtype)) + 2 * k * 4;
  GPTOSS_ASSIGN_OR_RETURN(TensorView send, View(send_, DType::kU8, h.index.dim(0), row_bytes));
  GPTOSS_RETURN_IF_ERROR(ops_->PackRows({x, expert_ids, expert_weights}, h.index, send));
  const int64_t r = h.num_recv();
  GPTOSS_ASSIGN_OR_RETURN(TensorView recv, View(recv_, DType::kU8, r, row_bytes));
  GPTOSS_RETURN_IF_ERROR(comm_->AllToAllV(send, h.send_counts, recv, h.recv_counts));
  if (observer_) observer_->OnExchange("dispatch", Since(start), SentBytes(h.send_counts, row_bytes));
  GPTOSS_ASSIGN_OR_RETURN(rows->x, View(x_, x.dtype, r, hidden));
  GPTOSS_ASSIGN_OR_RETURN(rows->ids, View(ids_, DType::kI32, r, k));
  GPTOSS_ASSIGN_OR_RETURN(rows->weights, View(w_, DType::kF32, r, k));
  // Unpack: each tensor is a column block of the received byte rows.
  int64_t offset = 0;
  for (TensorView* t : {&rows->x, &rows->ids, &rows->weights}) {
    const int64_t bytes = t->dim(1) * static_cast<int64_t>(DTypeSize(t->dtype));
    GPTOSS_RETURN_IF_ERROR(
        ops_->CopyColumns(recv, offset, TensorView(t->data, DType::kU8, {r, bytes}, t->device)));
    offset += bytes;
  }
  return h;
}

absl::Status ExpertDispatcher::Combine(const DispatchHandle& h, const TensorView& results,
                                       TensorView residual) {
  GPTOSS_CHECK_ARG(results.rank == 2 && residual.rank == 2, "Combine: results ",
                   results.ShapeString(), " and residual ", residual.ShapeString(), " must be rank 2");
  GPTOSS_CHECK_ARG(results.dim(0) == h.num_recv() && residual.dim(0) == h.num_tokens &&
                       results.dim(1) == residual.dim(1),
                   "Combine: results ", results.ShapeString(), " / residual ",
                   residual.ShapeString(), " do not match the handle (", h.num_recv(),
                   " received rows, ", h.num_tokens, " tokens)");
  GPTOSS_CHECK_ARG(results.dtype == residual.dtype, "Combine: results and residual dtypes differ");
  // The reverse all-to-all: what was received from rank r goes back to rank r, and arrives in
  // the order it was sent, so send row i holds token index[i]'s result.
  GPTOSS_ASSIGN_OR_RETURN(TensorView back,
                          View(back_, results.dtype, h.index.dim(0), results.dim(1)));
  const auto start = std::chrono::steady_clock::now();
  GPTOSS_RETURN_IF_ERROR(comm_->AllToAllV(results, h.recv_counts, back, h.send_counts));
  if (observer_)
    observer_->OnExchange("combine", Since(start),
                          SentBytes(h.recv_counts, comm_internal::RowBytes(results)));
  // A token sent to several ranks comes back several times: add one rank's block at a time (in
  // rank order, as in either mode) so that the indices of one scatter are distinct.
  int64_t offset = 0;
  for (const int64_t count : h.send_counts) {
    if (count > 0)
      GPTOSS_RETURN_IF_ERROR(ops_->ScatterAddRows(back.Rows(offset, count),
                                                  h.index.Rows(offset, count), residual));
    offset += count;
  }
  return absl::OkStatus();
}

}  // namespace gptoss
