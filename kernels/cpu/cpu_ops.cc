// CpuOps: memory, argument checks and the dense elementwise/linear ops. Attention lives in
// cpu_attention.cc, the MoE ops in cpu_moe.cc, sampling in cpu_sample.cc.
#include "kernels/cpu/cpu_ops.h"
#include "kernels/op_contracts.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"

namespace gptoss {
namespace cpu_internal {

absl::Status CheckTensor(const TensorView& t, const char* name, DType dtype, int rank) {
  if (t.device != Device::kCpu)
    return absl::InvalidArgumentError(absl::StrCat(name, ": not in host memory"));
  if (t.dtype != dtype)
    return absl::InvalidArgumentError(absl::StrCat(name, ": dtype ",
                                                   std::string(DTypeName(t.dtype)), ", expected ",
                                                   std::string(DTypeName(dtype))));
  if (t.rank != rank)
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": rank ", t.rank, " (shape ", t.ShapeString(), "), expected ", rank));
  for (int i = 0; i < t.rank; ++i) {
    if (t.dims[i] < 0)
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": negative dimension in ", t.ShapeString()));
  }
  if (t.numel() > 0 && t.data == nullptr)
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": null data for shape ", t.ShapeString()));
  return absl::OkStatus();
}

float LoadFloat(const TensorView& t, int64_t i) {
  if (t.dtype == DType::kBF16) {
    uint16_t b;
    std::memcpy(&b, static_cast<const char*>(t.data) + 2 * i,
                2);  // checkpoint data may be unaligned
    return Bf16ToF32(b);
  }
  float f;
  std::memcpy(&f, static_cast<const char*>(t.data) + 4 * i, 4);
  return f;
}

}  // namespace cpu_internal

namespace {

using cpu_internal::CheckTensor;
using cpu_internal::LoadFloat;

// A weight-like tensor (norm weights, linear weights, biases, tables) may be BF16 (checkpoint) or
// F32 (tests, gathered activations).
absl::Status CheckWeight(const TensorView& t, const char* name, int rank) {
  const DType dtype = t.dtype == DType::kBF16 ? DType::kBF16 : DType::kF32;
  return CheckTensor(t, name, dtype, rank);
}

// Widens n elements of a BF16/F32 tensor starting at element `offset` into `out`.
void LoadRow(const TensorView& t, int64_t offset, int64_t n, float* out) {
  if (t.dtype == DType::kBF16) {
    const uint16_t* src = t.as<const uint16_t>() + offset;
    for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToF32(src[i]);
  } else {
    std::memcpy(out, t.as<const float>() + offset, static_cast<size_t>(n) * sizeof(float));
  }
}

// sum_i a[i] * b[i] in fp32 with 8 independent partial sums (so the compiler can vectorize
// without reassociating), combined in a fixed order: the same bits for the same inputs,
// whatever else is in the batch. B is float, or uint16_t BF16 widened in registers (a decode
// step's weight rows are used once: no widened copy is worth writing); widening is exact, so
// both give the same bits for the same weights.
template <typename B>
float Dot(const float* a, const B* b, int64_t n) {
  auto load = [b](int64_t i) {
    if constexpr (std::is_same_v<B, uint16_t>) return Bf16ToF32(b[i]);
    else return b[i];
  };
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * load(i + j);
  for (; i < n; ++i) acc[i % 8] += a[i] * load(i);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// Threads for the large matrix products: $GPTOSS_NUM_THREADS, else the machine's cores (at most
// 16). Each output element is computed whole by one thread, so the result does not depend on it.
int CpuThreads() {
  static const int threads = [] {
    if (const char* env = std::getenv("GPTOSS_NUM_THREADS")) {
      const int n = std::atoi(env);
      if (n >= 1 && n <= 256) return n;
    }
    return static_cast<int>(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, 16));
  }();
  return threads;
}

}  // namespace

absl::StatusOr<std::shared_ptr<void>> CpuOps::Allocate(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64 + 64;
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr)
    return absl::ResourceExhaustedError(absl::StrCat("CpuOps: cannot allocate ", bytes, " bytes"));
  std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

absl::Status CpuOps::CopyFromHost(void* device_dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  GPTOSS_CHECK_ARG(device_dst != nullptr && host_src != nullptr, "CopyFromHost: null pointer");
  std::memmove(device_dst, host_src, bytes);
  return absl::OkStatus();
}

absl::Status CpuOps::CopyToHost(void* host_dst, const void* device_src, size_t bytes) {
  return CopyFromHost(host_dst, device_src, bytes);
}

absl::Status CpuOps::Copy(const TensorView& src, TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(CheckCopy(src, dst, Device::kCpu));
  if (src.bytes() > 0) std::memcpy(dst.data, src.data, src.bytes());
  return absl::OkStatus();
}

absl::Status CpuOps::CopyColumns(const TensorView& src, int64_t first, TensorView dst) {
  GPTOSS_RETURN_IF_ERROR(CheckCopyColumns(src, first, dst, Device::kCpu));
  const size_t es = DTypeSize(src.dtype), row = static_cast<size_t>(dst.dim(1)) * es;
  for (int64_t t = 0; t < dst.dim(0); ++t)
    std::memcpy(static_cast<char*>(dst.data) + t * row,
                static_cast<const char*>(src.data) + (t * src.dim(1) + first) * es, row);
  return absl::OkStatus();
}

absl::Status CpuOps::Zero(TensorView t) {
  GPTOSS_RETURN_IF_ERROR(CheckZeroable(t, Device::kCpu));
  if (t.bytes() > 0) std::memset(t.data, 0, t.bytes());
  return absl::OkStatus();
}

absl::Status CpuOps::Embedding(const TensorView& ids, const TensorView& table, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(ids, "Embedding ids", DType::kI32, 1));
  GPTOSS_RETURN_IF_ERROR(CheckWeight(table, "Embedding table", 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(out, "Embedding out", DType::kF32, 2));
  const int64_t n = ids.dim(0), vocab = table.dim(0), hidden = table.dim(1);
  GPTOSS_CHECK_ARG(out.dim(0) == n && out.dim(1) == hidden, "Embedding: out ", out.ShapeString(),
                   " must be [", n, ",", hidden, "]");
  const int32_t* id = ids.as<int32_t>();
  for (int64_t t = 0; t < n; ++t) {
    GPTOSS_CHECK_ARG(id[t] >= 0 && id[t] < vocab, "Embedding: id ", id[t], " at row ", t,
                     " is outside the table of ", vocab, " rows");
  }
  for (int64_t t = 0; t < n; ++t)
    LoadRow(table, id[t] * hidden, hidden, out.as<float>() + t * hidden);
  return absl::OkStatus();
}

absl::Status CpuOps::RmsNorm(const TensorView& x, const TensorView& weight, float eps,
                             TensorView out) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(x, "RmsNorm x", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckWeight(weight, "RmsNorm weight", 1));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(out, "RmsNorm out", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckRmsNormShapes(x, weight, out));
  const int64_t n = x.dim(0), hidden = x.dim(1);
  for (int64_t t = 0; t < n; ++t) {
    const float* xr = x.as<float>() + t * hidden;
    float* o = out.as<float>() + t * hidden;
    double sum_sq = 0;
    for (int64_t i = 0; i < hidden; ++i) sum_sq += static_cast<double>(xr[i]) * xr[i];
    // HF GptOssRMSNorm, all in fp32: x * rsqrt(mean(x^2) + eps), THEN times weight.
    const float variance = static_cast<float>(sum_sq / static_cast<double>(hidden));
    const float inv = 1.0f / std::sqrt(variance + eps);
    for (int64_t i = 0; i < hidden; ++i) o[i] = LoadFloat(weight, i) * (xr[i] * inv);
  }
  return absl::OkStatus();
}

absl::Status CpuOps::Linear(const TensorView& x, const TensorView& w, const TensorView& bias,
                            TensorView out) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(x, "Linear x", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckWeight(w, "Linear w", 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(out, "Linear out", DType::kF32, 2));
  const int64_t n_rows = x.dim(0), k = x.dim(1), n_out = w.dim(0);
  GPTOSS_CHECK_ARG(w.dim(1) == k, "Linear: w ", w.ShapeString(), " does not match x ",
                   x.ShapeString());
  GPTOSS_CHECK_ARG(out.dim(0) == n_rows && out.dim(1) == n_out, "Linear: out ", out.ShapeString(),
                   " must be [", n_rows, ",", n_out, "]");
  if (!bias.empty()) {
    GPTOSS_RETURN_IF_ERROR(CheckWeight(bias, "Linear bias", 1));
    GPTOSS_CHECK_ARG(bias.dim(0) == n_out, "Linear: bias ", bias.ShapeString(), " must be [", n_out,
                     "]");
  }
  GPTOSS_CHECK_ARG(out.data != x.data || n_rows == 0, "Linear: out must not alias x");
  const float* xs = x.as<float>();
  float* o = out.as<float>();
  // Output features [first, last): each weight row is widened once and dotted with every row.
  // With one or two rows, BF16 weights are widened in registers instead.
  const bool direct = w.dtype == DType::kBF16 && n_rows <= 2;
  auto run = [&](int64_t first, int64_t last) {
    std::vector<float> row(direct ? 0 : static_cast<size_t>(k));
    for (int64_t n = first; n < last; ++n) {
      const float b = bias.empty() ? 0.0f : LoadFloat(bias, n);
      if (direct) {
        const uint16_t* wr = w.as<const uint16_t>() + n * k;
        for (int64_t t = 0; t < n_rows; ++t) o[t * n_out + n] = Dot(xs + t * k, wr, k) + b;
        continue;
      }
      LoadRow(w, n * k, k, row.data());
      for (int64_t t = 0; t < n_rows; ++t) o[t * n_out + n] = Dot(xs + t * k, row.data(), k) + b;
    }
  };
  // Large products (lm_head, prefill) are split by output feature over the cores.
  const int threads =
      n_out * k * std::max<int64_t>(n_rows, 1) >= (int64_t{1} << 21) ? CpuThreads() : 1;
  if (threads == 1) {
    run(0, n_out);
    return absl::OkStatus();
  }
  std::vector<std::thread> pool;
  const int64_t chunk = (n_out + threads - 1) / threads;
  for (int i = 1; i < threads; ++i) {
    const int64_t first = std::min(n_out, i * chunk), last = std::min(n_out, first + chunk);
    if (first < last) pool.emplace_back(run, first, last);
  }
  run(0, std::min(n_out, chunk));
  for (std::thread& t : pool) t.join();
  return absl::OkStatus();
}

absl::Status CpuOps::AddInPlace(const TensorView& x, TensorView residual) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(x, "AddInPlace x", DType::kF32, x.rank));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(residual, "AddInPlace residual", DType::kF32, residual.rank));
  GPTOSS_CHECK_ARG(x.rank == residual.rank && x.numel() == residual.numel(), "AddInPlace: x ",
                   x.ShapeString(), " does not match residual ", residual.ShapeString());
  for (int i = 0; i < x.rank; ++i)
    GPTOSS_CHECK_ARG(x.dims[i] == residual.dims[i], "AddInPlace: x ", x.ShapeString(),
                     " does not match residual ", residual.ShapeString());
  const float* a = x.as<float>();
  float* r = residual.as<float>();
  for (int64_t i = 0; i < x.numel(); ++i) r[i] += a[i];
  return absl::OkStatus();
}

absl::Status CpuOps::MoeCombine(const TensorView& rows, const TensorView& weights,
                                TensorView residual) {
  GPTOSS_RETURN_IF_ERROR(CheckTensor(rows, "MoeCombine rows", DType::kF32, 3));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(weights, "MoeCombine weights", DType::kF32, 2));
  GPTOSS_RETURN_IF_ERROR(CheckTensor(residual, "MoeCombine residual", DType::kF32, 2));
  const int64_t n = rows.dim(0), k = rows.dim(1), hidden = rows.dim(2);
  GPTOSS_CHECK_ARG(weights.dim(0) == n && weights.dim(1) == k, "MoeCombine: weights ",
                   weights.ShapeString(), " must be [", n, ",", k, "]");
  GPTOSS_CHECK_ARG(residual.dim(0) == n && residual.dim(1) == hidden, "MoeCombine: residual ",
                   residual.ShapeString(), " must be [", n, ",", hidden, "]");
  const float* rs = rows.as<float>();
  const float* ws = weights.as<float>();
  float* out = residual.as<float>();
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < hidden; ++h) {
      // HF sums the weighted expert outputs first (index_add_ into a zero tensor), then adds
      // the residual: residual + mlp_out.
      double acc = 0;
      for (int64_t j = 0; j < k; ++j)
        acc += static_cast<double>(ws[t * k + j]) * rs[(t * k + j) * hidden + h];
      out[t * hidden + h] += static_cast<float>(acc);
    }
  }
  return absl::OkStatus();
}

}  // namespace gptoss
