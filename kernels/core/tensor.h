// TensorView: a non-owning, row-major (contiguous) view of device or host memory.
// HostTensor: an owning host buffer, for tests, the CPU engine and the checkpoint generator.
// Contract: views never own; whoever allocates outlives every view of it. Shapes are at most
// rank 4; a view is always contiguous (strides are implied by the shape).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/core/dtype.h"

namespace gptoss {

enum class Device : uint8_t { kCpu, kCuda };

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Device device = Device::kCpu;
  int rank = 0;
  std::array<int64_t, 4> dims{1, 1, 1, 1};

  TensorView() = default;
  TensorView(void* d, DType t, std::initializer_list<int64_t> shape, Device dev = Device::kCpu)
      : data(d), dtype(t), device(dev) {
    for (int64_t s : shape) dims[rank++] = s;
  }

  int64_t dim(int i) const { return dims[i < 0 ? rank + i : i]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  size_t bytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype); }
  bool empty() const { return data == nullptr; }
  template <typename T>
  T* as() const { return static_cast<T*>(data); }

  // Row `i` of the leading dimension, as a view of rank-1 fewer (rank-1 views stay rank 1).
  TensorView Row(int64_t i) const {
    TensorView r = *this;
    const int64_t row_elems = rank > 1 ? numel() / dims[0] : 1;
    r.data = static_cast<char*>(data) + i * row_elems * DTypeSize(dtype);
    if (rank > 1) {
      for (int k = 1; k < rank; ++k) r.dims[k - 1] = dims[k];
      r.dims[rank - 1] = 1;
      --r.rank;
    } else {
      r.dims[0] = 1;
    }
    return r;
  }
  // Rows [first, first + count) of the leading dimension, as a view (caller checks bounds).
  TensorView Rows(int64_t first, int64_t count) const {
    TensorView r = *this;
    int64_t row_elems = 1;
    for (int k = 1; k < rank; ++k) row_elems *= dims[k];
    r.data = static_cast<char*>(data) + first * row_elems * static_cast<int64_t>(DTypeSize(dtype));
    r.dims[0] = count;
    return r;
  }
  // The same bytes with a new shape of equal element count (caller checks counts).
  TensorView Reshaped(std::initializer_list<int64_t> shape) const {
    TensorView r(data, dtype, shape, device);
    return r;
  }
  std::string ShapeString() const {
    // StrCat rather than "[" + string: GCC 12 warns (-Wrestrict) on that inlined concatenation.
    return absl::StrCat("[", absl::StrJoin(dims.begin(), dims.begin() + rank, ","), "]");
  }
};

class HostTensor {
 public:
  HostTensor() = default;
  HostTensor(DType t, std::initializer_list<int64_t> shape) : view_(nullptr, t, shape) {
    storage_.resize((view_.bytes() + 7) / 8 + 1);
    view_.data = storage_.data();
  }
  HostTensor(HostTensor&&) = default;
  HostTensor& operator=(HostTensor&&) = default;

  TensorView& view() { return view_; }
  const TensorView& view() const { return view_; }
  template <typename T>
  T* as() const { return view_.as<T>(); }
  int64_t numel() const { return view_.numel(); }

 private:
  std::vector<uint64_t> storage_;  // 8-byte aligned backing store
  TensorView view_;
};

}  // namespace gptoss
