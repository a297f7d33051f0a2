// CpuOps attention path: YaRN RoPE, KV append into the paged cache, attention with sinks.
// Each gpt-oss quirk is noted where it happens; the reference is transformers 5.23.0
// modeling_gpt_oss.py (_apply_rotary_emb, eager_attention_forward) and masking_utils.py.
#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/op_contracts.h"

namespace gptoss {
namespace {

using cpu_internal::CheckTensor;
using cpu_internal::LoadFloat;

// Checks the cache geometry: k and v [num_blocks, block_size, kv_heads, head_dim] F32, equal.
absl::Status CheckCache(const KvLayerView& cache, const char* op) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(cache.k, "cache.k", DType::kF32, 4));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(cache.v, "cache.v", DType::kF32, 4));
  for (int i = 0; i < 4; ++i)
    GPTOSS_CHECK_ARG(cache.k.dims[i] == cache.v.dims[i], op, ": cache.k ", cache.k.ShapeString(),
                     " and cache.v ", cache.v.ShapeString(), " differ");
  GPTOSS_CHECK_ARG(cache.k.dim(1) > 0, op, ": cache block size must be positive");
  return absl::OkStatus();
}

// Rotates one head vector in place. HF _apply_rotary_emb: rotate_half, i.e. the head dim is split
// into halves x1 = x[:D/2], x2 = x[D/2:] (NOT interleaved pairs):
//   x1' = x1*cos - x2*sin,  x2' = x2*cos + x1*sin.
void RotateHead(float* x, const float* cos, const float* sin, int half) {
  for (int i = 0; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    x[i] = x1 * cos[i] - x2 * sin[i];
    x[i + half] = x2 * cos[i] + x1 * sin[i];
  }
}

}  // namespace

absl::Status CpuOps::RopeYarn(TensorView q, TensorView k, const TensorView& positions,
                              const RopeTable& rope) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(q, "RopeYarn q", DType::kF32, 3));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(k, "RopeYarn k", DType::kF32, 3));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(positions, "RopeYarn positions", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(rope.inv_freq, "RopeYarn inv_freq", DType::kF32, 1));
  const int64_t n = q.dim(0), head_dim = q.dim(2);
  const int half = static_cast<int>(rope.inv_freq.dim(0));
  GPTOSS_CHECK_ARG(k.dim(0) == n && positions.dim(0) == n, "RopeYarn: q ", q.ShapeString(), ", k ",
                   k.ShapeString(), " and positions ", positions.ShapeString(), " disagree on T");
  GPTOSS_CHECK_ARG(k.dim(2) == head_dim && head_dim == 2 * half, "RopeYarn: head dims of q ",
                   q.ShapeString(), " / k ", k.ShapeString(), " must be 2 * inv_freq ", half);
  const int32_t* pos = positions.as<int32_t>();
  std::vector<float> cos(half), sin(half);
  for (int64_t t = 0; t < n; ++t) {
    GPTOSS_CHECK_ARG(pos[t] >= 0, "RopeYarn: negative position ", pos[t], " at row ", t);
    for (int i = 0; i < half; ++i) {
      // HF GptOssRotaryEmbedding: freqs = position.float() * inv_freq (fp32), no duplication of
      // the table (emb = freqs); YaRN's attention_scaling multiplies cos and sin.
      const float freq = static_cast<float>(pos[t]) * rope.inv_freq.as<float>()[i];
      cos[i] = std::cos(freq) * rope.attention_scaling;
      sin[i] = std::sin(freq) * rope.attention_scaling;
    }
    for (int64_t h = 0; h < q.dim(1); ++h)
      RotateHead(q.as<float>() + (t * q.dim(1) + h) * head_dim, cos.data(), sin.data(), half);
    for (int64_t h = 0; h < k.dim(1); ++h)
      RotateHead(k.as<float>() + (t * k.dim(1) + h) * head_dim, cos.data(), sin.data(), half);
  }
  return absl::OkStatus();
}

absl::Status CpuOps::AppendKv(const TensorView& k, const TensorView& v, const TensorView& slots,
                              KvLayerView cache) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(k, "AppendKv k", DType::kF32, 3));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(v, "AppendKv v", DType::kF32, 3));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(slots, "AppendKv slots", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckCache(cache, "AppendKv"));
  const int64_t n = k.dim(0), kv_heads = k.dim(1), head_dim = k.dim(2);
  for (int i = 0; i < 3; ++i)
    GPTOSS_CHECK_ARG(k.dims[i] == v.dims[i], "AppendKv: k ", k.ShapeString(), " and v ",
                     v.ShapeString(), " differ");
  GPTOSS_CHECK_ARG(slots.dim(0) == n, "AppendKv: slots ", slots.ShapeString(), " must be [", n,
                   "]");
  GPTOSS_CHECK_ARG(cache.k.dim(2) == kv_heads && cache.k.dim(3) == head_dim, "AppendKv: k ",
                   k.ShapeString(), " does not match cache ", cache.k.ShapeString());
  const int64_t capacity = cache.k.dim(0) * cache.k.dim(1);
  const int32_t* slot = slots.as<int32_t>();
  for (int64_t t = 0; t < n; ++t)
    GPTOSS_CHECK_ARG(slot[t] >= -1 && slot[t] < capacity, "AppendKv: slot ", slot[t], " at row ",
                     t, " is outside the cache of ", capacity, " slots");
  const int64_t row = kv_heads * head_dim;
  for (int64_t t = 0; t < n; ++t) {
    if (slot[t] == -1) continue;  // a padding row of a fixed-shape step: nothing to store
    // Physical slot = block * block_size + offset, i.e. the flat row of the cache.
    std::copy_n(k.as<float>() + t * row, row, cache.k.as<float>() + slot[t] * row);
    std::copy_n(v.as<float>() + t * row, row, cache.v.as<float>() + slot[t] * row);
  }
  return absl::OkStatus();
}

absl::Status CpuOps::AttentionWithSinks(const TensorView& q, const KvLayerView& cache,
                                        const TensorView& sinks, const AttentionBatch& batch,
                                        int window, float scale, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(q, "Attention q", DType::kF32, 3));
  GPTOSS_RETURN_IF_ERROR(CheckCache(cache, "Attention"));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(sinks, "Attention sinks",
                              sinks.dtype == DType::kBF16 ? DType::kBF16 : DType::kF32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(batch.query_start, "Attention query_start", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(batch.context_len, "Attention context_len", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(batch.block_tables, "Attention block_tables", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(out, "Attention out", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckAttentionShapes(q, cache, sinks, batch, window, out));
  const int64_t n = q.dim(0), heads = q.dim(1), head_dim = q.dim(2);
  const int64_t num_blocks = cache.k.dim(0), block_size = cache.k.dim(1);
  const int64_t kv_heads = cache.k.dim(2);
  const int64_t num_seqs = batch.num_seqs, max_blocks = batch.block_tables.dim(1);
  const int32_t* qs = batch.query_start.as<int32_t>();
  const int32_t* ctx = batch.context_len.as<int32_t>();
  const int32_t* tables = batch.block_tables.as<int32_t>();
  GPTOSS_CHECK_ARG(num_seqs == 0 ? n == 0 : (qs[0] == 0 && qs[num_seqs] == n),
                   "Attention: query_start must run from 0 to ", n);
  // Validate the whole batch before touching memory.
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t n_new = static_cast<int64_t>(qs[s + 1]) - qs[s];
    GPTOSS_CHECK_ARG(n_new >= 0, "Attention: query_start decreases at sequence ", s);
    GPTOSS_CHECK_ARG(ctx[s] >= n_new && ctx[s] <= max_blocks * block_size, "Attention: sequence ",
                     s, " context_len ", ctx[s], " must be in [", n_new, ", ",
                     max_blocks * block_size, "]");
    if (n_new == 0) continue;
    // Keys read by this sequence: from the window start of its first new query to its end.
    const int64_t first_pos = ctx[s] - n_new;
    const int64_t lo = window > 0 ? std::max<int64_t>(0, first_pos - window + 1) : 0;
    for (int64_t b = lo / block_size; b <= (ctx[s] - 1) / block_size; ++b) {
      const int32_t block = tables[s * max_blocks + b];
      GPTOSS_CHECK_ARG(block >= 0 && block < num_blocks, "Attention: sequence ", s,
                       " logical block ", b, " maps to ", block, ", outside the ", num_blocks,
                       " cache blocks, but positions in it are attended");
    }
  }

  const int64_t group = heads / kv_heads;
  const float* kc = cache.k.as<float>();
  const float* vc = cache.v.as<float>();
  std::vector<float> logits;
  std::vector<double> acc(head_dim);
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t n_new = qs[s + 1] - qs[s];
    for (int64_t i = 0; i < n_new; ++i) {
      const int64_t t = qs[s] + i;
      const int64_t pos = ctx[s] - n_new + i;
      // Causal: keys at positions <= pos. HF sliding_window_overlay: kv_idx > q_idx - window,
      // so a query sees itself and the window-1 keys before it.
      const int64_t lo = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
      logits.resize(pos - lo + 1);
      for (int64_t h = 0; h < heads; ++h) {
        const float* qh = q.as<float>() + (t * heads + h) * head_dim;
        const int64_t kvh = h / group;  // repeat_kv: query head h reads kv head h / group
        for (int64_t p = lo; p <= pos; ++p) {
          const int64_t slot =
              tables[s * max_blocks + p / block_size] * block_size + p % block_size;
          const float* kh = kc + (slot * kv_heads + kvh) * head_dim;
          double dot = 0;
          for (int64_t d = 0; d < head_dim; ++d) dot += static_cast<double>(qh[d]) * kh[d];
          logits[p - lo] = static_cast<float>(dot) * scale;  // HF: (q @ k^T) * scaling
        }
        // Sinks: one extra logit column per head (not scaled) joins the softmax and is dropped
        // after it. HF subtracts the row max (sink included) before the softmax.
        const float sink = LoadFloat(sinks, h);
        float max_logit = sink;
        for (float l : logits) max_logit = std::max(max_logit, l);
        double denom = std::exp(static_cast<double>(sink - max_logit));
        for (float& l : logits) {
          l = std::exp(l - max_logit);
          denom += l;
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t p = lo; p <= pos; ++p) {
          const int64_t slot =
              tables[s * max_blocks + p / block_size] * block_size + p % block_size;
          const float* vh = vc + (slot * kv_heads + kvh) * head_dim;
          const double prob = logits[p - lo] / denom;
          for (int64_t d = 0; d < head_dim; ++d) acc[d] += prob * vh[d];
        }
        // out [T, Hq*D]: HF transposes back to [T, heads, D] and flattens head-major.
        float* o = out.as<float>() + (t * heads + h) * head_dim;
        for (int64_t d = 0; d < head_dim; ++d) o[d] = static_cast<float>(acc[d]);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace gptoss
