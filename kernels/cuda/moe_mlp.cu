// bf16_mxfp4w_moe_mlp: the gpt-oss expert MLP for the (row, slot) pairs routed to this rank's
// experts, grouped by expert. Experts stay packed (MXFP4) in memory and are dequantized in
// registers into shared memory tile by tile; the GEMMs run on tensor cores (WMMA bf16, fp32
// accumulation).
//
//  1. bf16_moe_bucket (one block): counts pairs per local expert, prefix sums, scatters pair ids
//     into expert order, and the tile offsets of every expert (kM rows per tile).
//  2. bf16_moe_zero_nonlocal: rows of pairs whose expert is not local are written as zeros.
//  3. bf16_mxfp4w_moe_gemm<kGateUp=true>: act = swiglu(x · gate_up^T + b) per expert tile, with
//     gate/up INTERLEAVED in gate_up's rows (gate even, up odd), gate clamped to <= limit, up
//     clamped to [-limit, limit], act = (up + 1) * gate * sigmoid(alpha * gate) ("+1 on up").
//  4. bf16_mxfp4w_moe_gemm<kGateUp=false>: out[pair] = act · down^T + down_bias.
// Grids are sized by a bound on the number of expert tiles (the host does not know the counts);
// surplus blocks exit.
#include <mma.h>

#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kM = 32;       // rows (pairs) per tile
constexpr int kN = 64;       // output features per tile
constexpr int kK = 64;       // input features per k step (two MXFP4 scale groups)
constexpr int kPad = 8;      // bf16 padding per shared row (keeps 32-byte fragment alignment)
constexpr int kThreads = 128;
constexpr int kBucketThreads = 1024;
constexpr int kMaxLocalExperts = 1024;

// E2M1 code -> value: {0, .5, 1, 1.5, 2, 3, 4, 6}, sign in bit 3 (transformers FP4_VALUES).
__device__ __forceinline__ float E2M1(int code) {
  const int mag = code & 7;
  const float v = mag < 2 ? 0.5f * static_cast<float>(mag)
                          : __int_as_float((((mag >> 1) + 126) << 23) | ((mag & 1) << 22));
  return (code & 8) ? -v : v;
}

struct Params {
  const bf16* x;
  const int32_t* ids;
  int top_k;
  int64_t num_pairs;
  int64_t hidden, inter;
  const uint8_t* gu_blocks;
  const uint8_t* gu_scales;
  const void* gu_bias;
  const uint8_t* dn_blocks;
  const uint8_t* dn_scales;
  const void* dn_bias;
  bool bias_bf16;
  int first_expert, num_local;
  float limit, alpha;
  void* out;
  bool out_bf16;
  // scratch
  int32_t* sorted_pairs;   // [P]
  int32_t* expert_offset;  // [E+1]
  int32_t* tile_offset;    // [E+1]
  bf16* act;               // [P, I] in sorted order
  int* error_flags;
};

__device__ __forceinline__ float LoadBias(const Params& p, const void* bias, int64_t i) {
  return p.bias_bf16 ? __bfloat162float(static_cast<const bf16*>(bias)[i])
                     : static_cast<const float*>(bias)[i];
}

__global__ void __launch_bounds__(kBucketThreads) bf16_moe_bucket(Params p) {
  __shared__ int count[kMaxLocalExperts];
  __shared__ int cursor[kMaxLocalExperts];
  for (int e = threadIdx.x; e < p.num_local; e += blockDim.x) count[e] = cursor[e] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < p.num_pairs; i += blockDim.x) {
    const int id = p.ids[i];
    if (id < 0) atomicOr(p.error_flags, kErrExpertId);
    const int local = id - p.first_expert;
    if (local >= 0 && local < p.num_local) atomicAdd(&count[local], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int rows = 0, tiles = 0;
    for (int e = 0; e < p.num_local; ++e) {
      p.expert_offset[e] = rows;
      p.tile_offset[e] = tiles;
      cursor[e] = rows;
      rows += count[e];
      tiles += (count[e] + kM - 1) / kM;
    }
    p.expert_offset[p.num_local] = rows;
    p.tile_offset[p.num_local] = tiles;
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < p.num_pairs; i += blockDim.x) {
    const int local = p.ids[i] - p.first_expert;
    if (local >= 0 && local < p.num_local)
      p.sorted_pairs[atomicAdd(&cursor[local], 1)] = static_cast<int32_t>(i);
  }
}

__global__ void bf16_moe_zero_nonlocal(Params p) {
  const int64_t pair = blockIdx.x;
  const int local = p.ids[pair] - p.first_expert;
  if (local >= 0 && local < p.num_local) return;
  for (int64_t h = threadIdx.x; h < p.hidden; h += blockDim.x) {
    if (p.out_bf16)
      static_cast<bf16*>(p.out)[pair * p.hidden + h] = __float2bfloat16_rn(0.0f);
    else
      static_cast<float*>(p.out)[pair * p.hidden + h] = 0.0f;
  }
}

template <bool kGateUp>
__global__ void __launch_bounds__(kThreads) bf16_mxfp4w_moe_gemm(Params p) {
  // GEMM geometry: out[rows, N] = A[rows, K] · W[N, K]^T.
  const int64_t K = kGateUp ? p.hidden : p.inter;
  const int64_t N = kGateUp ? 2 * p.inter : p.hidden;
  const uint8_t* blocks = kGateUp ? p.gu_blocks : p.dn_blocks;
  const uint8_t* scales = kGateUp ? p.gu_scales : p.dn_scales;
  const void* bias = kGateUp ? p.gu_bias : p.dn_bias;
  const int64_t groups = K / 32;

  __shared__ __align__(32) bf16 a_s[kM][kK + kPad];
  __shared__ __align__(32) bf16 b_s[kN][kK + kPad];
  __shared__ __align__(32) float c_s[kM][kN + 4];
  __shared__ const bf16* a_row[kM];
  __shared__ int row_pos[kM];  // sorted position of each tile row, -1 if none
  __shared__ int expert_s;
  __shared__ int first_pos_s, rows_s;

  const int tid = threadIdx.x;
  if (tid == 0) {
    expert_s = -1;
    const int tile = blockIdx.x;
    if (tile < p.tile_offset[p.num_local]) {
      int e = 0;
      while (e + 1 < p.num_local && p.tile_offset[e + 1] <= tile) ++e;
      const int first = p.expert_offset[e] + (tile - p.tile_offset[e]) * kM;
      expert_s = e;
      first_pos_s = first;
      rows_s = min(kM, p.expert_offset[e + 1] - first);
    }
  }
  __syncthreads();
  const int e = expert_s;
  if (e < 0) return;
  const int rows = rows_s;
  if (tid < kM) {
    const int pos = first_pos_s + tid;
    row_pos[tid] = tid < rows ? pos : -1;
    const bf16* src = nullptr;
    if (tid < rows) {
      if (kGateUp) {
        src = p.x + static_cast<int64_t>(p.sorted_pairs[pos] / p.top_k) * p.hidden;
      } else {
        src = p.act + static_cast<int64_t>(pos) * p.inter;
      }
    }
    a_row[tid] = src;
  }
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kN;
  const int warp = tid / 32;
  const int wm = warp % 2, wn = warp / 2;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
  wmma::fill_fragment(acc[0], 0.0f);
  wmma::fill_fragment(acc[1], 0.0f);
  const uint4 zero4 = make_uint4(0, 0, 0, 0);

  for (int64_t k0 = 0; k0 < K; k0 += kK) {
    __syncthreads();  // a_row ready / previous fragments consumed
    // A tile: kM rows x kK bf16, 16-byte chunks.
    for (int idx = tid; idx < kM * (kK / 8); idx += kThreads) {
      const int r = idx / (kK / 8), c8 = (idx % (kK / 8)) * 8;
      uint4 v = zero4;
      if (a_row[r] != nullptr && k0 + c8 < K)
        v = *reinterpret_cast<const uint4*>(a_row[r] + k0 + c8);
      *reinterpret_cast<uint4*>(&a_s[r][c8]) = v;
    }
    // B tile: kN weight rows x 2 scale groups; one (row, group) = 16 bytes = 32 values per thread.
    {
      const int nl = tid / 2, g = tid % 2;
      const int64_t n = n0 + nl;
      const int64_t kg = k0 / 32 + g;
      bf16* dst = &b_s[nl][g * 32];
      if (n < N && kg < groups) {
        const int64_t row = (static_cast<int64_t>(e) * N + n) * groups + kg;
        const uint4 packed = *reinterpret_cast<const uint4*>(blocks + row * 16);
        const int s = scales[row];
        // E8M0 scale 2^(s-127), applied like torch.ldexp: s = 0 is the subnormal 2^-127 and
        // s = 255 is applied as 2^127 * 2 so that 0.5 * 2^128 stays finite.
        const float scale_a = s == 0 ? __int_as_float(0x00400000)
                                     : __int_as_float((s == 255 ? 254 : s) << 23);
        const float scale_b = s == 255 ? 2.0f : 1.0f;
        const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&packed);
#pragma unroll
        for (int b = 0; b < 16; ++b) {
          // Low nibble first (even column), then the high nibble.
          const float lo = E2M1(bytes[b] & 0xF) * scale_a * scale_b;
          const float hi = E2M1(bytes[b] >> 4) * scale_a * scale_b;
          dst[2 * b] = __float2bfloat16_rn(lo);
          dst[2 * b + 1] = __float2bfloat16_rn(hi);
        }
      } else {
#pragma unroll
        for (int c = 0; c < 32; ++c) dst[c] = __float2bfloat16_rn(0.0f);
      }
    }
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < kK / 16; ++ks) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a_frag;
      wmma::load_matrix_sync(a_frag, &a_s[wm * 16][ks * 16], kK + kPad);
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        // b_s[n][k] is W's row n: as a K x N matrix it is column-major with ldm = kK + kPad.
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b_frag;
        wmma::load_matrix_sync(b_frag, &b_s[wn * 32 + j * 16][ks * 16], kK + kPad);
        wmma::mma_sync(acc[j], a_frag, b_frag, acc[j]);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < 2; ++j)
    wmma::store_matrix_sync(&c_s[wm * 16][wn * 32 + j * 16], acc[j], kN + 4, wmma::mem_row_major);
  __syncthreads();

  if (kGateUp) {
    // Interleaved gate (even column) / up (odd column) -> one activation per pair of columns.
    for (int idx = tid; idx < kM * (kN / 2); idx += kThreads) {
      const int r = idx / (kN / 2), c = idx % (kN / 2);
      const int64_t n_gate = n0 + 2 * c;
      if (r >= rows || n_gate >= N) continue;  // N = 2I is even: n_gate + 1 < N too
      const int64_t bias_row = static_cast<int64_t>(e) * N;
      float gate = c_s[r][2 * c] + LoadBias(p, bias, bias_row + n_gate);
      float up = c_s[r][2 * c + 1] + LoadBias(p, bias, bias_row + n_gate + 1);
      gate = fminf(gate, p.limit);                  // gate: clamped from above only
      up = fminf(fmaxf(up, -p.limit), p.limit);     // up: clamped on both sides
      const float glu = gate / (1.0f + expf(-p.alpha * gate));
      p.act[static_cast<int64_t>(row_pos[r]) * p.inter + n_gate / 2] =
          __float2bfloat16_rn((up + 1.0f) * glu);   // gpt-oss: +1 on up
    }
  } else {
    for (int idx = tid; idx < kM * kN; idx += kThreads) {
      const int r = idx / kN, c = idx % kN;
      const int64_t n = n0 + c;
      if (r >= rows || n >= N) continue;
      const float v = c_s[r][c] + LoadBias(p, bias, static_cast<int64_t>(e) * N + n);
      const int64_t pair = p.sorted_pairs[row_pos[r]];
      if (p.out_bf16)
        static_cast<bf16*>(p.out)[pair * N + n] = __float2bfloat16_rn(v);
      else
        static_cast<float*>(p.out)[pair * N + n] = v;
    }
  }
}

bool Aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace

absl::Status LaunchMoeMlp(const LaunchContext& ctx, const MoeArgs& a) {
  const int64_t pairs = a.rows * a.top_k;
  if (pairs == 0 || a.hidden == 0) return absl::OkStatus();
  if (a.x_dtype != DType::kBF16)
    return absl::InvalidArgumentError("MoeMlp: x must be BF16 on CUDA");
  if (!IsFloatDType(a.out_dtype) || !IsFloatDType(a.bias_dtype))
    return absl::InvalidArgumentError("MoeMlp: out and biases must be BF16 or F32");
  if (a.hidden % 32 || a.intermediate % 32 || a.intermediate <= 0)
    return absl::InvalidArgumentError("MoeMlp: hidden and intermediate sizes must be multiples of 32");
  if (a.num_local < 0 || a.num_local > kMaxLocalExperts)
    return absl::InvalidArgumentError("MoeMlp: at most 1024 local experts");
  if (pairs > 0x7fffffff) return absl::InvalidArgumentError("MoeMlp: too many rows");
  if (!Aligned16(a.x) || !Aligned16(a.gate_up_blocks) || !Aligned16(a.down_blocks))
    return absl::InvalidArgumentError("MoeMlp: x and expert blocks must be 16-byte aligned");
  if (CeilDiv(2 * a.intermediate, kN) > 65535 || CeilDiv(a.hidden, kN) > 65535)
    return absl::InvalidArgumentError("MoeMlp: feature dims too large for one launch");

  Params p{};
  p.x = static_cast<const bf16*>(a.x);
  p.ids = a.expert_ids;
  p.top_k = a.top_k;
  p.num_pairs = pairs;
  p.hidden = a.hidden;
  p.inter = a.intermediate;
  p.gu_blocks = a.gate_up_blocks;
  p.gu_scales = a.gate_up_scales;
  p.gu_bias = a.gate_up_bias;
  p.dn_blocks = a.down_blocks;
  p.dn_scales = a.down_scales;
  p.dn_bias = a.down_bias;
  p.bias_bf16 = a.bias_dtype == DType::kBF16;
  p.first_expert = a.first_expert;
  p.num_local = a.num_local;
  p.limit = a.swiglu_limit;
  p.alpha = a.swiglu_alpha;
  p.out = a.out;
  p.out_bf16 = a.out_dtype == DType::kBF16;
  p.error_flags = ctx.error_flags;

  StreamScratch scratch(ctx.stream);
  GPTOSS_ASSIGN_OR_RETURN(p.sorted_pairs, scratch.GetAs<int32_t>(pairs));
  GPTOSS_ASSIGN_OR_RETURN(p.expert_offset, scratch.GetAs<int32_t>(a.num_local + 1));
  GPTOSS_ASSIGN_OR_RETURN(p.tile_offset, scratch.GetAs<int32_t>(a.num_local + 1));
  GPTOSS_ASSIGN_OR_RETURN(p.act, scratch.GetAs<bf16>(pairs * a.intermediate));

  bf16_moe_bucket<<<1, kBucketThreads, 0, ctx.stream>>>(p);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_moe_bucket");
  bf16_moe_zero_nonlocal<<<static_cast<unsigned>(pairs), 128, 0, ctx.stream>>>(p);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_moe_zero_nonlocal");
  if (a.num_local == 0) return absl::OkStatus();
  // Every non-empty tile holds at least one pair, and experts add at most one partial tile each.
  const int64_t tiles = std::min<int64_t>(CeilDiv(pairs, kM) + a.num_local, pairs);
  const dim3 gate_up_grid(static_cast<unsigned>(tiles),
                          static_cast<unsigned>(CeilDiv(2 * a.intermediate, kN)));
  bf16_mxfp4w_moe_gemm<true><<<gate_up_grid, kThreads, 0, ctx.stream>>>(p);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_mxfp4w_moe_gemm<gate_up>");
  const dim3 down_grid(static_cast<unsigned>(tiles), static_cast<unsigned>(CeilDiv(a.hidden, kN)));
  bf16_mxfp4w_moe_gemm<false><<<down_grid, kThreads, 0, ctx.stream>>>(p);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_mxfp4w_moe_gemm<down>");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
