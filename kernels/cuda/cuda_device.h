// Device discovery for the CUDA backend. Contract: never aborts on a machine without a GPU or
// without a driver; the answer is a Status whose message says why (used by CreateOps("auto"),
// by the GPU tests to skip with a printed reason, and by gptoss-bench).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace gptoss::cuda {

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int sm_major = 0;
  int sm_minor = 0;
  int num_sms = 0;
  int64_t total_memory = 0;
  int memory_clock_khz = 0;   // 0 when the runtime no longer reports it
  int memory_bus_width = 0;   // bits
  // 2 * clock * bus width / 8: the datasheet HBM bandwidth in bytes/s (0 when unknown).
  double theoretical_bandwidth() const {
    return 2.0 * memory_clock_khz * 1e3 * (memory_bus_width / 8.0);
  }
};

// OK when at least one CUDA device of compute capability >= 9.0 (the only arch we build for)
// can be used; Unavailable naming the reason otherwise.
absl::Status CudaDeviceAvailable();

// Opts `kernel` (a __global__ function's address) into `bytes` of dynamic shared memory, once per
// kernel (thread-safe): without it static plus dynamic shared memory must fit in 48 KB.
absl::Status AllowLargeSharedMemory(const void* kernel, int bytes);

absl::StatusOr<DeviceInfo> GetDeviceInfo(int ordinal);

}  // namespace gptoss::cuda
