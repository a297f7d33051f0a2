// Host-side launchers of the CUDA kernels, one .cu file per op (kernels/cuda/<op>.cu). They are
// the layer below CudaOps: CudaOps checks shapes, dtypes and devices of the TensorViews and
// passes raw device pointers here; each launcher checks its launch limits, enqueues its
// kernel(s) on ctx.stream and returns a Status (launch errors included). Data-dependent errors
// that only the device can see (an id >= V, a slot outside the cache, a released block inside
// the window) set a bit in *ctx.error_flags; the kernel then skips the bad access (and writes
// zeros) and CudaOps::Synchronize() reports the bit as InvalidArgument.
//
// Kernel names carry their dtypes (bf16 activations, mxfp4 weights, f32 logits), e.g.
// bf16_mxfp4w_moe_mlp.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/core/dtype.h"

namespace gptoss::cuda {

// Bits of the device error word.
enum DeviceError : int {
  kErrEmbeddingId = 1 << 0,     // Embedding id outside [0, V)
  kErrKvSlot = 1 << 1,          // AppendKv slot outside the cache
  kErrBlockTable = 1 << 2,      // attended position maps to a block outside the cache / -1
  kErrAttentionBatch = 1 << 3,  // query_start / context_len inconsistent
  kErrPosition = 1 << 4,        // negative RoPE position
  kErrExpertId = 1 << 5,        // negative MoE expert id
};

struct LaunchContext {
  cudaStream_t stream = nullptr;
  int* error_flags = nullptr;  // device int, OR-ed with DeviceError bits
  int num_sms = 132;
  // Device counter of the kernels whose last block finishes the op (router.cu); zero between
  // launches (the last block resets it).
  unsigned* grid_counter = nullptr;
};

// embedding.cu: out[t,:] = table[ids[t],:]. table BF16|F32, out BF16|F32.
absl::Status LaunchEmbedding(const LaunchContext& ctx, const int32_t* ids, int64_t num_tokens,
                             const void* table, DType table_dtype, int64_t vocab, int64_t hidden,
                             void* out, DType out_dtype);

// rms_norm.cu: x, out BF16|F32 [T,H]; weight BF16|F32 [H]. fp32 math.
absl::Status LaunchRmsNorm(const LaunchContext& ctx, const void* x, DType x_dtype,
                           const void* weight, DType weight_dtype, float eps, int64_t num_tokens,
                           int64_t hidden, void* out, DType out_dtype);

// linear_bias.cu: out[t,n] += bias[n] (the fallback when cuBLASLt has no bias epilogue for a
// dtype combination). out BF16|F32, bias BF16|F32.
absl::Status LaunchAddBias(const LaunchContext& ctx, void* out, DType out_dtype, const void* bias,
                           DType bias_dtype, int64_t rows, int64_t cols);

// rope_yarn.cu: in-place rotate_half RoPE of q [T,Hq,D] and k [T,Hk,D] (BF16|F32, same dtype).
absl::Status LaunchRopeYarn(const LaunchContext& ctx, void* q, int64_t q_heads, void* k,
                            int64_t k_heads, DType dtype, int64_t num_tokens, int64_t head_dim,
                            const int32_t* positions, const float* inv_freq,
                            float attention_scaling);

// append_kv.cu: cache rows [slot] = k/v rows [t]; row = kv_heads*head_dim elements of `dtype`.
absl::Status LaunchAppendKv(const LaunchContext& ctx, const void* k, const void* v,
                            const int32_t* slots, int64_t num_tokens, int64_t row_elems,
                            DType dtype, void* k_cache, void* v_cache, int64_t num_slots);

// attention.cu: paged attention with sinks and an optional sliding window.
struct AttentionArgs {
  const void* q = nullptr;        // [T, Hq, D]
  const void* k_cache = nullptr;  // [num_blocks, block_size, Hk, D]
  const void* v_cache = nullptr;
  DType dtype = DType::kBF16;     // of q and the cache (BF16 or F32)
  const void* sinks = nullptr;    // [Hq]
  DType sinks_dtype = DType::kBF16;
  const int32_t* query_start = nullptr;   // [S+1]
  const int32_t* context_len = nullptr;   // [S]
  const int32_t* block_tables = nullptr;  // [S, max_blocks]
  int num_seqs = 0;
  int num_tokens = 0;
  int max_blocks = 0;
  int64_t num_blocks = 0;
  int block_size = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int window = 0;  // 0 = full causal
  int max_context_len = 0;
  float scale = 1.0f;
  void* out = nullptr;  // [T, Hq*D]
  DType out_dtype = DType::kBF16;
};
absl::Status LaunchAttentionWithSinks(const LaunchContext& ctx, const AttentionArgs& args);

// router_topk.cu: top-k of logits [T,E] F32 (ties: lower id), softmax over the k selected.
absl::Status LaunchRouterTopK(const LaunchContext& ctx, const float* logits, int64_t num_tokens,
                              int num_experts, int k, int32_t* ids, float* weights);

// router.cu: Ops::Router for a few rows in one launch (GEMV, then top-k in the last block).
struct RouterArgs {
  const void* h = nullptr;     // [rows, hidden] BF16
  const void* w = nullptr;     // [experts, hidden] BF16
  const void* bias = nullptr;  // [experts] or null
  bool bias_bf16 = true;
  int rows = 0, experts = 0, k = 0;
  int64_t hidden = 0;
  float* logits = nullptr;     // [rows, experts]
  int32_t* ids = nullptr;      // [rows, k]
  float* weights = nullptr;    // [rows, k]
};
bool RouterGemvApplies(const RouterArgs& args, int64_t max_rows);
absl::Status LaunchRouterGemvTopK(const LaunchContext& ctx, const RouterArgs& args);

// moe_mlp.cu: bf16_mxfp4w_moe_mlp, grouped by expert.
struct MoeArgs {
  const void* x = nullptr;  // [R, H]
  DType x_dtype = DType::kBF16;
  const int32_t* expert_ids = nullptr;  // [R, k] global ids
  int64_t rows = 0;
  int top_k = 0;
  int64_t hidden = 0;        // H (K of gate_up, N of down)
  int64_t intermediate = 0;  // I
  const uint8_t* gate_up_blocks = nullptr;  // [E, 2I, H/32, 16]
  const uint8_t* gate_up_scales = nullptr;  // [E, 2I, H/32]
  const void* gate_up_bias = nullptr;       // [E, 2I]
  const uint8_t* down_blocks = nullptr;     // [E, H, I/32, 16]
  const uint8_t* down_scales = nullptr;     // [E, H, I/32]
  const void* down_bias = nullptr;          // [E, H]
  DType bias_dtype = DType::kBF16;
  int first_expert = 0;
  int num_local = 0;
  float swiglu_limit = 7.0f;
  float swiglu_alpha = 1.702f;
  void* out = nullptr;  // [R, k, H]
  DType out_dtype = DType::kBF16;
};
absl::Status LaunchMoeMlp(const LaunchContext& ctx, const MoeArgs& args);

// moe_combine.cu: residual[t,:] += sum_j weights[t,j] * rows[t,j,:].
absl::Status LaunchMoeCombine(const LaunchContext& ctx, const void* rows, DType rows_dtype,
                              const float* weights, int64_t num_tokens, int k, int64_t hidden,
                              void* residual, DType residual_dtype);

// moe_gemv.cu: Ops::MoeExperts for a few rows (decode): MXFP4 GEMVs, the combine fused into
// down. MoeGemvApplies says whether the kernels take a call of this shape with at most
// `max_rows` rows (otherwise: LaunchMoeMlp, then LaunchMoeCombine).
bool MoeGemvApplies(const MoeArgs& args, int64_t max_rows);
absl::Status LaunchMoeGemvCombine(const LaunchContext& ctx, const MoeArgs& args,
                                  const float* weights, void* residual, DType residual_dtype);

// add_rms_norm.cu: residual += x, then out = RmsNorm(residual) (x, residual, out one dtype).
absl::Status LaunchAddRmsNorm(const LaunchContext& ctx, const void* x, DType x_dtype,
                              void* residual, DType residual_dtype, const void* weight,
                              DType weight_dtype, float eps, int64_t num_tokens, int64_t hidden,
                              void* out, DType out_dtype);

// rope_append_kv.cu: RopeYarn of q and k, then AppendKv of the rotated k and v, in one kernel.
// Inputs may be column blocks of a packed [T, (Hq + 2 Hk) * D] projection (row strides in
// elements); q is rotated into q_out (q_out may be q), k into k_out when it is not null.
struct RopeAppendKvArgs {
  const void* q = nullptr;     // rows of q_heads * head_dim, q_stride apart
  void* q_out = nullptr;       // [T, q_heads, head_dim]
  const void* k = nullptr;     // rows of k_heads * head_dim, k_stride apart
  void* k_out = nullptr;       // [T, k_heads, head_dim] or null
  const void* v = nullptr;     // rows of k_heads * head_dim, v_stride apart
  int64_t q_stride = 0, k_stride = 0, v_stride = 0;
  DType dtype = DType::kBF16;  // of q, k, v and the cache
  int64_t num_tokens = 0, q_heads = 0, k_heads = 0, head_dim = 0;
  const int32_t* positions = nullptr;  // [T]
  const float* inv_freq = nullptr;     // [head_dim / 2]
  float attention_scaling = 1.0f;
  const int32_t* slots = nullptr;  // [T]
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  int64_t num_slots = 0;
};
absl::Status LaunchRopeAppendKv(const LaunchContext& ctx, const RopeAppendKvArgs& args);

// add_in_place.cu: residual[i] += x[i].
absl::Status LaunchAddInPlace(const LaunchContext& ctx, const void* x, DType x_dtype,
                              void* residual, DType residual_dtype, int64_t n);

// sample.cu: the procedure documented on Ops::Sample, per row.
struct DeviceSamplingParams {
  float temperature;
  float top_p;
  int top_k;
  float min_p;
  float uniform;  // UniformFromSeed(seed, step), drawn on the host
};
absl::Status LaunchSample(const LaunchContext& ctx, const float* logits, int num_rows,
                          int64_t vocab, const std::vector<DeviceSamplingParams>& params,
                          int32_t* ids, float* logprobs);

// top_logprobs.cu: the n most likely ids of each row and their logprobs, as Ops::TopLogprobs.
absl::Status LaunchTopLogprobs(const LaunchContext& ctx, const float* logits, int num_rows,
                               int64_t vocab, int n, int32_t* ids, float* logprobs);

// penalties.cu: Ops::ApplyPenalties in place on logits [rows, vocab].
struct DevicePenaltyParams {
  float presence;
  float frequency;
  float repetition;
};
absl::Status LaunchApplyPenalties(const LaunchContext& ctx, float* logits, int num_rows,
                                  int64_t vocab, const int32_t* tokens, const int32_t* counts,
                                  int64_t width, const std::vector<DevicePenaltyParams>& params);

// rows.cu: dst row i (at dst + i * dst_stride bytes) = the first row_bytes of src row index[i]
// (at src + index[i] * src_stride; a null index is the identity; an index outside
// [0, src_rows) gives a zero row); dst row index[i] += src row i (indices outside
// [0, dst_rows) skipped). Indices live in device memory.
absl::Status LaunchGatherRows(const LaunchContext& ctx, const void* src, int64_t src_stride,
                              int64_t src_rows, const int32_t* index, int64_t count,
                              int64_t row_bytes, void* dst, int64_t dst_stride);
absl::Status LaunchScatterAddRows(const LaunchContext& ctx, const void* src, DType dtype,
                                  const int32_t* index, int64_t count, int64_t width, void* dst,
                                  int64_t dst_rows);
// dispatch_plan.cu: Ops::PlanDispatch; ids [tokens, k], slots [world, capacity].
absl::Status LaunchPlanDispatch(const LaunchContext& ctx, const int32_t* ids, int64_t tokens,
                                int64_t k, int experts_per_rank, int32_t* slots, int64_t world,
                                int64_t capacity);

// bandwidth.cu: streams `bytes` from src to dst (copy) or reads src into a checksum (read), for
// measuring HBM bandwidth in gptoss-bench.
absl::Status LaunchCopyKernel(const LaunchContext& ctx, const void* src, void* dst, size_t bytes);
absl::Status LaunchReadKernel(const LaunchContext& ctx, const void* src, size_t bytes,
                              unsigned long long* sink);
// Keeps the stream busy for about `nanoseconds` (OpTimer::HoldDevice).
absl::Status LaunchHoldKernel(const LaunchContext& ctx, int64_t nanoseconds);

}  // namespace gptoss::cuda
