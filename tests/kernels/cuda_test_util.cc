#include "tests/kernels/cuda_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace gptoss::testing {

void CudaOpsTest::SetUp() {
  GPTOSS_REQUIRE_GPU();
  auto ops = cuda::CudaOps::Create(0);
  ASSERT_TRUE(ops.ok()) << ops.status();
  gpu_ = std::move(ops).value();
}

std::vector<float> RoundBf16(std::vector<float> v) {
  for (float& x : v) x = Bf16ToF32(F32ToBf16(x));
  return v;
}

std::vector<float> RandomVector(size_t n, std::mt19937& gen, float scale) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return RoundBf16(std::move(v));
}

namespace {

DeviceTensor Upload(cuda::CudaOps& ops, const void* data, DType dtype,
                    std::initializer_list<int64_t> shape) {
  DeviceTensor t;
  t.view = TensorView(nullptr, dtype, shape, Device::kCuda);
  auto memory = ops.Allocate(std::max<size_t>(t.view.bytes(), 1));
  EXPECT_TRUE(memory.ok()) << memory.status();
  if (!memory.ok()) return t;
  t.memory = *memory;
  t.view.data = t.memory.get();
  if (data != nullptr) {
    const absl::Status st = ops.CopyFromHost(t.view.data, data, t.view.bytes());
    EXPECT_TRUE(st.ok()) << st;
  }
  return t;
}

}  // namespace

DeviceTensor ToDevice(cuda::CudaOps& ops, const std::vector<float>& values, DType dtype,
                      std::initializer_list<int64_t> shape) {
  TensorView probe(nullptr, dtype, shape);
  EXPECT_EQ(static_cast<int64_t>(values.size()), probe.numel());
  if (dtype == DType::kBF16) {
    std::vector<uint16_t> bits(values.size());
    for (size_t i = 0; i < values.size(); ++i) bits[i] = F32ToBf16(values[i]);
    return Upload(ops, bits.data(), dtype, shape);
  }
  return Upload(ops, values.data(), dtype, shape);
}

DeviceTensor ToDeviceI32(cuda::CudaOps& ops, const std::vector<int32_t>& values,
                         std::initializer_list<int64_t> shape) {
  return Upload(ops, values.data(), DType::kI32, shape);
}

DeviceTensor ToDeviceU8(cuda::CudaOps& ops, const std::vector<uint8_t>& values,
                        std::initializer_list<int64_t> shape) {
  return Upload(ops, values.data(), DType::kU8, shape);
}

DeviceTensor DeviceZeros(cuda::CudaOps& ops, DType dtype, std::initializer_list<int64_t> shape) {
  return Upload(ops, nullptr, dtype, shape);  // Allocate zero-fills
}

DeviceTensor DevicePoisoned(cuda::CudaOps& ops, DType dtype, std::initializer_list<int64_t> shape) {
  const TensorView shape_only(nullptr, dtype, shape, Device::kCuda);
  const std::vector<uint8_t> bytes(std::max<size_t>(shape_only.bytes(), 1), 0xFF);
  return Upload(ops, bytes.data(), dtype, shape);
}

std::vector<float> ToHost(cuda::CudaOps& ops, const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  if (t.dtype == DType::kBF16) {
    std::vector<uint16_t> bits(out.size());
    const absl::Status st = ops.CopyToHost(bits.data(), t.data, bits.size() * 2);
    EXPECT_TRUE(st.ok()) << st;
    for (size_t i = 0; i < out.size(); ++i) out[i] = Bf16ToF32(bits[i]);
  } else {
    EXPECT_EQ(t.dtype, DType::kF32);
    const absl::Status st = ops.CopyToHost(out.data(), t.data, out.size() * 4);
    EXPECT_TRUE(st.ok()) << st;
  }
  return out;
}

std::vector<int32_t> ToHostI32(cuda::CudaOps& ops, const TensorView& t) {
  std::vector<int32_t> out(static_cast<size_t>(t.numel()));
  const absl::Status st = ops.CopyToHost(out.data(), t.data, out.size() * 4);
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

HostTensor HostF32(const std::vector<float>& values, std::initializer_list<int64_t> shape) {
  HostTensor t(DType::kF32, shape);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  std::memcpy(t.as<float>(), values.data(), std::min<size_t>(values.size(), t.numel()) * 4);
  return t;
}

HostTensor HostI32(const std::vector<int32_t>& values, std::initializer_list<int64_t> shape) {
  HostTensor t(DType::kI32, shape);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  std::memcpy(t.as<int32_t>(), values.data(), std::min<size_t>(values.size(), t.numel()) * 4);
  return t;
}

HostTensor HostU8(const std::vector<uint8_t>& values, std::initializer_list<int64_t> shape) {
  HostTensor t(DType::kU8, shape);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  std::memcpy(t.as<uint8_t>(), values.data(), std::min<size_t>(values.size(), t.numel()));
  return t;
}

std::vector<float> HostValues(const HostTensor& t) {
  return std::vector<float>(t.as<float>(), t.as<float>() + t.numel());
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& ref, double rtol,
                 double atol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  double max_ref = 0;
  for (float r : ref) max_ref = std::max(max_ref, std::fabs(static_cast<double>(r)));
  const double bound = atol + rtol * max_ref;
  double worst = 0;
  size_t worst_i = 0, bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
    if (!(d <= bound)) ++bad;  // NaN counts as bad
    if (!(d <= worst)) {
      worst = d;
      worst_i = i;
    }
  }
  std::printf("[%s] %zu values, max|d| = %.3g (bound %.3g, max|ref| %.3g)\n", what.c_str(),
              got.size(), worst, bound, max_ref);
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " values out of bounds; worst at " << worst_i << ": got " << got[worst_i]
                     << ", ref " << ref[worst_i];
}

}  // namespace gptoss::testing
