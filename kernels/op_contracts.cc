#include "kernels/op_contracts.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {
namespace {

absl::Status Rank(const TensorView& t, const char* op, const char* name, int rank) {
  GPTOSS_CHECK_ARG(t.rank == rank, op, ": ", name, " ", t.ShapeString(), " must have rank ",
                   rank);
  return absl::OkStatus();
}

// One MXFP4 projection: blocks [E, N, K/32, 16], scales [E, N, K/32], bias [E, N].
absl::Status CheckMxfp4Shapes(const TensorView& blocks, const TensorView& scales,
                              const TensorView& bias, const char* name, int64_t experts,
                              int64_t n, int64_t k) {
  GPTOSS_RETURN_IF_ERROR(Rank(blocks, "MoeMlp", name, 4));
  GPTOSS_RETURN_IF_ERROR(Rank(scales, "MoeMlp", name, 3));
  GPTOSS_RETURN_IF_ERROR(Rank(bias, "MoeMlp", name, 2));
  GPTOSS_CHECK_ARG(k % 32 == 0, "MoeMlp: ", name, " input dim ", k, " is not a multiple of 32");
  GPTOSS_CHECK_ARG(blocks.dim(0) == experts && blocks.dim(1) == n && blocks.dim(2) == k / 32 &&
                       blocks.dim(3) == 16,
                   "MoeMlp: ", name, " blocks ", blocks.ShapeString(), " must be [", experts, ",",
                   n, ",", k / 32, ",16]");
  GPTOSS_CHECK_ARG(scales.dim(0) == experts && scales.dim(1) == n && scales.dim(2) == k / 32,
                   "MoeMlp: ", name, " scales ", scales.ShapeString(), " must be [", experts, ",",
                   n, ",", k / 32, "]");
  GPTOSS_CHECK_ARG(bias.dim(0) == experts && bias.dim(1) == n, "MoeMlp: ", name, " bias ",
                   bias.ShapeString(), " must be [", experts, ",", n, "]");
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckZeroable(const TensorView& t, Device device) {
  GPTOSS_CHECK_ARG(t.device == device, "Zero: tensor ", t.ShapeString(), " is in ",
                   t.device == Device::kCuda ? "CUDA" : "host", " memory, the backend's is ",
                   device == Device::kCuda ? "CUDA" : "host");
  GPTOSS_CHECK_ARG(t.rank >= 1 && t.rank <= 4, "Zero: rank ", t.rank, " must be 1..4");
  for (int i = 0; i < t.rank; ++i)
    GPTOSS_CHECK_ARG(t.dims[i] >= 0, "Zero: negative dimension in ", t.ShapeString());
  GPTOSS_CHECK_ARG(t.numel() == 0 || t.data != nullptr, "Zero: null data for ", t.ShapeString());
  return absl::OkStatus();
}

absl::Status CheckCopy(const TensorView& src, const TensorView& dst, Device device) {
  GPTOSS_RETURN_IF_ERROR(CheckZeroable(src, device));
  GPTOSS_RETURN_IF_ERROR(CheckZeroable(dst, device));
  GPTOSS_CHECK_ARG(src.dtype == dst.dtype && src.rank == dst.rank, "Copy: src ",
                   src.ShapeString(), " and dst ", dst.ShapeString(), " differ in dtype or rank");
  for (int i = 0; i < src.rank; ++i)
    GPTOSS_CHECK_ARG(src.dims[i] == dst.dims[i], "Copy: src ", src.ShapeString(), " and dst ",
                     dst.ShapeString(), " differ in shape");
  const char* s = static_cast<const char*>(src.data);
  const char* d = static_cast<const char*>(dst.data);
  const size_t n = src.bytes();
  GPTOSS_CHECK_ARG(n == 0 || s + n <= d || d + n <= s, "Copy: src and dst overlap");
  return absl::OkStatus();
}

absl::Status CheckCopyColumns(const TensorView& src, int64_t first, const TensorView& dst,
                              Device device) {
  GPTOSS_RETURN_IF_ERROR(CheckZeroable(src, device));
  GPTOSS_RETURN_IF_ERROR(CheckZeroable(dst, device));
  GPTOSS_CHECK_ARG(src.rank == 2 && dst.rank == 2 && src.dtype == dst.dtype &&
                       src.dim(0) == dst.dim(0),
                   "CopyColumns: src ", src.ShapeString(), " and dst ", dst.ShapeString(),
                   " must be [T,N] and [T,M] of one dtype");
  GPTOSS_CHECK_ARG(first >= 0 && first + dst.dim(1) <= src.dim(1), "CopyColumns: columns [",
                   first, ", ", first + dst.dim(1), ") outside src ", src.ShapeString());
  const char* s = static_cast<const char*>(src.data);
  const char* d = static_cast<const char*>(dst.data);
  GPTOSS_CHECK_ARG(dst.numel() == 0 || s + src.bytes() <= d || d + dst.bytes() <= s,
                   "CopyColumns: src and dst overlap");
  return absl::OkStatus();
}

namespace {

// `t` lives on `device` with non-null data unless empty (rank >= 1, dims >= 0).
absl::Status OnDevice(const TensorView& t, const char* op, const char* name, Device device) {
  GPTOSS_CHECK_ARG(t.device == device, op, ": ", name, " ", t.ShapeString(), " is in ",
                   t.device == Device::kCuda ? "CUDA" : "host", " memory, the backend's is ",
                   device == Device::kCuda ? "CUDA" : "host");
  GPTOSS_CHECK_ARG(t.rank >= 1, op, ": ", name, " has no shape");
  for (int i = 0; i < t.rank; ++i)
    GPTOSS_CHECK_ARG(t.dims[i] >= 0, op, ": negative dimension in ", name, " ", t.ShapeString());
  GPTOSS_CHECK_ARG(t.numel() == 0 || t.data != nullptr, op, ": null data for ", name);
  return absl::OkStatus();
}

bool Overlap(const TensorView& a, const TensorView& b) {
  const char* x = static_cast<const char*>(a.data);
  const char* y = static_cast<const char*>(b.data);
  return a.bytes() > 0 && b.bytes() > 0 && x < y + b.bytes() && y < x + a.bytes();
}

}  // namespace

absl::Status CheckRmsNormShapes(const TensorView& x, const TensorView& weight,
                                const TensorView& out) {
  const int64_t n = x.dim(0), hidden = x.dim(1);
  GPTOSS_CHECK_ARG(weight.dim(0) == hidden, "RmsNorm: weight ", weight.ShapeString(),
                   " does not match x ", x.ShapeString());
  GPTOSS_CHECK_ARG(out.dim(0) == n && out.dim(1) == hidden, "RmsNorm: out ", out.ShapeString(),
                   " does not match x ", x.ShapeString());
  GPTOSS_CHECK_ARG(hidden > 0, "RmsNorm: empty hidden dimension");
  return absl::OkStatus();
}

absl::Status CheckRouterTopKShapes(const TensorView& logits, int k, const TensorView& expert_ids,
                                   const TensorView& expert_weights) {
  const int64_t n = logits.dim(0), experts = logits.dim(1);
  GPTOSS_CHECK_ARG(k >= 1 && k <= experts, "RouterTopK: k ", k, " must be in [1, ", experts, "]");
  GPTOSS_CHECK_ARG(expert_ids.dim(0) == n && expert_ids.dim(1) == k && expert_weights.dim(0) == n &&
                       expert_weights.dim(1) == k,
                   "RouterTopK: expert_ids ", expert_ids.ShapeString(), " and expert_weights ",
                   expert_weights.ShapeString(), " must be [", n, ",", k, "]");
  return absl::OkStatus();
}

int64_t RowElems(const TensorView& t) {
  int64_t n = 1;
  for (int i = 1; i < t.rank; ++i) n *= t.dims[i];
  return n;
}

int64_t RowBytes(const TensorView& t) {
  return RowElems(t) * static_cast<int64_t>(DTypeSize(t.dtype));
}

absl::Status CheckPlanDispatch(const TensorView& expert_ids, int experts_per_rank,
                               const TensorView& slots, Device device) {
  GPTOSS_RETURN_IF_ERROR(OnDevice(expert_ids, "PlanDispatch", "expert_ids", device));
  GPTOSS_RETURN_IF_ERROR(OnDevice(slots, "PlanDispatch", "slots", device));
  GPTOSS_CHECK_ARG(expert_ids.rank == 2 && expert_ids.dtype == DType::kI32 && slots.rank == 2 &&
                       slots.dtype == DType::kI32,
                   "PlanDispatch: expert_ids ", expert_ids.ShapeString(), " and slots ",
                   slots.ShapeString(), " must be I32 [T,k] and [W,C]");
  GPTOSS_CHECK_ARG(expert_ids.dim(1) >= 1 && slots.dim(0) >= 1, "PlanDispatch: top_k ",
                   expert_ids.dim(1), " and world ", slots.dim(0), " must be >= 1");
  GPTOSS_CHECK_ARG(slots.dim(1) >= expert_ids.dim(0), "PlanDispatch: capacity ", slots.dim(1),
                   " is below the ", expert_ids.dim(0), " tokens");
  GPTOSS_CHECK_ARG(experts_per_rank >= 1, "PlanDispatch: experts_per_rank ", experts_per_rank);
  return absl::OkStatus();
}

absl::Status CheckPackRows(const std::vector<TensorView>& srcs, const TensorView& index,
                           const TensorView& dst, Device device) {
  GPTOSS_CHECK_ARG(!srcs.empty(), "PackRows: no sources");
  GPTOSS_RETURN_IF_ERROR(OnDevice(dst, "PackRows", "dst", device));
  GPTOSS_CHECK_ARG(dst.dtype == DType::kU8 && dst.rank == 2, "PackRows: dst ", dst.ShapeString(),
                   " must be U8 [rows, bytes]");
  const bool identity = index.empty();
  if (!identity) {
    GPTOSS_RETURN_IF_ERROR(OnDevice(index, "PackRows", "index", device));
    GPTOSS_CHECK_ARG(index.dtype == DType::kI32 && index.rank == 1 && index.dim(0) == dst.dim(0),
                     "PackRows: index ", index.ShapeString(), " must be I32 [", dst.dim(0), "]");
  }
  int64_t width = 0;
  for (const TensorView& src : srcs) {
    GPTOSS_RETURN_IF_ERROR(OnDevice(src, "PackRows", "src", device));
    GPTOSS_CHECK_ARG(!identity || src.dim(0) >= dst.dim(0), "PackRows: src ", src.ShapeString(),
                     " has fewer rows than the ", dst.dim(0), " packed by identity");
    GPTOSS_CHECK_ARG(!Overlap(src, dst), "PackRows: src and dst overlap");
    width += RowBytes(src);
  }
  GPTOSS_CHECK_ARG(width == dst.dim(1), "PackRows: the sources' rows are ", width,
                   " bytes, dst rows ", dst.dim(1));
  return absl::OkStatus();
}

absl::Status CheckScatterAddRows(const TensorView& src, const TensorView& index,
                                 const TensorView& dst, Device device) {
  GPTOSS_RETURN_IF_ERROR(OnDevice(src, "ScatterAddRows", "src", device));
  GPTOSS_RETURN_IF_ERROR(OnDevice(index, "ScatterAddRows", "index", device));
  GPTOSS_RETURN_IF_ERROR(OnDevice(dst, "ScatterAddRows", "dst", device));
  GPTOSS_CHECK_ARG(src.dtype == dst.dtype &&
                       (src.dtype == DType::kF32 || src.dtype == DType::kBF16),
                   "ScatterAddRows: src and dst must share F32 or BF16");
  GPTOSS_CHECK_ARG(RowElems(src) == RowElems(dst),
                   "ScatterAddRows: src ", src.ShapeString(), " and dst ", dst.ShapeString(),
                   " differ in row width");
  GPTOSS_CHECK_ARG(index.dtype == DType::kI32 && index.rank == 1 && index.dim(0) == src.dim(0),
                   "ScatterAddRows: index ", index.ShapeString(), " must be I32 [", src.dim(0),
                   "]");
  GPTOSS_CHECK_ARG(!Overlap(src, dst), "ScatterAddRows: src and dst overlap");
  return absl::OkStatus();
}

absl::Status CheckAttentionShapes(const TensorView& q, const KvLayerView& cache,
                                  const TensorView& sinks, const AttentionBatch& batch, int window,
                                  const TensorView& out) {
  GPTOSS_RETURN_IF_ERROR(Rank(q, "Attention", "q", 3));
  GPTOSS_RETURN_IF_ERROR(Rank(cache.k, "Attention", "cache.k", 4));
  GPTOSS_RETURN_IF_ERROR(Rank(cache.v, "Attention", "cache.v", 4));
  GPTOSS_RETURN_IF_ERROR(Rank(sinks, "Attention", "sinks", 1));
  GPTOSS_RETURN_IF_ERROR(Rank(batch.query_start, "Attention", "query_start", 1));
  GPTOSS_RETURN_IF_ERROR(Rank(batch.context_len, "Attention", "context_len", 1));
  GPTOSS_RETURN_IF_ERROR(Rank(batch.block_tables, "Attention", "block_tables", 2));
  GPTOSS_RETURN_IF_ERROR(Rank(out, "Attention", "out", 2));
  const int64_t n = q.dim(0), heads = q.dim(1), head_dim = q.dim(2);
  const int64_t kv_heads = cache.k.dim(2);
  const int64_t num_seqs = batch.num_seqs;
  for (int i = 0; i < 4; ++i)
    GPTOSS_CHECK_ARG(cache.k.dims[i] == cache.v.dims[i], "Attention: cache.k ",
                     cache.k.ShapeString(), " and cache.v ", cache.v.ShapeString(), " differ");
  GPTOSS_CHECK_ARG(cache.k.dim(3) == head_dim, "Attention: q ", q.ShapeString(),
                   " head dim does not match cache ", cache.k.ShapeString());
  GPTOSS_CHECK_ARG(cache.k.dim(1) > 0, "Attention: cache block size must be positive");
  GPTOSS_CHECK_ARG(kv_heads > 0 && heads % kv_heads == 0, "Attention: ", heads,
                   " query heads are not a multiple of ", kv_heads, " kv heads");
  GPTOSS_CHECK_ARG(sinks.dim(0) == heads, "Attention: sinks ", sinks.ShapeString(), " must be [",
                   heads, "]");
  GPTOSS_CHECK_ARG(out.dim(0) == n && out.dim(1) == heads * head_dim, "Attention: out ",
                   out.ShapeString(), " must be [", n, ",", heads * head_dim, "]");
  GPTOSS_CHECK_ARG(batch.num_tokens == n, "Attention: batch.num_tokens ", batch.num_tokens,
                   " != q rows ", n);
  GPTOSS_CHECK_ARG(num_seqs >= 0 && batch.query_start.dim(0) == num_seqs + 1 &&
                       batch.context_len.dim(0) == num_seqs &&
                       batch.block_tables.dim(0) == num_seqs,
                   "Attention: query_start ", batch.query_start.ShapeString(), ", context_len ",
                   batch.context_len.ShapeString(), " and block_tables ",
                   batch.block_tables.ShapeString(), " do not describe ", num_seqs, " sequences");
  GPTOSS_CHECK_ARG(num_seqs > 0 || n == 0, "Attention: ", n, " tokens but no sequences");
  GPTOSS_CHECK_ARG(window >= 0, "Attention: negative window ", window);
  GPTOSS_CHECK_ARG(batch.max_context_len >= 0, "Attention: negative max_context_len");
  return absl::OkStatus();
}

absl::Status CheckMoeMlpShapes(const TensorView& x, const TensorView& expert_ids,
                               const ExpertWeights& ew, const TensorView& out) {
  GPTOSS_RETURN_IF_ERROR(Rank(x, "MoeMlp", "x", 2));
  GPTOSS_RETURN_IF_ERROR(Rank(expert_ids, "MoeMlp", "expert_ids", 2));
  GPTOSS_RETURN_IF_ERROR(Rank(out, "MoeMlp", "out", 3));
  const int64_t n = x.dim(0), hidden = x.dim(1), k = expert_ids.dim(1);
  const int64_t local = ew.num_local;
  GPTOSS_CHECK_ARG(expert_ids.dim(0) == n, "MoeMlp: expert_ids ", expert_ids.ShapeString(),
                   " must have ", n, " rows");
  GPTOSS_CHECK_ARG(out.dim(0) == n && out.dim(1) == k && out.dim(2) == hidden, "MoeMlp: out ",
                   out.ShapeString(), " must be [", n, ",", k, ",", hidden, "]");
  GPTOSS_CHECK_ARG(local >= 0 && ew.first_expert >= 0, "MoeMlp: bad local expert range");
  GPTOSS_CHECK_ARG(ew.gate_up_blocks.rank == 4 && ew.gate_up_blocks.dim(1) % 2 == 0,
                   "MoeMlp: gate_up blocks ", ew.gate_up_blocks.ShapeString(),
                   " must be [E, 2I, H/32, 16]");
  const int64_t inter = ew.gate_up_blocks.dim(1) / 2;
  GPTOSS_RETURN_IF_ERROR(CheckMxfp4Shapes(ew.gate_up_blocks, ew.gate_up_scales, ew.gate_up_bias,
                                          "gate_up", local, 2 * inter, hidden));
  return CheckMxfp4Shapes(ew.down_blocks, ew.down_scales, ew.down_bias, "down", local, hidden,
                          inter);
}

absl::Status CheckSampleArgs(const TensorView& logits, const std::vector<SamplingParams>& params,
                             const TensorView& ids, const TensorView& logprobs) {
  GPTOSS_RETURN_IF_ERROR(Rank(logits, "Sample", "logits", 2));
  GPTOSS_RETURN_IF_ERROR(Rank(ids, "Sample", "ids", 1));
  GPTOSS_RETURN_IF_ERROR(Rank(logprobs, "Sample", "logprobs", 1));
  const int64_t rows = logits.dim(0), vocab = logits.dim(1);
  GPTOSS_CHECK_ARG(vocab > 0, "Sample: empty vocabulary");
  GPTOSS_CHECK_ARG(
      static_cast<int64_t>(params.size()) == rows && ids.dim(0) == rows && logprobs.dim(0) == rows,
      "Sample: ", rows, " logit rows, ", params.size(), " params, ids ", ids.ShapeString(),
      ", logprobs ", logprobs.ShapeString());
  for (int64_t b = 0; b < rows; ++b) {
    const SamplingParams& p = params[b];
    GPTOSS_CHECK_ARG(std::isfinite(p.temperature), "Sample: temperature of row ", b,
                     " is not finite");
    GPTOSS_CHECK_ARG(p.top_p > 0.0f && p.top_p <= 1.0f, "Sample: top_p ", p.top_p, " of row ", b,
                     " must be in (0, 1]");
    GPTOSS_CHECK_ARG(p.min_p >= 0.0f && p.min_p <= 1.0f, "Sample: min_p ", p.min_p, " of row ", b,
                     " must be in [0, 1]");
    GPTOSS_CHECK_ARG(p.top_k >= 0, "Sample: negative top_k ", p.top_k, " of row ", b);
  }
  return absl::OkStatus();
}

absl::Status CheckPenaltyArgs(const TensorView& logits, const TensorView& tokens,
                              const TensorView& counts, const std::vector<PenaltyParams>& params) {
  GPTOSS_RETURN_IF_ERROR(Rank(logits, "ApplyPenalties", "logits", 2));
  GPTOSS_RETURN_IF_ERROR(Rank(tokens, "ApplyPenalties", "tokens", 2));
  GPTOSS_RETURN_IF_ERROR(Rank(counts, "ApplyPenalties", "counts", 2));
  const int64_t rows = logits.dim(0), width = tokens.dim(1);
  GPTOSS_CHECK_ARG(tokens.dim(0) == rows && counts.dim(0) == rows && counts.dim(1) == width &&
                       static_cast<int64_t>(params.size()) == rows,
                   "ApplyPenalties: logits ", logits.ShapeString(), ", tokens ",
                   tokens.ShapeString(), ", counts ", counts.ShapeString(), ", ", params.size(),
                   " params");
  for (int64_t b = 0; b < rows; ++b) {
    const PenaltyParams& p = params[b];
    GPTOSS_CHECK_ARG(std::isfinite(p.presence) && std::isfinite(p.frequency) &&
                         std::isfinite(p.repetition) && p.repetition > 0.0f,
                     "ApplyPenalties: row ", b, " has presence ", p.presence, ", frequency ",
                     p.frequency, ", repetition ", p.repetition, " (repetition must be > 0)");
  }
  return absl::OkStatus();
}

absl::Status CheckTopLogprobsShapes(const TensorView& logits, const TensorView& ids,
                                    const TensorView& logprobs) {
  GPTOSS_RETURN_IF_ERROR(Rank(logits, "TopLogprobs", "logits", 2));
  GPTOSS_RETURN_IF_ERROR(Rank(ids, "TopLogprobs", "ids", 2));
  GPTOSS_RETURN_IF_ERROR(Rank(logprobs, "TopLogprobs", "logprobs", 2));
  const int64_t rows = logits.dim(0), vocab = logits.dim(1), n = ids.dim(1);
  GPTOSS_CHECK_ARG(
      ids.dim(0) == rows && logprobs.dim(0) == rows && logprobs.dim(1) == n && n <= vocab,
      "TopLogprobs: logits ", logits.ShapeString(), ", ids ", ids.ShapeString(), ", logprobs ",
      logprobs.ShapeString());
  return absl::OkStatus();
}

}  // namespace gptoss
