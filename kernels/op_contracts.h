// The shape contract of each op, written once and checked by every backend (as
// worker/comm/collective_checks does for the communicators). A backend first checks what is its
// own business — dtypes and where the memory lives (CpuOps: host; CudaOps: device) — then calls
// the op's contract here, so the two can never disagree on what a valid call is.
// Every check is InvalidArgument naming the op and the tensor, and costs no pass over the data.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "kernels/ops.h"

namespace gptoss {

// Zero: t lives on `device`, rank 1..4, non-negative dims, non-null unless empty.
absl::Status CheckZeroable(const TensorView& t, Device device);

// Copy: src and dst live on `device`, share a dtype and a shape, and do not overlap.
absl::Status CheckCopy(const TensorView& src, const TensorView& dst, Device device);

// CopyColumns: src [T,N] and dst [T,M] on `device`, one dtype, first + M <= N, no overlap.
absl::Status CheckCopyColumns(const TensorView& src, int64_t first, const TensorView& dst,
                              Device device);

// RmsNorm: x [T,H] with H > 0, weight [H], out [T,H].
absl::Status CheckRmsNormShapes(const TensorView& x, const TensorView& weight,
                                const TensorView& out);
// RouterTopK: logits [T,E], 1 <= k <= E, expert_ids and expert_weights [T,k].
absl::Status CheckRouterTopKShapes(const TensorView& logits, int k, const TensorView& expert_ids,
                                   const TensorView& expert_weights);
// Elements and bytes of one leading-dimension row, from the shape (so also for 0 rows).
int64_t RowElems(const TensorView& t);
int64_t RowBytes(const TensorView& t);
// PlanDispatch: expert_ids [T,k] I32, slots [W,C] I32 with C >= T, experts_per_rank >= 1.
absl::Status CheckPlanDispatch(const TensorView& expert_ids, int experts_per_rank,
                               const TensorView& slots, Device device);
// PackRows: srcs non-empty, each [N_i, ...]; index empty or [R] I32; dst U8 [R, B] with B the
// sum of the sources' row bytes; an empty index needs R <= every N_i; dst overlaps no source.
absl::Status CheckPackRows(const std::vector<TensorView>& srcs, const TensorView& index,
                           const TensorView& dst, Device device);
// ScatterAddRows: src [R, ...] and dst [N, ...] of one float dtype and row width, index [R] I32.
absl::Status CheckScatterAddRows(const TensorView& src, const TensorView& index,
                                 const TensorView& dst, Device device);

// q [T,heads,hd], cache k == v [blocks, bs, kv_heads, hd], sinks [heads], out [T, heads*hd],
// batch describing num_seqs sequences and T tokens, window >= 0.
absl::Status CheckAttentionShapes(const TensorView& q, const KvLayerView& cache,
                                  const TensorView& sinks, const AttentionBatch& batch, int window,
                                  const TensorView& out);
// x [T,H], expert_ids [T,k], out [T,k,H]; MXFP4 gate_up [E,2I,H/32,16] / [E,2I,H/32] / [E,2I]
// and down [E,H,I/32,16] / [E,H,I/32] / [E,H] for E = ew.num_local experts.
absl::Status CheckMoeMlpShapes(const TensorView& x, const TensorView& expert_ids,
                               const ExpertWeights& ew, const TensorView& out);
// logits [B,V] with V > 0, ids and logprobs [B], one SamplingParams per row with a finite
// temperature, top_p in (0, 1], min_p in [0, 1] and top_k >= 0.
absl::Status CheckSampleArgs(const TensorView& logits, const std::vector<SamplingParams>& params,
                             const TensorView& ids, const TensorView& logprobs);
// logits [B,V], tokens and counts [B,M], one finite PenaltyParams per row (repetition > 0).
absl::Status CheckPenaltyArgs(const TensorView& logits, const TensorView& tokens,
                              const TensorView& counts, const std::vector<PenaltyParams>& params);
// logits [B,V], ids and logprobs [B,n] with n <= V.
absl::Status CheckTopLogprobsShapes(const TensorView& logits, const TensorView& ids,
                                    const TensorView& logprobs);

}  // namespace gptoss
