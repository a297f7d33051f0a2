#include "kernels/cuda/cuda_device.h"

#include <cuda_runtime.h>

#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_check.h"

namespace gptoss::cuda {

absl::Status CudaDeviceAvailable() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return absl::UnavailableError(absl::StrCat("no usable CUDA device: ", cudaGetErrorName(err),
                                               " (", cudaGetErrorString(err), ")"));
  }
  if (count == 0) return absl::UnavailableError("no usable CUDA device: device count is 0");
  GPTOSS_ASSIGN_OR_RETURN(const DeviceInfo info, GetDeviceInfo(0));
  // sm_90a code (wgmma/TMA) runs on compute capability 9.0 only: a newer GPU would fail every
  // launch with "no kernel image", so it is refused here with the reason.
  if (info.sm_major != 9 || info.sm_minor != 0) {
    return absl::UnavailableError(absl::StrCat(
        "CUDA device 0 (", info.name, ") has compute capability ", info.sm_major, ".",
        info.sm_minor, "; this build targets sm_90a (Hopper, 9.0) only"));
  }
  return absl::OkStatus();
}

absl::StatusOr<DeviceInfo> GetDeviceInfo(int ordinal) {
  cudaDeviceProp prop{};
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, ordinal));
  DeviceInfo info;
  info.ordinal = ordinal;
  info.name = prop.name;
  info.sm_major = prop.major;
  info.sm_minor = prop.minor;
  info.num_sms = prop.multiProcessorCount;
  info.total_memory = static_cast<int64_t>(prop.totalGlobalMem);
  // CUDA 13 removed memoryClockRate from cudaDeviceProp; the attribute still answers.
  int clock_khz = 0, bus_width = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, ordinal) != cudaSuccess) {
    cudaGetLastError();
    clock_khz = 0;
  }
  if (cudaDeviceGetAttribute(&bus_width, cudaDevAttrGlobalMemoryBusWidth, ordinal) !=
      cudaSuccess) {
    cudaGetLastError();
    bus_width = 0;
  }
  info.memory_clock_khz = clock_khz;
  info.memory_bus_width = bus_width;
  return info;
}

absl::Status AllowLargeSharedMemory(const void* kernel, int bytes) {
  static std::mutex mu;
  static std::set<const void*> done;
  std::lock_guard<std::mutex> lock(mu);
  if (done.count(kernel)) return absl::OkStatus();
  GPTOSS_CUDA_RETURN_IF_ERROR(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done.insert(kernel);
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
