// bf16_paged_attention_sinks: causal GQA attention of q [T,Hq,D] over the paged KV cache, with
// the gpt-oss sink logit and an optional sliding window, for mixed prefill/decode batches.
//
// Work decomposition. A block owns one "tile" (qt consecutive new tokens of ONE sequence) and one
// kv head; its R = qt * G rows are (token, query head of the kv head's group) pairs, so every
// K/V tile loaded into shared memory serves all of them (GQA reuse + query-tile reuse). Blocks
// find their tile from query_start on the device (the host only knows T and S), so the grid is
// sized by the bound ceil(T/qt) + S tiles and surplus blocks exit. Keys are walked in tiles of
// KT with an online softmax (fp32). When there are few blocks for the GPU (decode at small
// batch, long contexts) the key range is also split over gridDim.z (flash-decoding); each split
// writes (max, sum, acc) partials and bf16_attention_combine merges them with the sink.
//
// gpt-oss quirks handled here:
//  - Sinks: one extra logit per query head joins the softmax denominator and is then dropped
//    (it has no value row). It is not scaled.
//  - Sliding window (HF sliding_window_overlay): a query at position p sees keys at positions
//    p - window < j <= p.
//  - Blocks wholly outside the window may be released (-1); they are never read. A -1 (or an id
//    outside the cache) for a position that IS attended sets kErrBlockTable.
#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxSplits = 64;

struct Params {
  const bf16* q;
  const bf16* k_cache;
  const bf16* v_cache;
  const void* sinks;
  bool sinks_bf16;
  const int32_t* query_start;
  const int32_t* context_len;
  const int32_t* block_tables;
  int num_seqs, num_tokens, max_blocks;
  int64_t num_blocks;
  int block_size, num_heads, num_kv_heads, window;
  float scale;
  bf16* out;
  float* partial_ml;   // [T, Hq, splits, 2] (max, sum) when splits > 1
  float* partial_acc;  // [T, Hq, splits, D]
  int* error_flags;
};

__device__ __forceinline__ float LoadSink(const Params& p, int head) {
  return p.sinks_bf16 ? __bfloat162float(static_cast<const bf16*>(p.sinks)[head])
                      : static_cast<const float*>(p.sinks)[head];
}

// D: head dim. R: rows per block (qt * G <= R). KT: keys per shared-memory tile.
template <int D, int R, int KT>
__global__ void __launch_bounds__(kThreads)
    bf16_paged_attention_sinks(const Params p, int group, int qt) {
  static_assert(kThreads % R == 0 && D % (kThreads / R) == 0 && KT % 32 == 0, "tile shape");
  constexpr int kTpr = kThreads / R;  // threads per row in the P·V product
  constexpr int kDpt = D / kTpr;      // head dims per thread
  __shared__ float q_s[R][D + 1];
  __shared__ float k_s[KT][D + 1];
  __shared__ float v_s[KT][D + 1];
  __shared__ float s_s[R][KT + 1];
  __shared__ float m_s[R], l_s[R], alpha_s[R];
  __shared__ int info[4];  // seq, first token, tokens in tile, valid

  const int tid = threadIdx.x;
  const int kvh = blockIdx.y;
  const int split = blockIdx.z, splits = gridDim.z;

  // --- Which sequence and tokens this block owns (thread 0 scans query_start). ---
  if (tid == 0) {
    info[3] = 0;
    int64_t tiles_before = 0;
    bool bad = false;
    for (int s = 0; s < p.num_seqs; ++s) {
      const int q0 = p.query_start[s], q1 = p.query_start[s + 1];
      const int n_new = q1 - q0;
      if (n_new < 0 || q0 < 0 || q1 > p.num_tokens || p.context_len[s] < n_new) {
        bad = true;
        break;
      }
      const int64_t tiles = (n_new + qt - 1) / qt;
      if (blockIdx.x < tiles_before + tiles) {
        const int tile = static_cast<int>(blockIdx.x - tiles_before);
        info[0] = s;
        info[1] = q0 + tile * qt;
        info[2] = min(qt, q1 - info[1]);
        info[3] = 1;
        break;
      }
      tiles_before += tiles;
    }
    if (blockIdx.x == 0 && kvh == 0 && split == 0 &&
        (bad || p.query_start[0] != 0 || p.query_start[p.num_seqs] != p.num_tokens))
      atomicOr(p.error_flags, kErrAttentionBatch);
    if (bad) info[3] = 0;
  }
  __syncthreads();
  if (!info[3]) return;
  const int seq = info[0], t0 = info[1], nt = info[2];
  const int n_new = p.query_start[seq + 1] - p.query_start[seq];
  const int ctx = p.context_len[seq];
  // Position of the tile's first token: the new tokens are the last n_new of the context.
  const int pos0 = ctx - n_new + (t0 - p.query_start[seq]);
  const int pos_last = pos0 + nt - 1;
  const int lo = p.window > 0 ? max(0, pos0 - p.window + 1) : 0;
  const int hi = pos_last + 1;
  const int chunk = (hi - lo + splits - 1) / splits;
  const int k_begin = lo + split * chunk;
  const int k_end = min(hi, k_begin + chunk);
  const int rows = qt * group;

  // --- Q rows (pre-multiplied by the softmax scale, as HF's (q @ k^T) * scaling). ---
  for (int idx = tid; idx < R * D; idx += kThreads) {
    const int r = idx / D, d = idx % D;
    const int i = r / group, g = r % group;
    float v = 0.0f;
    if (r < rows && i < nt) {
      const int64_t t = t0 + i;
      const int head = kvh * group + g;
      v = __bfloat162float(p.q[(t * p.num_heads + head) * D + d]) * p.scale;
    }
    q_s[r][d] = v;
  }
  for (int r = tid; r < R; r += kThreads) {
    m_s[r] = -INFINITY;
    l_s[r] = 0.0f;
  }
  float acc[kDpt];
#pragma unroll
  for (int x = 0; x < kDpt; ++x) acc[x] = 0.0f;
  const int my_row = tid / kTpr, my_lane = tid % kTpr;
  const int32_t* table = p.block_tables + static_cast<int64_t>(seq) * p.max_blocks;

  for (int kb = k_begin; kb < k_end; kb += KT) {
    __syncthreads();  // previous tile fully consumed (and q_s/m_s initialised)
    // --- Load K/V tile; 8 bf16 (16 bytes) per load. ---
    constexpr int kVec = 8;
    for (int idx = tid; idx < KT * (D / kVec); idx += kThreads) {
      const int jj = idx / (D / kVec), d0 = (idx % (D / kVec)) * kVec;
      const int j = kb + jj;
      float kv_k[kVec], kv_v[kVec];
#pragma unroll
      for (int e = 0; e < kVec; ++e) kv_k[e] = kv_v[e] = 0.0f;
      if (j < k_end) {
        const int lb = j / p.block_size;
        const int phys = lb < p.max_blocks ? table[lb] : -1;
        if (phys < 0 || phys >= p.num_blocks) {
          atomicOr(p.error_flags, kErrBlockTable);
        } else {
          const int64_t off =
              ((static_cast<int64_t>(phys) * p.block_size + j % p.block_size) * p.num_kv_heads +
               kvh) * D + d0;
          const uint4 kraw = *reinterpret_cast<const uint4*>(p.k_cache + off);
          const uint4 vraw = *reinterpret_cast<const uint4*>(p.v_cache + off);
          const bf16* kb16 = reinterpret_cast<const bf16*>(&kraw);
          const bf16* vb16 = reinterpret_cast<const bf16*>(&vraw);
#pragma unroll
          for (int e = 0; e < kVec; ++e) {
            kv_k[e] = __bfloat162float(kb16[e]);
            kv_v[e] = __bfloat162float(vb16[e]);
          }
        }
      }
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        k_s[jj][d0 + e] = kv_k[e];
        v_s[jj][d0 + e] = kv_v[e];
      }
    }
    __syncthreads();
    // --- Scores with the causal / window mask. ---
    for (int idx = tid; idx < R * KT; idx += kThreads) {
      const int r = idx / KT, jj = idx % KT;
      const int i = r / group;
      const int j = kb + jj;
      const int pos = pos0 + i;
      const bool visible = r < rows && i < nt && j < k_end && j <= pos &&
                           (p.window <= 0 || j > pos - p.window);
      float s = -INFINITY;
      if (visible) {
        s = 0.0f;
#pragma unroll 16
        for (int d = 0; d < D; ++d) s += q_s[r][d] * k_s[jj][d];
      }
      s_s[r][jj] = s;
    }
    __syncthreads();
    // --- Online softmax: one warp per row. ---
    const int warp = tid / 32, lane = tid % 32;
    for (int r = warp; r < R; r += kWarps) {
      float mt = -INFINITY;
#pragma unroll
      for (int x = 0; x < KT / 32; ++x) mt = fmaxf(mt, s_s[r][lane + 32 * x]);
      mt = WarpMax(mt);
      const float m_old = m_s[r];
      const float m_new = fmaxf(m_old, mt);
      float sum = 0.0f;
#pragma unroll
      for (int x = 0; x < KT / 32; ++x) {
        const float s = s_s[r][lane + 32 * x];
        const float e = (m_new == -INFINITY || s == -INFINITY) ? 0.0f : __expf(s - m_new);
        s_s[r][lane + 32 * x] = e;
        sum += e;
      }
      sum = WarpSum(sum);
      if (lane == 0) {
        const float alpha = (m_old == -INFINITY) ? 0.0f : __expf(m_old - m_new);
        alpha_s[r] = alpha;
        l_s[r] = l_s[r] * alpha + sum;
        m_s[r] = m_new;
      }
    }
    __syncthreads();
    // --- acc = acc * alpha + P · V. Dims of a row are strided over its kTpr threads. ---
    {
      const float alpha = alpha_s[my_row];
#pragma unroll
      for (int x = 0; x < kDpt; ++x) acc[x] *= alpha;
      for (int jj = 0; jj < KT; ++jj) {
        const float pj = s_s[my_row][jj];
#pragma unroll
        for (int x = 0; x < kDpt; ++x) acc[x] += pj * v_s[jj][my_lane + kTpr * x];
      }
    }
  }
  __syncthreads();

  // --- Write: final output (one split) or partials (several). ---
  const int i = my_row / group, g = my_row % group;
  if (my_row >= rows || i >= nt) return;
  const int64_t t = t0 + i;
  const int head = kvh * group + g;
  const float m = m_s[my_row], l = l_s[my_row];
  if (splits == 1) {
    const float sink = LoadSink(p, head);
    const float mx = fmaxf(m, sink);
    const float wk = (m == -INFINITY) ? 0.0f : __expf(m - mx);
    const float denom = l * wk + ((sink == -INFINITY) ? 0.0f : __expf(sink - mx));
    const float f = denom > 0.0f ? wk / denom : 0.0f;
    bf16* o = p.out + (t * p.num_heads + head) * D;
#pragma unroll
    for (int x = 0; x < kDpt; ++x) o[my_lane + kTpr * x] = __float2bfloat16_rn(acc[x] * f);
  } else {
    const int64_t base = (t * p.num_heads + head) * splits + split;
    if (my_lane == 0) {
      p.partial_ml[base * 2] = m;
      p.partial_ml[base * 2 + 1] = l;
    }
    float* pa = p.partial_acc + base * D;
#pragma unroll
    for (int x = 0; x < kDpt; ++x) pa[my_lane + kTpr * x] = acc[x];
  }
}

// Merges the split partials of one (token, head) with the sink: out = sum_z acc_z e^(m_z - M) /
// (e^(sink - M) + sum_z l_z e^(m_z - M)), M = max(sink, max_z m_z).
template <int D>
__global__ void bf16_attention_combine(const Params p, int splits) {
  const int64_t t = blockIdx.x;
  const int head = blockIdx.y;
  const int d = threadIdx.x;
  const int64_t base = (t * p.num_heads + head) * splits;
  const float sink = LoadSink(p, head);
  float mx = sink;
  for (int z = 0; z < splits; ++z) mx = fmaxf(mx, p.partial_ml[(base + z) * 2]);
  float denom = (sink == -INFINITY) ? 0.0f : __expf(sink - mx);
  float acc = 0.0f;
  for (int z = 0; z < splits; ++z) {
    const float m = p.partial_ml[(base + z) * 2];
    if (m == -INFINITY) continue;
    const float w = __expf(m - mx);
    denom += p.partial_ml[(base + z) * 2 + 1] * w;
    acc += p.partial_acc[(base + z) * D + d] * w;
  }
  p.out[(t * p.num_heads + head) * D + d] = __float2bfloat16_rn(denom > 0.0f ? acc / denom : 0.0f);
}

template <int D, int R, int KT>
absl::Status Launch(const LaunchContext& ctx, Params& p, int group, int num_tokens,
                    int max_context_len, int window) {
  const int qt = R / group;
  const int64_t tiles = CeilDiv(num_tokens, qt) + p.num_seqs;
  if (tiles > 0x7fffffff) return absl::InvalidArgumentError("Attention: batch too large");
  // Split the key range when the grid alone cannot fill the GPU (decode, long contexts).
  const int64_t blocks = tiles * p.num_kv_heads;
  const int64_t key_range =
      window > 0 ? std::min<int64_t>(window + qt - 1, max_context_len) : max_context_len;
  int splits = 1;
  if (blocks < 2LL * ctx.num_sms && key_range > 4 * KT) {
    splits = static_cast<int>(std::min<int64_t>(
        {CeilDiv(2LL * ctx.num_sms, blocks), CeilDiv(key_range, 4 * KT), kMaxSplits}));
    splits = std::max(splits, 1);
  }
  StreamScratch scratch(ctx.stream);
  if (splits > 1) {
    const int64_t entries = static_cast<int64_t>(num_tokens) * p.num_heads * splits;
    GPTOSS_ASSIGN_OR_RETURN(p.partial_ml, scratch.GetAs<float>(entries * 2));
    GPTOSS_ASSIGN_OR_RETURN(p.partial_acc, scratch.GetAs<float>(entries * D));
  }
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(p.num_kv_heads),
                  static_cast<unsigned>(splits));
  bf16_paged_attention_sinks<D, R, KT><<<grid, kThreads, 0, ctx.stream>>>(p, group, qt);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_paged_attention_sinks");
  if (splits > 1) {
    const dim3 cgrid(static_cast<unsigned>(num_tokens), static_cast<unsigned>(p.num_heads));
    bf16_attention_combine<D><<<cgrid, D, 0, ctx.stream>>>(p, splits);
    GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_attention_combine");
  }
  return absl::OkStatus();
}

template <int D>
absl::Status LaunchForHeadDim(const LaunchContext& ctx, Params& p, const AttentionArgs& a) {
  const int group = a.num_heads / a.num_kv_heads;
  // Pure decode (one new token per sequence): small tiles of one token x G heads.
  const bool decode = a.num_tokens == a.num_seqs && group <= 8;
  if (decode) return Launch<D, 8, 64>(ctx, p, group, a.num_tokens, a.max_context_len, a.window);
  if (group > 64) return absl::UnimplementedError("Attention: more than 64 query heads per kv head");
  return Launch<D, 64, 32>(ctx, p, group, a.num_tokens, a.max_context_len, a.window);
}

}  // namespace

absl::Status LaunchAttentionWithSinks(const LaunchContext& ctx, const AttentionArgs& a) {
  if (a.num_tokens == 0) return absl::OkStatus();
  if (a.dtype != DType::kBF16 || a.out_dtype != DType::kBF16)
    return absl::InvalidArgumentError("Attention: q, cache and out must be BF16 on CUDA");
  if (a.num_kv_heads <= 0 || a.num_heads % a.num_kv_heads != 0 || a.num_kv_heads > 65535)
    return absl::InvalidArgumentError("Attention: heads must be a multiple of kv heads");
  if (a.block_size <= 0) return absl::InvalidArgumentError("Attention: block size must be > 0");
  if (a.num_seqs <= 0) return absl::InvalidArgumentError("Attention: tokens without sequences");
  if (reinterpret_cast<uintptr_t>(a.k_cache) % 16 || reinterpret_cast<uintptr_t>(a.v_cache) % 16)
    return absl::InvalidArgumentError("Attention: cache must be 16-byte aligned");
  Params p{};
  p.q = static_cast<const bf16*>(a.q);
  p.k_cache = static_cast<const bf16*>(a.k_cache);
  p.v_cache = static_cast<const bf16*>(a.v_cache);
  p.sinks = a.sinks;
  p.sinks_bf16 = a.sinks_dtype == DType::kBF16;
  p.query_start = a.query_start;
  p.context_len = a.context_len;
  p.block_tables = a.block_tables;
  p.num_seqs = a.num_seqs;
  p.num_tokens = a.num_tokens;
  p.max_blocks = a.max_blocks;
  p.num_blocks = a.num_blocks;
  p.block_size = a.block_size;
  p.num_heads = a.num_heads;
  p.num_kv_heads = a.num_kv_heads;
  p.window = a.window;
  p.scale = a.scale;
  p.out = static_cast<bf16*>(a.out);
  p.error_flags = ctx.error_flags;
  switch (a.head_dim) {
    case 64:
      return LaunchForHeadDim<64>(ctx, p, a);
    case 32:
      return LaunchForHeadDim<32>(ctx, p, a);
    case 16:  // the tiny preset and several golden fixtures
      return LaunchForHeadDim<16>(ctx, p, a);
    default:
      return absl::UnimplementedError("Attention: CUDA supports head_dim 16, 32 and 64");
  }
}

}  // namespace gptoss::cuda
