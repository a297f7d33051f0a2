// bf16_mxfp4w_moe_gemv: Ops::MoeExperts for decode-sized steps. With one to a few rows per
// expert the grouped GEMM (moe_mlp.cu) is bound by latency: it stages every weight tile through
// shared memory behind barriers for tensor-core tiles that are mostly padding. Here each weight
// byte is read once, straight into registers, with many 16-byte loads in flight per lane, and
// dequantized there; the expert ids are read on the device (no host sync, graph-capturable).
//
//  1. bf16_mxfp4w_moe_gate_up_gemv, grid (pairs, I / kActPerBlock). The block of the first
//     (row, slot) pair routed to a local expert computes, for every pair routed to that expert
//     (kM at a time), its kActPerBlock activations: the interleaved gate (even) / up (odd) rows
//     give act = (clamp(up, -l, l) + 1) * g * sigmoid(alpha * g), g = min(gate, l), directly
//     (no gate_up tensor is stored). Blocks of later pairs of the same expert exit at once.
//  2. bf16_mxfp4w_moe_down_combine_gemv, grid (rows, H / kOutPerBlock): for one token row and
//     kOutPerBlock features, the down projections of its k experts plus bias, each rounded to
//     bf16 (as MoeMlp's rows are), weighted by the router and summed over the slots in order in
//     fp32, then added to the residual with one rounding (as MoeCombine): the whole
//     "bias + router weight + combine" tail in the GEMV's epilogue.
//
// Dequantization in registers: an E2M1 code (sign, 2 exponent bits, 1 mantissa bit) moved into
// the sign / low exponent / top mantissa bits of an fp16 is the code's value times 2^-14
// (subnormals included), so two codes become a half2 with two mask-and-shift operations. The
// E8M0 scale (times the 2^14) multiplies the fp32 partial sum once per 32 values.
// Activations are staged in shared memory as fp32 pairs laid out so that the 32 lanes of a warp,
// which work on 32 consecutive scale groups, read 32 consecutive float2 (no bank conflicts).
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_util.cuh"
#include "kernels/cuda/launchers.h"

namespace gptoss::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kActPerWarp = 2;                          // gate_up: 4 weight rows per warp
constexpr int kActPerBlock = kWarps * kActPerWarp;      // 16 activations per block
constexpr int kOutPerWarp = 2;                          // down: 2 features per warp
constexpr int kOutPerBlock = kWarps * kOutPerWarp;      // 16 features per block
constexpr int kUnroll = 3;      // scale groups per lane in flight: 3 x 32 = 96 >= 2880 / 32
constexpr int kMaxPairs = 512;  // pairs of one call (rows x top_k) on this path
constexpr int kMaxTopK = 8;
constexpr size_t kMaxSharedBytes = 200 * 1024;  // of the 227 KB an sm_90 block may opt into

struct GemvParams {
  const bf16* x;           // [R, H]
  const int32_t* ids;      // [R, k]
  const float* weights;    // [R, k]
  int top_k;
  int num_pairs;
  int hidden, inter;
  const uint8_t* gu_blocks;
  const uint8_t* gu_scales;
  const void* gu_bias;
  const uint8_t* dn_blocks;
  const uint8_t* dn_scales;
  const void* dn_bias;
  int first_expert, num_local;
  float limit, alpha;
  bf16* act;       // [P, I] scratch
  void* residual;  // [R, H]
  int* error_flags;
};

// Codes at bits 0-3 and 16-19 of w, as floats times 2^-14 (see the header).
__device__ __forceinline__ float2 DecodeE2M1Pair(uint32_t w) {
  const uint32_t h = ((w & 0x00070007u) << 9) | ((w & 0x00080008u) << 12);
  __half2_raw raw;
  raw.x = static_cast<unsigned short>(h & 0xffffu);
  raw.y = static_cast<unsigned short>(h >> 16);
  return __half22float2(__half2(raw));
}

// partial * 2^(s - 127) * 2^14. s - 113 spans [-113, 142]; above 127 it takes two factors.
__device__ __forceinline__ float ApplyE8M0(float partial, int s) {
  if (s <= 240) return partial * __int_as_float((s + 14) << 23);
  return partial * 0x1p127f * __int_as_float((s - 240 + 127) << 23);
}

__device__ __forceinline__ uint32_t Word(const uint4& v, int c) {
  return c == 0 ? v.x : c == 1 ? v.y : c == 2 ? v.z : v.w;
}

// Element e of a row of `len` values goes to staged[(slot * 16 + q) * groups + g] (.x or .y):
// group g = e / 32, and within the group the word c = (e % 32) / 8 and j = e % 4 pair the values
// 8c + j (.x) and 8c + j + 4 (.y), which DecodeE2M1Pair(word c >> 4j) yields together.
template <typename T>
__device__ __forceinline__ void StageRow(const T* row, int len, int slot, float2* staged) {
  const int groups = len / 32;
  float* f = reinterpret_cast<float*>(staged);
  for (int e = threadIdx.x; e < len; e += blockDim.x) {
    const int g = e / 32, r = e % 32, c = r / 8, j = r % 4, half = (r % 8) / 4;
    f[(static_cast<int64_t>(slot * 16 + c * 4 + j) * groups + g) * 2 + half] = ToFloat(row[e]);
  }
}

__device__ __forceinline__ float LoadBias(const void* bias, bool bf16_bias, int64_t i) {
  return bf16_bias ? __bfloat162float(static_cast<const bf16*>(bias)[i])
                   : static_cast<const float*>(bias)[i];
}

// acc[r][m] += row r of `blocks`/`scales` (kRows weight rows, `groups` scale groups each) dotted
// with staged vector m < kM, over this lane's groups (lane, lane + 32, ...). Rows with
// row_ok[r] false are skipped.
template <int kRows, int kM>
__device__ __forceinline__ void DotGroups(const uint8_t* const* blocks,
                                          const uint8_t* const* scales, const bool* row_ok,
                                          int groups,
                                          const float2* staged, int num_staged,
                                          float (&acc)[kRows][kM]) {
  const int lane = threadIdx.x & 31;
  for (int g0 = lane; g0 < groups; g0 += 32 * kUnroll) {
    uint4 w[kUnroll][kRows];
    int s[kUnroll][kRows];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int g = g0 + 32 * u;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const bool ok = g < groups && row_ok[r];
        w[u][r] = ok ? __ldg(reinterpret_cast<const uint4*>(blocks[r]) + g) : make_uint4(0, 0, 0, 0);
        s[u][r] = ok ? __ldg(scales[r] + g) : 127;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int g = g0 + 32 * u;
      if (g >= groups) break;
      float part[kRows][kM] = {};
#pragma unroll
      for (int q = 0; q < 16; ++q) {  // q = 4c + j
        float2 xv[kM];
#pragma unroll
        for (int m = 0; m < kM; ++m)
          xv[m] = m < num_staged ? staged[(m * 16 + q) * groups + g] : make_float2(0.f, 0.f);
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const float2 wv = DecodeE2M1Pair(Word(w[u][r], q / 4) >> (4 * (q % 4)));
#pragma unroll
          for (int m = 0; m < kM; ++m) part[r][m] += wv.x * xv[m].x + wv.y * xv[m].y;
        }
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r)
#pragma unroll
        for (int m = 0; m < kM; ++m) acc[r][m] += ApplyE8M0(part[r][m], s[u][r]);
    }
  }
}

template <int kM>
__global__ void __launch_bounds__(kThreads) bf16_mxfp4w_moe_gate_up_gemv(GemvParams p,
                                                                         bool bf16_bias) {
  extern __shared__ float2 x_s[];  // [kM][16][H/32]
  __shared__ int members[kMaxPairs];
  __shared__ int num_members;
  const int pair = blockIdx.x;
  const int id = p.ids[pair];
  if (id < 0) {
    if (threadIdx.x == 0 && blockIdx.y == 0) atomicOr(p.error_flags, kErrExpertId);
    return;
  }
  const int e = id - p.first_expert;
  if (e < 0 || e >= p.num_local) return;  // another rank's expert
  // The first pair routed to this expert does the work of all of them (weights read once).
  for (int q = 0; q < pair; ++q)
    if (p.ids[q] == id) return;
  if (threadIdx.x == 0) {
    int n = 0;
    for (int q = pair; q < p.num_pairs; ++q)
      if (p.ids[q] == id) members[n++] = q;
    num_members = n;
  }
  __syncthreads();

  const int groups = p.hidden / 32;
  const int64_t n_rows = 2 * static_cast<int64_t>(p.inter);
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int a0 = blockIdx.y * kActPerBlock + warp * kActPerWarp;  // first activation of the warp
  constexpr int kRows = 2 * kActPerWarp;
  const uint8_t* blocks[kRows];
  const uint8_t* scales[kRows];
  bool row_ok[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int64_t n = 2 * static_cast<int64_t>(a0) + r;  // gate rows even, up rows odd
    row_ok[r] = n < n_rows;
    const int64_t row = (static_cast<int64_t>(e) * n_rows + (row_ok[r] ? n : 0)) * groups;
    blocks[r] = p.gu_blocks + row * 16;
    scales[r] = p.gu_scales + row;
  }

  for (int base = 0; base < num_members; base += kM) {
    const int staged = min(kM, num_members - base);
    __syncthreads();  // the previous chunk's x_s is consumed
    for (int m = 0; m < staged; ++m)
      StageRow(p.x + static_cast<int64_t>(members[base + m] / p.top_k) * p.hidden, p.hidden, m,
               x_s);
    __syncthreads();
    float acc[kRows][kM] = {};
    DotGroups<kRows, kM>(blocks, scales, row_ok, groups, x_s, staged, acc);
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int m = 0; m < kM; ++m) acc[r][m] = WarpSum(acc[r][m]);
    // Lane i * kM + m writes activation a0 + i of member m.
#pragma unroll
    for (int i = 0; i < kActPerWarp; ++i) {
#pragma unroll
      for (int m = 0; m < kM; ++m) {
        const int a = a0 + i;
        if (lane != i * kM + m || m >= staged || a >= p.inter) continue;
        const int64_t bias_row = static_cast<int64_t>(e) * n_rows;
        float gate = acc[2 * i][m] + LoadBias(p.gu_bias, bf16_bias, bias_row + 2 * a);
        float up = acc[2 * i + 1][m] + LoadBias(p.gu_bias, bf16_bias, bias_row + 2 * a + 1);
        gate = fminf(gate, p.limit);               // gate: clamped from above only
        up = fminf(fmaxf(up, -p.limit), p.limit);  // up: clamped on both sides
        const float glu = gate / (1.0f + expf(-p.alpha * gate));
        p.act[static_cast<int64_t>(members[base + m]) * p.inter + a] =
            __float2bfloat16_rn((up + 1.0f) * glu);  // gpt-oss: +1 on up
      }
    }
  }
}

template <typename TR>
__global__ void __launch_bounds__(kThreads) bf16_mxfp4w_moe_down_combine_gemv(GemvParams p,
                                                                              bool bf16_bias) {
  extern __shared__ float2 a_s[];  // [k][16][I/32]: the activations of the row's k pairs
  const int t = blockIdx.x;
  const int k = p.top_k;
  for (int j = 0; j < k; ++j) {
    const int e = p.ids[t * k + j] - p.first_expert;
    if (e >= 0 && e < p.num_local)
      StageRow(p.act + static_cast<int64_t>(t * k + j) * p.inter, p.inter, j, a_s);
  }
  __syncthreads();

  const int groups = p.inter / 32;
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int n0 = blockIdx.y * kOutPerBlock + warp * kOutPerWarp;
  float value[kOutPerWarp][kMaxTopK] = {};  // bf16-rounded expert outputs
#pragma unroll
  for (int j = 0; j < kMaxTopK; ++j) {
    if (j >= k) break;
    const int id = p.ids[t * k + j];
    const int e = id - p.first_expert;
    if (e < 0 || e >= p.num_local) continue;  // not local (a negative id is flagged by step 1)
    const uint8_t* blocks[kOutPerWarp];
    const uint8_t* scales[kOutPerWarp];
    bool row_ok[kOutPerWarp];
#pragma unroll
    for (int i = 0; i < kOutPerWarp; ++i) {
      row_ok[i] = n0 + i < p.hidden;
      const int64_t row = (static_cast<int64_t>(e) * p.hidden + (row_ok[i] ? n0 + i : 0)) * groups;
      blocks[i] = p.dn_blocks + row * 16;
      scales[i] = p.dn_scales + row;
    }
    float acc[kOutPerWarp][1] = {};
    DotGroups<kOutPerWarp, 1>(blocks, scales, row_ok, groups, a_s + j * 16 * groups, 1, acc);
#pragma unroll
    for (int i = 0; i < kOutPerWarp; ++i) {
      const float dot = WarpSum(acc[i][0]);
      if (row_ok[i])
        value[i][j] = __bfloat162float(__float2bfloat16_rn(
            dot + LoadBias(p.dn_bias, bf16_bias, static_cast<int64_t>(e) * p.hidden + n0 + i)));
    }
  }
  // Lane i adds feature n0 + i: sum_j w_j * row_j in fp32 in slot order, one rounding.
#pragma unroll
  for (int i = 0; i < kOutPerWarp; ++i) {
    if (lane != i || n0 + i >= p.hidden) continue;
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kMaxTopK; ++j)
      if (j < k) sum += p.weights[t * k + j] * value[i][j];
    TR* r = static_cast<TR*>(p.residual) + static_cast<int64_t>(t) * p.hidden + n0 + i;
    *r = FromFloat<TR>(ToFloat(*r) + sum);
  }
}

// kM: pairs of one expert per pass (x rows staged together); more run in further passes.
int PassRows(int64_t rows) { return rows <= 1 ? 1 : rows <= 2 ? 2 : 4; }

}  // namespace

bool MoeGemvApplies(const MoeArgs& a, int64_t max_rows) {
  const int64_t pairs = a.rows * a.top_k;
  const size_t x_bytes = static_cast<size_t>(PassRows(a.rows)) * a.hidden * sizeof(float);
  const size_t act_bytes = static_cast<size_t>(a.top_k) * a.intermediate * sizeof(float);
  return a.rows >= 1 && a.rows <= max_rows && a.top_k >= 1 && pairs <= kMaxPairs &&
         a.top_k <= kMaxTopK &&
         a.hidden % 32 == 0 && a.intermediate % 32 == 0 && a.hidden > 0 && a.intermediate > 0 &&
         a.x_dtype == DType::kBF16 && IsFloatDType(a.bias_dtype) && x_bytes <= kMaxSharedBytes &&
         act_bytes <= kMaxSharedBytes && a.num_local >= 0 &&
         reinterpret_cast<uintptr_t>(a.gate_up_blocks) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(a.down_blocks) % 16 == 0;
}

absl::Status LaunchMoeGemvCombine(const LaunchContext& ctx, const MoeArgs& a,
                                  const float* weights, void* residual, DType residual_dtype) {
  if (a.rows == 0 || a.hidden == 0) return absl::OkStatus();
  if (!MoeGemvApplies(a, a.rows))
    return absl::InvalidArgumentError("MoeGemv: shapes outside the GEMV kernels' range");
  if (!IsFloatDType(residual_dtype))
    return absl::InvalidArgumentError("MoeGemv: residual must be BF16 or F32");
  GemvParams p{};
  p.x = static_cast<const bf16*>(a.x);
  p.ids = a.expert_ids;
  p.weights = weights;
  p.top_k = a.top_k;
  p.num_pairs = static_cast<int>(a.rows * a.top_k);
  p.hidden = static_cast<int>(a.hidden);
  p.inter = static_cast<int>(a.intermediate);
  p.gu_blocks = a.gate_up_blocks;
  p.gu_scales = a.gate_up_scales;
  p.gu_bias = a.gate_up_bias;
  p.dn_blocks = a.down_blocks;
  p.dn_scales = a.down_scales;
  p.dn_bias = a.down_bias;
  p.first_expert = a.first_expert;
  p.num_local = a.num_local;
  p.limit = a.swiglu_limit;
  p.alpha = a.swiglu_alpha;
  p.residual = residual;
  p.error_flags = ctx.error_flags;
  const bool bf16_bias = a.bias_dtype == DType::kBF16;

  StreamScratch scratch(ctx.stream);
  GPTOSS_ASSIGN_OR_RETURN(p.act, scratch.GetAs<bf16>(static_cast<int64_t>(p.num_pairs) * p.inter));

  const int pass = PassRows(a.rows);
  const size_t x_bytes = static_cast<size_t>(pass) * a.hidden * sizeof(float);
  const dim3 gate_up_grid(static_cast<unsigned>(p.num_pairs),
                          static_cast<unsigned>(CeilDiv(a.intermediate, kActPerBlock)));
  auto gate_up = [&](auto kernel) -> absl::Status {
    GPTOSS_RETURN_IF_ERROR(AllowLargeSharedMemory(reinterpret_cast<const void*>(kernel),
                                                  static_cast<int>(kMaxSharedBytes)));
    kernel<<<gate_up_grid, kThreads, x_bytes, ctx.stream>>>(p, bf16_bias);
    GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_mxfp4w_moe_gate_up_gemv");
    return absl::OkStatus();
  };
  if (pass == 1) {
    GPTOSS_RETURN_IF_ERROR(gate_up(bf16_mxfp4w_moe_gate_up_gemv<1>));
  } else if (pass == 2) {
    GPTOSS_RETURN_IF_ERROR(gate_up(bf16_mxfp4w_moe_gate_up_gemv<2>));
  } else {
    GPTOSS_RETURN_IF_ERROR(gate_up(bf16_mxfp4w_moe_gate_up_gemv<4>));
  }

  const size_t act_bytes = static_cast<size_t>(a.top_k) * a.intermediate * sizeof(float);
  const dim3 down_grid(static_cast<unsigned>(a.rows),
                       static_cast<unsigned>(CeilDiv(a.hidden, kOutPerBlock)));
  absl::Status launched;
  DispatchFloat(residual_dtype, [&](auto tr) {
    using TR = decltype(tr);
    auto kernel = bf16_mxfp4w_moe_down_combine_gemv<TR>;
    launched.Update(AllowLargeSharedMemory(reinterpret_cast<const void*>(kernel),
                                           static_cast<int>(kMaxSharedBytes)));
    if (launched.ok()) kernel<<<down_grid, kThreads, act_bytes, ctx.stream>>>(p, bf16_bias);
  });
  GPTOSS_RETURN_IF_ERROR(launched);
  GPTOSS_CUDA_RETURN_IF_LAUNCH_ERROR("bf16_mxfp4w_moe_down_combine_gemv");
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
