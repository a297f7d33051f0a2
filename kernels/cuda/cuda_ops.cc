// CudaOps: argument checks on the host, then one launcher per op (kernels/cuda/<op>.cu).
#include "kernels/cuda/cuda_ops.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/core/rng.h"
#include "kernels/core/status.h"
#include "kernels/cuda/cublaslt_gemm.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_timer.h"
#include "kernels/op_contracts.h"

namespace gptoss::cuda {
namespace {

bool IsFloat(DType t) { return t == DType::kBF16 || t == DType::kF32; }

// `t` is device memory of rank `rank` whose dtype is `dtype` (or BF16/F32 when `any_float`).
absl::Status Check(const TensorView& t, const char* name, DType dtype, int rank,
                   bool any_float = false) {
  if (t.device != Device::kCuda)
    return absl::InvalidArgumentError(absl::StrCat(name, ": not in CUDA device memory"));
  if (any_float ? !IsFloat(t.dtype) : t.dtype != dtype)
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": dtype ", std::string(DTypeName(t.dtype)), ", expected ",
                     any_float ? std::string("BF16 or F32") : std::string(DTypeName(dtype))));
  if (t.rank != rank)
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": rank ", t.rank, " (shape ", t.ShapeString(), "), expected ", rank));
  for (int i = 0; i < t.rank; ++i)
    if (t.dims[i] < 0)
      return absl::InvalidArgumentError(absl::StrCat(name, ": negative dimension in ", t.ShapeString()));
  if (t.numel() > 0 && t.data == nullptr)
    return absl::InvalidArgumentError(absl::StrCat(name, ": null data for shape ", t.ShapeString()));
  return absl::OkStatus();
}

absl::Status CheckFloat(const TensorView& t, const char* name, int rank) {
  return Check(t, name, DType::kF32, rank, /*any_float=*/true);
}

std::string DeviceErrorText(int bits) {
  std::vector<std::string> what;
  if (bits & kErrEmbeddingId) what.push_back("an Embedding id is outside the table");
  if (bits & kErrKvSlot) what.push_back("an AppendKv slot is outside the cache");
  if (bits & kErrBlockTable)
    what.push_back("an attended position maps to a released (-1) or out-of-range cache block");
  if (bits & kErrAttentionBatch)
    what.push_back("query_start / context_len do not describe the batch");
  if (bits & kErrPosition) what.push_back("a RoPE position is negative");
  if (bits & kErrExpertId) what.push_back("a MoE expert id is negative");
  return absl::StrJoin(what, "; ");
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaOps>> CudaOps::Create(int device_ordinal) {
  GPTOSS_RETURN_IF_ERROR(CudaDeviceAvailable());
  std::unique_ptr<CudaOps> ops(new CudaOps());
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_ordinal));
  GPTOSS_ASSIGN_OR_RETURN(ops->info_, GetDeviceInfo(device_ordinal));
  ops->ctx_.num_sms = ops->info_.num_sms;
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&ops->ctx_.stream, cudaStreamNonBlocking));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMalloc(&ops->ctx_.error_flags, sizeof(int)));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemset(ops->ctx_.error_flags, 0, sizeof(int)));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());  // legacy-stream memset vs our non-blocking stream
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMallocHost(&ops->error_host_, sizeof(int)));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMalloc(&ops->ctx_.grid_counter, sizeof(unsigned)));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemset(ops->ctx_.grid_counter, 0, sizeof(unsigned)));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  // Op scratch comes from the stream-ordered pool (cudaMallocAsync): keep freed memory cached
  // instead of returning it to the driver at every synchronization.
  cudaMemPool_t pool;
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaDeviceGetDefaultMemPool(&pool, device_ordinal));
  uint64_t threshold = std::numeric_limits<uint64_t>::max();
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  GPTOSS_ASSIGN_OR_RETURN(ops->gemm_, LtGemm::Create());
  return ops;
}

CudaOps::~CudaOps() {
  if (ctx_.stream != nullptr) cudaStreamSynchronize(ctx_.stream);
  gemm_.reset();
  if (error_host_ != nullptr) cudaFreeHost(error_host_);
  if (ctx_.error_flags != nullptr) cudaFree(ctx_.error_flags);
  if (ctx_.grid_counter != nullptr) cudaFree(ctx_.grid_counter);
  if (ctx_.stream != nullptr) cudaStreamDestroy(ctx_.stream);
}

bool CudaOps::capturing() const {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(ctx_.stream, &status) != cudaSuccess) return false;
  return status != cudaStreamCaptureStatusNone;
}

absl::Status CudaOps::TakeDeviceErrors() {
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(error_host_, ctx_.error_flags, sizeof(int),
                                       cudaMemcpyDeviceToHost, ctx_.stream));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(ctx_.error_flags, 0, sizeof(int), ctx_.stream));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx_.stream));
  const int bits = *error_host_;
  if (bits != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA kernels rejected their input: ", DeviceErrorText(bits)));
  return absl::OkStatus();
}

absl::Status CudaOps::Synchronize() {
  if (capturing()) return absl::FailedPreconditionError("Synchronize during CUDA graph capture");
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx_.stream));
  return TakeDeviceErrors();
}

absl::StatusOr<std::shared_ptr<void>> CudaOps::Allocate(size_t bytes) {
  if (capturing())
    return absl::FailedPreconditionError(
        "CudaOps::Allocate during CUDA graph capture: run the step once eagerly first so that "
        "every buffer already has its size");
  void* p = nullptr;
  const size_t rounded = bytes == 0 ? 256 : bytes;
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, rounded));
  const cudaError_t err = cudaMemsetAsync(p, 0, rounded, ctx_.stream);
  if (err != cudaSuccess) {
    cudaFree(p);
    GPTOSS_CUDA_RETURN_IF_ERROR(err);
  }
  // cudaFree waits for the device, so in-flight kernels that still use the memory finish first.
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

absl::Status CudaOps::CopyFromHost(void* device_dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  GPTOSS_CHECK_ARG(device_dst != nullptr && host_src != nullptr, "CopyFromHost: null pointer");
  if (capturing()) return absl::FailedPreconditionError("CopyFromHost during CUDA graph capture");
  GPTOSS_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, ctx_.stream));
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx_.stream));
  return absl::OkStatus();
}

absl::Status CudaOps::CopyToHost(void* host_dst, const void* device_src, size_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  GPTOSS_CHECK_ARG(host_dst != nullptr && device_src != nullptr, "CopyToHost: null pointer");
  if (capturing()) return absl::FailedPreconditionError("CopyToHost during CUDA graph capture");
  GPTOSS_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, ctx_.stream));
  // The data is only meaningful if no kernel before it rejected its input.
  return TakeDeviceErrors();
}

absl::StatusOr<CudaOps::Kernels> CudaOps::KernelsByName(std::string_view name) {
  if (name == "fused") return Kernels{};
  if (name == "baseline") return Kernels{/*fused=*/false, /*moe_gemv_max_rows=*/0};
  return absl::InvalidArgumentError(
      absl::StrCat("unknown CUDA kernel set '", std::string(name), "' (fused|baseline)"));
}

absl::Status CudaOps::Copy(const TensorView& src, TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(CheckCopy(src, dst, Device::kCuda));
  if (src.bytes() > 0)
    GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst.data, src.data, src.bytes(),
                                                cudaMemcpyDeviceToDevice, ctx_.stream));
  return absl::OkStatus();
}

absl::Status CudaOps::CopyColumns(const TensorView& src, int64_t first, TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(CheckCopyColumns(src, first, dst, Device::kCuda));
  if (dst.numel() == 0) return absl::OkStatus();
  const size_t es = DTypeSize(src.dtype);
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(
      dst.data, dst.dim(1) * es, static_cast<const char*>(src.data) + first * es,
      src.dim(1) * es, dst.dim(1) * es, dst.dim(0), cudaMemcpyDeviceToDevice, ctx_.stream));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<OpTimer>> CudaOps::CreateTimer() {
  return CreateCudaTimer(ctx_);
}

absl::Status CudaOps::Zero(TensorView t) {
  GPTOSS_RETURN_IF_ERROR(CheckZeroable(t, Device::kCuda));
  if (t.bytes() > 0) GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(t.data, 0, t.bytes(), ctx_.stream));
  return absl::OkStatus();
}

absl::Status CudaOps::PlanDispatch(const TensorView& expert_ids, int experts_per_rank,
                                   TensorView slots) {
  GPTOSS_RETURN_IF_ERROR(CheckPlanDispatch(expert_ids, experts_per_rank, slots, Device::kCuda));
  return LaunchPlanDispatch(ctx_, expert_ids.as<int32_t>(), expert_ids.dim(0), expert_ids.dim(1),
                            experts_per_rank, slots.as<int32_t>(), slots.dim(0), slots.dim(1));
}

absl::Status CudaOps::PackRows(const std::vector<TensorView>& srcs, const TensorView& index,
                               TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(CheckPackRows(srcs, index, dst, Device::kCuda));
  const int64_t rows = dst.dim(0), width = dst.dim(1);
  const int32_t* at = index.empty() ? nullptr : index.as<int32_t>();
  int64_t offset = 0;
  for (const TensorView& src : srcs) {
    const int64_t row_bytes = RowBytes(src);  // from the shape: a source may have no rows
    GPTOSS_RETURN_IF_ERROR(LaunchGatherRows(ctx_, src.data, row_bytes, src.dim(0), at, rows,
                                            row_bytes, static_cast<char*>(dst.data) + offset,
                                            width));
    offset += row_bytes;
  }
  return absl::OkStatus();
}

absl::Status CudaOps::ScatterAddRows(const TensorView& src, const TensorView& index,
                                     TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(CheckScatterAddRows(src, index, dst, Device::kCuda));
  const int64_t rows = src.dim(0);
  return LaunchScatterAddRows(ctx_, src.data, src.dtype, index.as<int32_t>(), rows,
                              rows == 0 ? 0 : src.numel() / rows, dst.data, dst.dim(0));
}

absl::Status CudaOps::Embedding(const TensorView& ids, const TensorView& table, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(Check(ids, "Embedding ids", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(table, "Embedding table", 2));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(out, "Embedding out", 2));
  const int64_t n = ids.dim(0), vocab = table.dim(0), hidden = table.dim(1);
  GPTOSS_CHECK_ARG(out.dim(0) == n && out.dim(1) == hidden, "Embedding: out ", out.ShapeString(),
                   " must be [", n, ",", hidden, "]");
  GPTOSS_CHECK_ARG(out.data != table.data || n == 0, "Embedding: out must not alias the table");
  return LaunchEmbedding(ctx_, ids.as<int32_t>(), n, table.data, table.dtype, vocab, hidden,
                         out.data, out.dtype);
}

absl::Status CudaOps::RmsNorm(const TensorView& x, const TensorView& weight, float eps,
                              TensorView out) {
  GPTOSS_RETURN_IF_ERROR(CheckFloat(x, "RmsNorm x", 2));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(weight, "RmsNorm weight", 1));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(out, "RmsNorm out", 2));
  GPTOSS_RETURN_IF_ERROR(CheckRmsNormShapes(x, weight, out));
  const int64_t n = x.dim(0), hidden = x.dim(1);
  GPTOSS_CHECK_ARG(out.data != x.data || out.dtype == x.dtype,
                   "RmsNorm: in-place only with equal dtypes");
  return LaunchRmsNorm(ctx_, x.data, x.dtype, weight.data, weight.dtype, eps, n, hidden, out.data,
                       out.dtype);
}

absl::Status CudaOps::Linear(const TensorView& x, const TensorView& w, const TensorView& bias,
                             TensorView out) {
  GPTOSS_RETURN_IF_ERROR(Check(x, "Linear x", DType::kBF16, 2));
  GPTOSS_RETURN_IF_ERROR(Check(w, "Linear w", DType::kBF16, 2));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(out, "Linear out", 2));
  const int64_t rows = x.dim(0), k = x.dim(1), n = w.dim(0);
  GPTOSS_CHECK_ARG(w.dim(1) == k, "Linear: w ", w.ShapeString(), " does not match x ", x.ShapeString());
  GPTOSS_CHECK_ARG(out.dim(0) == rows && out.dim(1) == n, "Linear: out ", out.ShapeString(),
                   " must be [", rows, ",", n, "]");
  GPTOSS_CHECK_ARG(k > 0 || rows == 0 || n == 0, "Linear: empty input dimension");
  if (!bias.empty()) {
    GPTOSS_RETURN_IF_ERROR(CheckFloat(bias, "Linear bias", 1));
    GPTOSS_CHECK_ARG(bias.dim(0) == n, "Linear: bias ", bias.ShapeString(), " must be [", n, "]");
  }
  GPTOSS_CHECK_ARG(out.data != x.data || rows == 0, "Linear: out must not alias x");
  return gemm_->Run(ctx_, x.data, w.data, bias.empty() ? nullptr : bias.data, bias.dtype, out.data,
                    out.dtype, rows, n, k);
}

absl::Status CudaOps::RopeYarn(TensorView q, TensorView k, const TensorView& positions,
                               const RopeTable& rope) {
  GPTOSS_RETURN_IF_ERROR(CheckFloat(q, "RopeYarn q", 3));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(k, "RopeYarn k", 3));
  GPTOSS_RETURN_IF_ERROR(Check(positions, "RopeYarn positions", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(Check(rope.inv_freq, "RopeYarn inv_freq", DType::kF32, 1));
  const int64_t n = q.dim(0), head_dim = q.dim(2);
  const int64_t half = rope.inv_freq.dim(0);
  GPTOSS_CHECK_ARG(q.dtype == k.dtype, "RopeYarn: q and k dtypes differ");
  GPTOSS_CHECK_ARG(k.dim(0) == n && positions.dim(0) == n, "RopeYarn: q ", q.ShapeString(), ", k ",
                   k.ShapeString(), " and positions ", positions.ShapeString(), " disagree on T");
  GPTOSS_CHECK_ARG(k.dim(2) == head_dim && head_dim == 2 * half, "RopeYarn: head dims of q ",
                   q.ShapeString(), " / k ", k.ShapeString(), " must be 2 * inv_freq ", half);
  return LaunchRopeYarn(ctx_, q.data, q.dim(1), k.data, k.dim(1), q.dtype, n, head_dim,
                        positions.as<int32_t>(), rope.inv_freq.as<float>(),
                        rope.attention_scaling);
}

absl::Status CudaOps::AppendKv(const TensorView& k, const TensorView& v, const TensorView& slots,
                               KvLayerView cache) {
  GPTOSS_RETURN_IF_ERROR(CheckFloat(k, "AppendKv k", 3));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(v, "AppendKv v", 3));
  GPTOSS_RETURN_IF_ERROR(Check(slots, "AppendKv slots", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(cache.k, "cache.k", 4));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(cache.v, "cache.v", 4));
  const int64_t n = k.dim(0), kv_heads = k.dim(1), head_dim = k.dim(2);
  for (int i = 0; i < 4; ++i)
    GPTOSS_CHECK_ARG(cache.k.dims[i] == cache.v.dims[i], "AppendKv: cache.k ",
                     cache.k.ShapeString(), " and cache.v ", cache.v.ShapeString(), " differ");
  for (int i = 0; i < 3; ++i)
    GPTOSS_CHECK_ARG(k.dims[i] == v.dims[i], "AppendKv: k ", k.ShapeString(), " and v ",
                     v.ShapeString(), " differ");
  GPTOSS_CHECK_ARG(k.dtype == v.dtype && k.dtype == cache.k.dtype && k.dtype == cache.v.dtype,
                   "AppendKv: k, v and the cache must share one dtype");
  GPTOSS_CHECK_ARG(slots.dim(0) == n, "AppendKv: slots ", slots.ShapeString(), " must be [", n, "]");
  GPTOSS_CHECK_ARG(cache.k.dim(2) == kv_heads && cache.k.dim(3) == head_dim, "AppendKv: k ",
                   k.ShapeString(), " does not match cache ", cache.k.ShapeString());
  const int64_t capacity = cache.k.dim(0) * cache.k.dim(1);
  return LaunchAppendKv(ctx_, k.data, v.data, slots.as<int32_t>(), n, kv_heads * head_dim, k.dtype,
                        cache.k.data, cache.v.data, capacity);
}

absl::Status CudaOps::AttentionWithSinks(const TensorView& q, const KvLayerView& cache,
                                         const TensorView& sinks, const AttentionBatch& batch,
                                         int window, float scale, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(Check(q, "Attention q", DType::kBF16, 3));
  GPTOSS_RETURN_IF_ERROR(Check(cache.k, "cache.k", DType::kBF16, 4));
  GPTOSS_RETURN_IF_ERROR(Check(cache.v, "cache.v", DType::kBF16, 4));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(sinks, "Attention sinks", 1));
  GPTOSS_RETURN_IF_ERROR(Check(batch.query_start, "Attention query_start", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(Check(batch.context_len, "Attention context_len", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(Check(batch.block_tables, "Attention block_tables", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(out, "Attention out", DType::kBF16, 2));
  GPTOSS_RETURN_IF_ERROR(CheckAttentionShapes(q, cache, sinks, batch, window, out));
  const int64_t n = q.dim(0), heads = q.dim(1), head_dim = q.dim(2);
  const int64_t kv_heads = cache.k.dim(2);
  GPTOSS_CHECK_ARG(n <= std::numeric_limits<int32_t>::max() &&
                       batch.block_tables.dim(1) <= std::numeric_limits<int32_t>::max(),
                   "Attention: batch too large");
  AttentionArgs a;
  a.q = q.data;
  a.k_cache = cache.k.data;
  a.v_cache = cache.v.data;
  a.dtype = q.dtype;
  a.sinks = sinks.data;
  a.sinks_dtype = sinks.dtype;
  a.query_start = batch.query_start.as<int32_t>();
  a.context_len = batch.context_len.as<int32_t>();
  a.block_tables = batch.block_tables.as<int32_t>();
  a.num_seqs = batch.num_seqs;
  a.num_tokens = static_cast<int>(n);
  a.max_blocks = static_cast<int>(batch.block_tables.dim(1));
  a.num_blocks = cache.k.dim(0);
  a.block_size = static_cast<int>(cache.k.dim(1));
  a.num_heads = static_cast<int>(heads);
  a.num_kv_heads = static_cast<int>(kv_heads);
  a.head_dim = static_cast<int>(head_dim);
  a.window = window;
  // The host bound sizes the split-K decision only; the kernel reads the real lengths.
  a.max_context_len = batch.max_context_len > 0
                          ? batch.max_context_len
                          : static_cast<int>(std::min<int64_t>(
                                batch.block_tables.dim(1) * cache.k.dim(1),
                                std::numeric_limits<int32_t>::max()));
  a.scale = scale;
  a.out = out.data;
  a.out_dtype = out.dtype;
  return LaunchAttentionWithSinks(ctx_, a);
}

absl::Status CudaOps::RouterTopK(const TensorView& logits, int k, TensorView expert_ids,
                                 TensorView expert_weights) {
  GPTOSS_RETURN_IF_ERROR(Check(logits, "RouterTopK logits", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(expert_ids, "RouterTopK expert_ids", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(expert_weights, "RouterTopK expert_weights", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckRouterTopKShapes(logits, k, expert_ids, expert_weights));
  const int64_t n = logits.dim(0), experts = logits.dim(1);
  GPTOSS_CHECK_ARG(experts <= std::numeric_limits<int32_t>::max(), "RouterTopK: too many experts");
  return LaunchRouterTopK(ctx_, logits.as<float>(), n, static_cast<int>(experts), k,
                          expert_ids.as<int32_t>(), expert_weights.as<float>());
}

namespace {

// Dtypes and device memory of one MXFP4 projection (its shapes are the op contract's).
absl::Status CheckMxfp4Tensors(const TensorView& blocks, const TensorView& scales,
                               const TensorView& bias, const char* name) {
  GPTOSS_RETURN_IF_ERROR(Check(blocks, name, DType::kU8, 4));
  GPTOSS_RETURN_IF_ERROR(Check(scales, name, DType::kU8, 3));
  return CheckFloat(bias, name, 2);
}

// The checked launch arguments of one MoE call (MoeMlp and MoeExperts).
absl::StatusOr<MoeArgs> MoeLaunchArgs(const TensorView& x, const TensorView& expert_ids,
                                      const ExpertWeights& ew, const TensorView& out) {
  GPTOSS_RETURN_IF_ERROR(Check(x, "MoeMlp x", DType::kBF16, 2));
  GPTOSS_RETURN_IF_ERROR(Check(expert_ids, "MoeMlp expert_ids", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(out, "MoeMlp out", 3));
  GPTOSS_RETURN_IF_ERROR(
      CheckMxfp4Tensors(ew.gate_up_blocks, ew.gate_up_scales, ew.gate_up_bias, "gate_up"));
  GPTOSS_RETURN_IF_ERROR(CheckMxfp4Tensors(ew.down_blocks, ew.down_scales, ew.down_bias, "down"));
  GPTOSS_RETURN_IF_ERROR(CheckMoeMlpShapes(x, expert_ids, ew, out));
  const int64_t k = expert_ids.dim(1);
  GPTOSS_CHECK_ARG(ew.gate_up_bias.dtype == ew.down_bias.dtype,
                   "MoeMlp: gate_up and down biases must share a dtype");
  GPTOSS_CHECK_ARG(k <= std::numeric_limits<int32_t>::max(), "MoeMlp: k too large");
  MoeArgs a;
  a.x = x.data;
  a.x_dtype = x.dtype;
  a.expert_ids = expert_ids.as<int32_t>();
  a.rows = x.dim(0);
  a.top_k = static_cast<int>(k);
  a.hidden = x.dim(1);
  a.intermediate = ew.gate_up_blocks.dim(1) / 2;
  a.gate_up_blocks = ew.gate_up_blocks.as<uint8_t>();
  a.gate_up_scales = ew.gate_up_scales.as<uint8_t>();
  a.gate_up_bias = ew.gate_up_bias.data;
  a.down_blocks = ew.down_blocks.as<uint8_t>();
  a.down_scales = ew.down_scales.as<uint8_t>();
  a.down_bias = ew.down_bias.data;
  a.bias_dtype = ew.gate_up_bias.dtype;
  a.first_expert = ew.first_expert;
  a.num_local = ew.num_local;
  a.swiglu_limit = ew.swiglu_limit;
  a.swiglu_alpha = ew.swiglu_alpha;
  a.out = out.data;
  a.out_dtype = out.dtype;
  return a;
}

}  // namespace

absl::Status CudaOps::MoeMlp(const TensorView& x, const TensorView& expert_ids,
                             const ExpertWeights& ew, TensorView out) {
  GPTOSS_ASSIGN_OR_RETURN(const MoeArgs a, MoeLaunchArgs(x, expert_ids, ew, out));
  return LaunchMoeMlp(ctx_, a);
}

absl::Status CudaOps::Router(const TensorView& h, const TensorView& w, const TensorView& bias,
                             int k, TensorView logits, TensorView expert_ids,
                             TensorView expert_weights) {
  if (!kernels_.fused) return Ops::Router(h, w, bias, k, logits, expert_ids, expert_weights);
  GPTOSS_RETURN_IF_ERROR(Check(h, "Router h", DType::kBF16, 2));
  GPTOSS_RETURN_IF_ERROR(Check(w, "Router w", DType::kBF16, 2));
  GPTOSS_RETURN_IF_ERROR(Check(logits, "Router logits", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(expert_ids, "Router expert_ids", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(expert_weights, "Router expert_weights", DType::kF32, 2));
  const int64_t n = h.dim(0), hidden = h.dim(1), experts = w.dim(0);
  if (!bias.empty()) {
    GPTOSS_RETURN_IF_ERROR(CheckFloat(bias, "Router bias", 1));
    GPTOSS_CHECK_ARG(bias.dim(0) == experts, "Router: bias ", bias.ShapeString(), " must be [",
                     experts, "]");
  }
  GPTOSS_CHECK_ARG(w.dim(1) == hidden && logits.dim(0) == n && logits.dim(1) == experts,
                   "Router: h ", h.ShapeString(), ", w ", w.ShapeString(), " and logits ",
                   logits.ShapeString(), " disagree");
  GPTOSS_CHECK_ARG(k >= 1 && k <= experts && expert_ids.dim(0) == n && expert_ids.dim(1) == k &&
                       expert_weights.dim(0) == n && expert_weights.dim(1) == k,
                   "Router: expert_ids ", expert_ids.ShapeString(), " and expert_weights ",
                   expert_weights.ShapeString(), " must be [", n, ",", k, "]");
  RouterArgs a;
  a.h = h.data;
  a.w = w.data;
  a.bias = bias.empty() ? nullptr : bias.data;
  a.bias_bf16 = bias.dtype == DType::kBF16;
  a.rows = static_cast<int>(std::min<int64_t>(n, std::numeric_limits<int>::max()));
  a.experts = static_cast<int>(std::min<int64_t>(experts, std::numeric_limits<int>::max()));
  a.k = k;
  a.hidden = hidden;
  a.logits = logits.as<float>();
  a.ids = expert_ids.as<int32_t>();
  a.weights = expert_weights.as<float>();
  if (n == 0) return absl::OkStatus();
  if (!RouterGemvApplies(a, /*max_rows=*/8))
    return Ops::Router(h, w, bias, k, logits, expert_ids, expert_weights);
  return LaunchRouterGemvTopK(ctx_, a);
}

absl::Status CudaOps::MoeExperts(const TensorView& x, const TensorView& expert_ids,
                                 const TensorView& expert_weights, const ExpertWeights& ew,
                                 TensorView rows, TensorView residual) {
  GPTOSS_ASSIGN_OR_RETURN(const MoeArgs a, MoeLaunchArgs(x, expert_ids, ew, rows));
  if (!MoeGemvApplies(a, kernels_.moe_gemv_max_rows))
    return Ops::MoeExperts(x, expert_ids, expert_weights, ew, rows, residual);
  // The combine's arguments, as MoeCombine checks them.
  GPTOSS_RETURN_IF_ERROR(Check(expert_weights, "MoeExperts weights", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(residual, "MoeExperts residual", 2));
  GPTOSS_CHECK_ARG(expert_weights.dim(0) == a.rows && expert_weights.dim(1) == a.top_k,
                   "MoeExperts: weights ", expert_weights.ShapeString(), " must be [", a.rows,
                   ",", a.top_k, "]");
  GPTOSS_CHECK_ARG(residual.dim(0) == a.rows && residual.dim(1) == a.hidden,
                   "MoeExperts: residual ", residual.ShapeString(), " must be [", a.rows, ",",
                   a.hidden, "]");
  return LaunchMoeGemvCombine(ctx_, a, expert_weights.as<float>(), residual.data, residual.dtype);
}

absl::Status CudaOps::MoeCombine(const TensorView& rows, const TensorView& weights,
                                 TensorView residual) {
  GPTOSS_RETURN_IF_ERROR(CheckFloat(rows, "MoeCombine rows", 3));
  GPTOSS_RETURN_IF_ERROR(Check(weights, "MoeCombine weights", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(residual, "MoeCombine residual", 2));
  const int64_t n = rows.dim(0), k = rows.dim(1), hidden = rows.dim(2);
  GPTOSS_CHECK_ARG(weights.dim(0) == n && weights.dim(1) == k, "MoeCombine: weights ",
                   weights.ShapeString(), " must be [", n, ",", k, "]");
  GPTOSS_CHECK_ARG(residual.dim(0) == n && residual.dim(1) == hidden, "MoeCombine: residual ",
                   residual.ShapeString(), " must be [", n, ",", hidden, "]");
  GPTOSS_CHECK_ARG(k <= std::numeric_limits<int32_t>::max(), "MoeCombine: k too large");
  return LaunchMoeCombine(ctx_, rows.data, rows.dtype, weights.as<float>(), n,
                          static_cast<int>(k), hidden, residual.data, residual.dtype);
}

absl::Status CudaOps::AddInPlace(const TensorView& x, TensorView residual) {
  GPTOSS_RETURN_IF_ERROR(CheckFloat(x, "AddInPlace x", x.rank));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(residual, "AddInPlace residual", residual.rank));
  GPTOSS_CHECK_ARG(x.rank == residual.rank, "AddInPlace: x ", x.ShapeString(),
                   " does not match residual ", residual.ShapeString());
  for (int i = 0; i < x.rank; ++i)
    GPTOSS_CHECK_ARG(x.dims[i] == residual.dims[i], "AddInPlace: x ", x.ShapeString(),
                     " does not match residual ", residual.ShapeString());
  return LaunchAddInPlace(ctx_, x.data, x.dtype, residual.data, residual.dtype, x.numel());
}

absl::Status CudaOps::Sample(const TensorView& logits, const std::vector<SamplingParams>& params,
                             TensorView ids, TensorView logprobs) {
  GPTOSS_RETURN_IF_ERROR(Check(logits, "Sample logits", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(ids, "Sample ids", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(Check(logprobs, "Sample logprobs", DType::kF32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckSampleArgs(logits, params, ids, logprobs));
  const int64_t rows = logits.dim(0), vocab = logits.dim(1);
  GPTOSS_CHECK_ARG(rows <= std::numeric_limits<int32_t>::max() &&
                       vocab <= std::numeric_limits<int32_t>::max(),
                   "Sample: logits too large");
  std::vector<DeviceSamplingParams> device_params(rows);
  for (int64_t b = 0; b < rows; ++b) {
    const SamplingParams& p = params[b];
    // The uniform is drawn on the host with the same counter-based function as the CPU.
    device_params[b] = DeviceSamplingParams{p.temperature, p.top_p, p.top_k, p.min_p,
                                            UniformFromSeed(p.seed, p.step)};
  }
  return LaunchSample(ctx_, logits.as<float>(), static_cast<int>(rows), vocab, device_params,
                      ids.as<int32_t>(), logprobs.as<float>());
}

absl::Status CudaOps::ApplyPenalties(TensorView logits, const TensorView& tokens,
                                     const TensorView& counts,
                                     const std::vector<PenaltyParams>& params) {
  GPTOSS_RETURN_IF_ERROR(Check(logits, "ApplyPenalties logits", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(tokens, "ApplyPenalties tokens", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(counts, "ApplyPenalties counts", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckPenaltyArgs(logits, tokens, counts, params));
  const int64_t rows = logits.dim(0), vocab = logits.dim(1), width = tokens.dim(1);
  GPTOSS_CHECK_ARG(rows <= std::numeric_limits<int32_t>::max(), "ApplyPenalties: too many rows");
  std::vector<DevicePenaltyParams> device_params(rows);
  for (int64_t b = 0; b < rows; ++b)
    device_params[b] = DevicePenaltyParams{params[b].presence, params[b].frequency,
                                           params[b].repetition};
  return LaunchApplyPenalties(ctx_, logits.as<float>(), static_cast<int>(rows), vocab,
                              tokens.as<int32_t>(), counts.as<int32_t>(), width, device_params);
}

absl::Status CudaOps::TopLogprobs(const TensorView& logits, TensorView ids,
                                  TensorView logprobs) {
  GPTOSS_RETURN_IF_ERROR(Check(logits, "TopLogprobs logits", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(ids, "TopLogprobs ids", DType::kI32, 2));
  GPTOSS_RETURN_IF_ERROR(Check(logprobs, "TopLogprobs logprobs", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTopLogprobsShapes(logits, ids, logprobs));
  const int64_t rows = logits.dim(0), vocab = logits.dim(1), n = ids.dim(1);
  // n rounds over the row each: meant for the API's <= 20 alternatives.
  GPTOSS_CHECK_ARG(n <= 64 && rows <= std::numeric_limits<int32_t>::max(),
                   "TopLogprobs: ", rows, " rows of ", n, " alternatives (n <= 64)");
  return LaunchTopLogprobs(ctx_, logits.as<float>(), static_cast<int>(rows), vocab,
                           static_cast<int>(n), ids.as<int32_t>(), logprobs.as<float>());
}

absl::Status CudaOps::AddRmsNorm(const TensorView& x, TensorView residual,
                                 const TensorView& weight, float eps, TensorView out) {
  if (!kernels_.fused) return Ops::AddRmsNorm(x, residual, weight, eps, out);
  GPTOSS_RETURN_IF_ERROR(CheckFloat(x, "AddRmsNorm x", 2));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(residual, "AddRmsNorm residual", 2));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(weight, "AddRmsNorm weight", 1));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(out, "AddRmsNorm out", 2));
  const int64_t n = x.dim(0), hidden = x.dim(1);
  GPTOSS_CHECK_ARG(residual.dim(0) == n && residual.dim(1) == hidden && out.dim(0) == n &&
                       out.dim(1) == hidden && weight.dim(0) == hidden,
                   "AddRmsNorm: x ", x.ShapeString(), ", residual ", residual.ShapeString(),
                   ", weight ", weight.ShapeString(), " and out ", out.ShapeString(), " disagree");
  GPTOSS_CHECK_ARG(hidden > 0, "AddRmsNorm: empty hidden dimension");
  GPTOSS_CHECK_ARG(n == 0 || (out.data != residual.data && x.data != residual.data),
                   "AddRmsNorm: x and out must not alias the residual");
  // The kernel takes one activation dtype and distinct buffers; anything else the composition
  // computes.
  if (x.dtype != residual.dtype || out.dtype != residual.dtype || out.data == x.data)
    return Ops::AddRmsNorm(x, residual, weight, eps, out);
  return LaunchAddRmsNorm(ctx_, x.data, x.dtype, residual.data, residual.dtype, weight.data,
                          weight.dtype, eps, n, hidden, out.data, out.dtype);
}

namespace {

// What RopeAppendKv and QkvRopeAppendKv share: positions and slots [n], the rope table of
// head_dim, a cache of kv_heads x head_dim rows of `dtype`; the common launch arguments.
absl::StatusOr<RopeAppendKvArgs> RopeKvLaunchArgs(const char* op, int64_t n, int64_t q_heads,
                                                  int64_t kv_heads, int64_t head_dim, DType dtype,
                                                  const TensorView& positions,
                                                  const RopeTable& rope, const TensorView& slots,
                                                  const KvLayerView& cache) {
  GPTOSS_RETURN_IF_ERROR(Check(positions, "positions", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(Check(slots, "slots", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(Check(rope.inv_freq, "inv_freq", DType::kF32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(cache.k, "cache.k", 4));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(cache.v, "cache.v", 4));
  for (int i = 0; i < 4; ++i)
    GPTOSS_CHECK_ARG(cache.k.dims[i] == cache.v.dims[i], op, ": cache.k ", cache.k.ShapeString(),
                     " and cache.v ", cache.v.ShapeString(), " differ");
  GPTOSS_CHECK_ARG(positions.dim(0) == n && slots.dim(0) == n, op, ": positions ",
                   positions.ShapeString(), " and slots ", slots.ShapeString(), " must be [", n,
                   "]");
  GPTOSS_CHECK_ARG(head_dim == 2 * rope.inv_freq.dim(0), op, ": head dim ", head_dim,
                   " must be 2 * inv_freq ", rope.inv_freq.dim(0));
  GPTOSS_CHECK_ARG(cache.k.dtype == dtype && cache.v.dtype == dtype, op,
                   ": the inputs and the cache must share one dtype");
  GPTOSS_CHECK_ARG(cache.k.dim(2) == kv_heads && cache.k.dim(3) == head_dim, op, ": ", kv_heads,
                   " kv heads of dim ", head_dim, " do not match cache ", cache.k.ShapeString());
  RopeAppendKvArgs a;
  a.dtype = dtype;
  a.num_tokens = n;
  a.q_heads = q_heads;
  a.k_heads = kv_heads;
  a.head_dim = head_dim;
  a.positions = positions.as<int32_t>();
  a.inv_freq = rope.inv_freq.as<float>();
  a.attention_scaling = rope.attention_scaling;
  a.slots = slots.as<int32_t>();
  a.k_cache = cache.k.data;
  a.v_cache = cache.v.data;
  a.num_slots = cache.k.dim(0) * cache.k.dim(1);
  return a;
}

}  // namespace

absl::Status CudaOps::RopeAppendKv(TensorView q, TensorView k, const TensorView& v,
                                   const TensorView& positions, const RopeTable& rope,
                                   const TensorView& slots, KvLayerView cache) {
  if (!kernels_.fused) return Ops::RopeAppendKv(q, k, v, positions, rope, slots, cache);
  GPTOSS_RETURN_IF_ERROR(CheckFloat(q, "RopeAppendKv q", 3));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(k, "RopeAppendKv k", 3));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(v, "RopeAppendKv v", 3));
  const int64_t n = q.dim(0), head_dim = q.dim(2), kv_heads = k.dim(1);
  for (int i = 0; i < 3; ++i)
    GPTOSS_CHECK_ARG(k.dims[i] == v.dims[i], "RopeAppendKv: k ", k.ShapeString(), " and v ",
                     v.ShapeString(), " differ");
  GPTOSS_CHECK_ARG(k.dim(0) == n && k.dim(2) == head_dim, "RopeAppendKv: q ", q.ShapeString(),
                   " and k ", k.ShapeString(), " disagree");
  GPTOSS_CHECK_ARG(q.dtype == k.dtype && k.dtype == v.dtype,
                   "RopeAppendKv: q, k and v must share one dtype");
  GPTOSS_ASSIGN_OR_RETURN(RopeAppendKvArgs a,
                          RopeKvLaunchArgs("RopeAppendKv", n, q.dim(1), kv_heads, head_dim,
                                           q.dtype, positions, rope, slots, cache));
  a.q = a.q_out = q.data;
  a.k = a.k_out = k.data;
  a.v = v.data;
  a.q_stride = q.dim(1) * head_dim;
  a.k_stride = a.v_stride = kv_heads * head_dim;
  return LaunchRopeAppendKv(ctx_, a);
}

absl::Status CudaOps::QkvRopeAppendKv(const TensorView& qkv, TensorView q_out, TensorView k,
                                      TensorView v, const TensorView& positions,
                                      const RopeTable& rope, const TensorView& slots,
                                      KvLayerView cache) {
  if (!kernels_.fused)
    return Ops::QkvRopeAppendKv(qkv, q_out, k, v, positions, rope, slots, cache);
  GPTOSS_RETURN_IF_ERROR(CheckFloat(qkv, "QkvRopeAppendKv qkv", 2));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(q_out, "QkvRopeAppendKv q_out", 3));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(k, "QkvRopeAppendKv k", 3));
  GPTOSS_RETURN_IF_ERROR(CheckFloat(v, "QkvRopeAppendKv v", 3));
  const int64_t n = q_out.dim(0), heads = q_out.dim(1), head_dim = q_out.dim(2);
  const int64_t kv_heads = k.dim(1), q_width = heads * head_dim, kv_width = kv_heads * head_dim;
  for (int i = 0; i < 3; ++i)
    GPTOSS_CHECK_ARG(k.dims[i] == v.dims[i], "QkvRopeAppendKv: k ", k.ShapeString(), " and v ",
                     v.ShapeString(), " differ");
  GPTOSS_CHECK_ARG(k.dim(0) == n && k.dim(2) == head_dim && qkv.dim(0) == n &&
                       qkv.dim(1) == q_width + 2 * kv_width,
                   "QkvRopeAppendKv: qkv ", qkv.ShapeString(), " must be [T, q + 2 kv] for q ",
                   q_out.ShapeString(), " and k ", k.ShapeString());
  GPTOSS_CHECK_ARG(qkv.dtype == q_out.dtype, "QkvRopeAppendKv: qkv and q_out dtypes differ");
  GPTOSS_CHECK_ARG(q_out.data != qkv.data || n == 0, "QkvRopeAppendKv: q_out must not alias qkv");
  GPTOSS_ASSIGN_OR_RETURN(RopeAppendKvArgs a,
                          RopeKvLaunchArgs("QkvRopeAppendKv", n, heads, kv_heads, head_dim,
                                           qkv.dtype, positions, rope, slots, cache));
  const size_t es = DTypeSize(qkv.dtype);
  a.q = qkv.data;
  a.q_out = q_out.data;
  a.k = static_cast<const char*>(qkv.data) + q_width * es;
  a.k_out = nullptr;  // only the cache keeps the rotated keys
  a.v = static_cast<const char*>(qkv.data) + (q_width + kv_width) * es;
  a.q_stride = a.k_stride = a.v_stride = qkv.dim(1);
  return LaunchRopeAppendKv(ctx_, a);
}

}  // namespace gptoss::cuda
