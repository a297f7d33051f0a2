// Ops: the one math interface of the model. CpuOps (kernels/cpu) is the executable spec in plain
// fp32 loops; CudaOps (kernels/cuda) implements the same contract on the GPU. transformer.cc is
// written only against this interface.
//
// Contract for every method:
//  - All TensorViews live on device() (host memory for CpuOps, device memory for CudaOps),
//    including the small metadata tensors (ids, positions, block tables).
//  - Activations have dtype activation_dtype() (F32 on CPU, BF16 on CUDA) unless stated.
//    Weights keep their checkpoint dtypes (BF16; MXFP4 experts as U8 blocks + U8 scales).
//  - Shape or dtype mismatches return InvalidArgument naming the argument; nothing is read or
//    written out of bounds. Methods may be asynchronous on CUDA (stream-ordered); Synchronize()
//    waits and surfaces deferred errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/core/tensor.h"

namespace gptoss {

// YaRN RoPE, precomputed on the host once per model from the config (see kernels/rope_yarn.h).
// HF applies rotate_half: the head dim is split into two halves (x1 = first D/2, x2 = second
// D/2), not interleaved pairs, and cos/sin are multiplied by attention_scaling.
struct RopeTable {
  TensorView inv_freq;           // [D/2] F32, on device()
  float attention_scaling = 1;   // YaRN "mscale" multiplying cos and sin
};

// One layer's paged KV cache. Logical block b of a sequence holds positions
// [b*block_size, (b+1)*block_size). Blocks wholly outside a sliding window may be released and
// marked -1 in the block table; attention never reads them.
struct KvLayerView {
  TensorView k;  // [num_blocks, block_size, kv_heads, head_dim], activation dtype
  TensorView v;  // same
  int block_size() const { return static_cast<int>(k.dim(1)); }
};

// The ragged batch of one step: S sequences, T new tokens in total (prefill chunks and decode
// tokens mixed). Sequence s owns new tokens [query_start[s], query_start[s+1]) which sit at
// positions context_len[s] - n_new(s) ... context_len[s] - 1 (the cache already holds them
// after AppendKv).
struct AttentionBatch {
  TensorView query_start;   // [S+1] I32
  TensorView context_len;   // [S] I32
  TensorView block_tables;  // [S, max_blocks] I32, -1 = not allocated / released
  int num_seqs = 0;
  int num_tokens = 0;
  int max_context_len = 0;  // host-side upper bound, for kernel launch sizing
};

// MXFP4 experts of one layer, in the HF checkpoint layout (integrations/mxfp4.py):
// blocks [E, N, K/32, 16] U8 hold two E2M1 codes per byte, low nibble first, for row n (output
// feature) and columns k (input feature); scales [E, N, K/32] U8 are E8M0, value 2^(s-127).
// gate_up rows interleave gate (even) and up (odd). Only experts [first_expert,
// first_expert + num_local) are present on this rank (expert parallelism).
struct ExpertWeights {
  TensorView gate_up_blocks;  // [E_local, 2I, H/32, 16] U8
  TensorView gate_up_scales;  // [E_local, 2I, H/32] U8
  TensorView gate_up_bias;    // [E_local, 2I] BF16
  TensorView down_blocks;     // [E_local, H, I/32, 16] U8
  TensorView down_scales;     // [E_local, H, I/32] U8
  TensorView down_bias;       // [E_local, H] BF16
  int first_expert = 0;
  int num_local = 0;
  float swiglu_limit = 7.0f;
  float swiglu_alpha = 1.702f;
};

// Per-row sampling parameters. temperature <= 0 means greedy (argmax, lowest id on ties).
// Filters apply in this order: top_k, top_p (nucleus over the sorted distribution), min_p.
// The random draw is a pure function of (seed, step) (kernels/core/rng.h), so CPU and GPU and
// batched and single runs draw the same uniform.
struct SamplingParams {
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;        // 0 = off
  float min_p = 0.0f;   // 0 = off
  uint64_t seed = 0;
  uint64_t step = 0;    // index of the token being generated within its request
};

// Per-row penalty parameters for Ops::ApplyPenalties (no-op values by default).
struct PenaltyParams {
  float presence = 0.0f;
  float frequency = 0.0f;
  float repetition = 1.0f;
};

// Marks in an op stream, for measuring where a step's time goes (ProfilingOps,
// gptoss-bench --breakdown). CudaOps records CUDA events; the default reads the host clock after
// Synchronize(), which is exact for a synchronous backend.
class OpTimer {
 public:
  virtual ~OpTimer() = default;
  // Records a mark after every op issued so far; returns its index (0, 1, ... since Reset).
  virtual absl::StatusOr<int> Mark() = 0;
  // Seconds between marks `from` and `to`; the ops must have been synchronized after `to`.
  virtual absl::StatusOr<double> Seconds(int from, int to) = 0;
  // Makes the device wait about `seconds` before the ops issued next, so that the host queues
  // them meanwhile and eager timing measures the kernels instead of their launch latency.
  virtual absl::Status HoldDevice(double seconds) = 0;
  virtual void Reset() = 0;
};

class Ops {
 public:
  virtual ~Ops() = default;
  virtual Device device() const = 0;
  virtual DType activation_dtype() const = 0;
  virtual absl::Status Synchronize() = 0;

  // Memory on device(): an owning, zero-filled buffer of `bytes` bytes, freed when the last
  // reference goes. The transformer and the runners allocate scratch, tables and caches through
  // this so that they never name a backend.
  virtual absl::StatusOr<std::shared_ptr<void>> Allocate(size_t bytes) = 0;
  // Synchronous copies between host memory and device() memory (plain memcpy on the CPU).
  virtual absl::Status CopyFromHost(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes) = 0;

  // dst = src (same shape and dtype), device to device, stream-ordered (graph-capturable).
  virtual absl::Status Copy(const TensorView& src, TensorView dst) = 0;

  // dst[t, :] = src[t, first : first + M] for src [T, N] and dst [T, M] of one dtype (a column
  // block of a packed projection), stream-ordered.
  virtual absl::Status CopyColumns(const TensorView& src, int64_t first, TensorView dst) = 0;

  // --- Rows of expert-parallel dispatch (worker/comm/expert_dispatcher.h). Every index lives in
  // device() memory, so that a decode step of several ranks plans, packs and combines its rows
  // without a host round trip and can be captured in a CUDA graph.

  // slots [W, C] I32 = the plan of a fixed-capacity dispatch: row d lists, ascending, the tokens
  // of expert_ids [T, k] with at least one expert in [d * experts_per_rank, (d + 1) *
  // experts_per_rank), then -1 up to C. C >= T, so no row overflows; an id outside
  // [0, W * experts_per_rank) sends its token nowhere.
  virtual absl::Status PlanDispatch(const TensorView& expert_ids, int experts_per_rank,
                                    TensorView slots) = 0;
  // Several tensors' rows side by side in one byte row, so that one all-to-all carries them
  // all: dst [R, B] U8, row i = row index[i] of each source in turn (B = the sum of the
  // sources' row bytes). index [R] I32: an entry outside [0, rows of the sources) gives a zero
  // row (the plan's -1 padding). An empty index is the identity (R <= every source's rows).
  virtual absl::Status PackRows(const std::vector<TensorView>& srcs, const TensorView& index,
                                TensorView dst) = 0;
  // dst[index[i], :] += src[i, :] for every row of src (F32 or BF16; fp32 sum, rounded once:
  // the same bits on every backend, NaN payloads aside).
  // index [src rows] I32: entries outside [0, dst rows) are skipped; the others must be
  // distinct (CpuOps checks it; a device backend cannot afford to).
  virtual absl::Status ScatterAddRows(const TensorView& src, const TensorView& index,
                                      TensorView dst) = 0;

  // A timer over this backend's op stream (see OpTimer). Default: host clock after Synchronize.
  virtual absl::StatusOr<std::unique_ptr<OpTimer>> CreateTimer();

  // t = 0, every byte (any dtype; stream-ordered on CUDA, so it can be captured in a graph).
  // For buffers the engine accumulates into (MoE results) or pads (token rows of a parallel step).
  virtual absl::Status Zero(TensorView t) = 0;

  // out[t,:] = table[ids[t],:]. ids [T] I32 (each checked < V), table [V,H] BF16, out [T,H].
  // The table may also have the activation dtype: the transformer gathers the rows whose logits
  // are wanted from its [T,H] hidden states with this same op.
  virtual absl::Status Embedding(const TensorView& ids, const TensorView& table,
                                 TensorView out) = 0;

  // out = x * rsqrt(mean(x^2) + eps) * weight, computed in fp32. x,out [T,H]; weight [H] BF16.
  virtual absl::Status RmsNorm(const TensorView& x, const TensorView& weight, float eps,
                               TensorView out) = 0;

  // out[T,N] = x[T,K] · w[N,K]^T (+ bias[N] if bias is non-empty). w, bias BF16.
  // out has the activation dtype or F32 (router logits and lm_head logits are F32).
  virtual absl::Status Linear(const TensorView& x, const TensorView& w, const TensorView& bias,
                              TensorView out) = 0;

  // In-place YaRN rotation of q [T,Hq,D] and k [T,Hk,D] at positions [T] I32.
  virtual absl::Status RopeYarn(TensorView q, TensorView k, const TensorView& positions,
                                const RopeTable& rope) = 0;

  // cache.k/v[slot[t] / bs, slot[t] % bs] = k/v[t]. k,v [T,Hk,D]; slots [T] I32 (physical).
  // Slot -1 stores nothing (the padding rows of a fixed-shape, graph-replayed step); any other
  // slot outside the cache is an error.
  virtual absl::Status AppendKv(const TensorView& k, const TensorView& v,
                                const TensorView& slots, KvLayerView cache) = 0;

  // Causal attention of q [T,Hq,D] over the cache, GQA (Hq/Hk query heads per kv head).
  // window > 0: query at position p sees keys at positions > p - window (HF sliding mask).
  // Sinks: one extra logit per head (sinks [Hq] BF16) joins the softmax and is then dropped.
  // out [T, Hq*D].
  virtual absl::Status AttentionWithSinks(const TensorView& q, const KvLayerView& cache,
                                          const TensorView& sinks, const AttentionBatch& batch,
                                          int window, float scale, TensorView out) = 0;

  // Router: ids/weights [T,k] = top-k of logits [T,E] (F32), then softmax over the k selected
  // logits only. Ties pick the lower expert id. ids I32, weights F32.
  virtual absl::Status RouterTopK(const TensorView& logits, int k, TensorView expert_ids,
                                  TensorView expert_weights) = 0;

  // out[r,j,:] = expert_{ids[r,j]}(x[r,:]) for every (r,j) whose id is local; rows of non-local
  // ids are written as zeros. x [R,H]; ids [R,k] I32 (global expert ids); out [R,k,H].
  // expert(x) = down( (clamp(up,-l,l) + 1) * g*sigmoid(alpha*g) ) + down_bias,
  // g = min(gate, l); gate/up from the interleaved gate_up projection (+ bias).
  virtual absl::Status MoeMlp(const TensorView& x, const TensorView& expert_ids,
                              const ExpertWeights& experts, TensorView out) = 0;

  // residual[t,:] += sum_j weights[t,j] * rows[t,j,:]. rows [T,k,H], weights [T,k] F32.
  virtual absl::Status MoeCombine(const TensorView& rows, const TensorView& weights,
                                  TensorView residual) = 0;

  // residual += x (elementwise, [T,H]).
  virtual absl::Status AddInPlace(const TensorView& x, TensorView residual) = 0;

  // Samples one id per row of logits [B,V] F32. params: B host-side entries.
  // ids [B] I32; logprobs [B] F32 = log_softmax(logits[b])[ids[b]], i.e. of the raw model
  // distribution, before temperature and filters (what OpenAI-style APIs report).
  //
  // The exact procedure (CpuOps is the reference; CudaOps must draw the same id):
  //  1. temperature <= 0: greedy, the argmax of logits[b], lowest id on ties. No draw.
  //  2. Otherwise z_i = logits[b,i] / temperature (fp32). Candidates are sorted by z descending,
  //     ties by id ascending.
  //  3. top_k (0 < top_k < V): keep the first top_k candidates.
  //  4. p_i = exp(z_i - z_0) / sum over kept of exp(z_j - z_0) (sum in double).
  //  5. top_p (< 1): keep the shortest prefix whose cumulative p reaches top_p (at least one).
  //  6. min_p (> 0): keep candidates with p_i >= min_p * p_0 (p_0 is the largest).
  //  7. u = UniformFromSeed(seed, step) (kernels/core/rng.h). Walk the kept candidates in sorted
  //     order accumulating p_i (double); pick the first whose running sum exceeds
  //     u * (sum of kept p), or the last kept one if rounding leaves none.
  virtual absl::Status Sample(const TensorView& logits, const std::vector<SamplingParams>& params,
                              TensorView ids, TensorView logprobs) = 0;

  // Repetition / presence / frequency penalties, in place on logits [B,V] F32, before Sample.
  // tokens [B,M] I32 lists the distinct ids row b has seen (prompt and completion), -1 = padding
  // (ids unique within a row); counts [B,M] I32 how often each occurs in the completion (0 = only
  // in the prompt). params: B host-side entries. For every listed id of row b, in this order:
  //   repetition != 1 (HF/CTRL):  l = l > 0 ? l / repetition : l * repetition
  //   count > 0 (OpenAI):         l -= frequency * count + presence
  virtual absl::Status ApplyPenalties(TensorView logits, const TensorView& tokens,
                                      const TensorView& counts,
                                      const std::vector<PenaltyParams>& params) = 0;

  // --- Fused ops. Each default below is the composition of the ops above that it stands for,
  // written once (kernels/ops.cc), so every backend gives the same results with or without a
  // fused kernel and CpuOps is the reference of each. CudaOps fuses them on the decode path.

  // residual += x (AddInPlace), then out = RmsNorm(residual): the seam between attention and
  // the MoE. The norm reads the residual as stored (rounded to its dtype). out must not alias.
  virtual absl::Status AddRmsNorm(const TensorView& x, TensorView residual,
                                  const TensorView& weight, float eps, TensorView out);

  // RopeYarn(q, k, positions) then AppendKv(k, v, slots, cache): q and k rotated in place and
  // the rotated keys stored, as HF's cache stores them.
  virtual absl::Status RopeAppendKv(TensorView q, TensorView k, const TensorView& v,
                                    const TensorView& positions, const RopeTable& rope,
                                    const TensorView& slots, KvLayerView cache);

  // The same from the packed projection qkv [T, (Hq + 2*Hk) * D] of one GEMM over the stacked
  // q, k and v weights: q, rotated, into q_out [T, Hq, D]; the rotated k and v into the cache.
  // k and v [T, Hk, D] are scratch (the default composition copies the column blocks there,
  // then runs RopeAppendKv; a fused kernel reads qkv directly and may leave them unwritten).
  virtual absl::Status QkvRopeAppendKv(const TensorView& qkv, TensorView q_out, TensorView k,
                                       TensorView v, const TensorView& positions,
                                       const RopeTable& rope, const TensorView& slots,
                                       KvLayerView cache);

  // The router of one layer: logits [T,E] (F32) = Linear(h, w, bias), then RouterTopK.
  virtual absl::Status Router(const TensorView& h, const TensorView& w, const TensorView& bias,
                              int k, TensorView logits, TensorView expert_ids,
                              TensorView expert_weights);

  // residual[t,:] += sum_j weights[t,j] * expert_{ids[t,j]}(x[t,:]) over the local experts:
  // MoeMlp into `rows` [T,k,H] (scratch), then MoeCombine. A fused kernel may leave `rows`
  // unwritten; its result must equal the composition up to the rounding of the expert rows.
  virtual absl::Status MoeExperts(const TensorView& x, const TensorView& expert_ids,
                                  const TensorView& expert_weights, const ExpertWeights& experts,
                                  TensorView rows, TensorView residual);

  // The n = ids.dim(1) most likely ids of each row of logits [B,V] F32, most likely first (ties:
  // lower id first), with their log_softmax values computed exactly as Sample's logprobs (so the
  // sampled id's entry equals Sample's logprob). ids [B,n] I32, logprobs [B,n] F32, n <= V.
  virtual absl::Status TopLogprobs(const TensorView& logits, TensorView ids,
                                   TensorView logprobs) = 0;
};

}  // namespace gptoss
