// CUDA-only pieces of gptoss-bench (compiled only when GPTOSS_HAVE_CUDA): the synthetic-weight
// fill kernel as a SyntheticFiller, and the HBM bandwidth probes
// (device-to-device copy and streaming read kernels). CUDA graphs come from CreateStepGraphs.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "tools/bench/bench_runner.h"
#include "worker/model/device_weights.h"

namespace gptoss::bench {

class CudaSupport {
 public:
  // `ops` must be a CudaOps (InvalidArgument otherwise).
  static absl::StatusOr<std::unique_ptr<CudaSupport>> Create(Ops* ops);
  ~CudaSupport();

  SyntheticFiller Filler();
  std::string device_name() const;
  double datasheet_bandwidth() const;  // bytes/s from the memory clock and bus width (0 if unknown)

  struct Bandwidth {
    double copy_bytes_per_s = 0;  // (read + write) bytes / s
    double read_bytes_per_s = 0;
  };
  absl::StatusOr<Bandwidth> MeasureBandwidth(size_t bytes, int iterations);

 private:
  struct Impl;
  explicit CudaSupport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gptoss::bench
