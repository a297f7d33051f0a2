#include "kernels/cuda/device_buffer.h"

#include "kernels/cuda/cuda_check.h"

namespace gptoss::cuda {

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);  // error ignored: nothing useful to do in a destructor
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes, bool zero) {
  DeviceBuffer buffer;
  if (bytes == 0) return buffer;
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMalloc(&buffer.data_, bytes));
  buffer.bytes_ = bytes;
  if (zero) {
    GPTOSS_CUDA_RETURN_IF_ERROR(cudaMemset(buffer.data_, 0, bytes));
    // cudaMemset runs on the legacy stream, which does not order with non-blocking streams.
    GPTOSS_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  }
  return buffer;
}

StreamScratch::~StreamScratch() {
  for (int i = 0; i < count_; ++i) cudaFreeAsync(ptrs_[i], stream_);
}

absl::StatusOr<void*> StreamScratch::Get(size_t bytes) {
  if (bytes == 0) return nullptr;
  if (count_ == static_cast<int>(sizeof(ptrs_) / sizeof(ptrs_[0])))
    return absl::InternalError("StreamScratch: too many allocations in one op");
  void* p = nullptr;
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaMallocAsync(&p, bytes, stream_));
  ptrs_[count_++] = p;
  return p;
}

}  // namespace gptoss::cuda
