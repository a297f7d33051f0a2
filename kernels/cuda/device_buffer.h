// Owning device memory for the CUDA backend.
//  - DeviceBuffer: long-lived memory (weights, KV caches, tables), cudaMalloc'd once, freed by
//    the destructor. Move-only.
//  - StreamScratch: short-lived memory an op needs between two of its own kernels (MoE buckets,
//    split-K partials, sort buffers). It is stream-ordered (cudaMallocAsync / cudaFreeAsync on
//    the op's stream), so it is valid inside CUDA-graph capture (it becomes graph memory nodes)
//    and is never reused before the kernels that read it have run.
// Contract: sizes are in bytes; a zero-byte request yields a null pointer and succeeds.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "kernels/core/tensor.h"

namespace gptoss::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Allocates `bytes` of device memory, zero-filled when `zero` is set.
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes, bool zero = true);

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  // A view of the whole buffer with the given dtype and shape (caller keeps bytes consistent).
  TensorView View(DType dtype, std::initializer_list<int64_t> shape) const {
    return TensorView(data_, dtype, shape, Device::kCuda);
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class StreamScratch {
 public:
  explicit StreamScratch(cudaStream_t stream) : stream_(stream) {}
  ~StreamScratch();
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;

  // Returns `bytes` bytes (256-byte aligned) that stay valid until this object is destroyed.
  // Several calls are allowed; all are freed together, in stream order.
  absl::StatusOr<void*> Get(size_t bytes);
  template <typename T>
  absl::StatusOr<T*> GetAs(size_t count) {
    auto p = Get(count * sizeof(T));
    if (!p.ok()) return p.status();
    return static_cast<T*>(*p);
  }

 private:
  cudaStream_t stream_;
  void* ptrs_[16] = {};
  int count_ = 0;
};

}  // namespace gptoss::cuda
