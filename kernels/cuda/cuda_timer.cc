#include "kernels/cuda/cuda_timer.h"

#include <cuda_runtime.h>

#include <vector>

#include "kernels/core/status.h"
#include "kernels/cuda/cuda_check.h"

namespace gptoss::cuda {
namespace {

class CudaTimer final : public OpTimer {
 public:
  explicit CudaTimer(const LaunchContext& ctx) : ctx_(ctx) {}
  ~CudaTimer() override {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
  }

  absl::StatusOr<int> Mark() override {
    if (used_ == static_cast<int>(events_.size())) {
      cudaEvent_t e;
      GPTOSS_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
      events_.push_back(e);
    }
    GPTOSS_CUDA_RETURN_IF_ERROR(cudaEventRecord(events_[used_], ctx_.stream));
    return used_++;
  }

  absl::StatusOr<double> Seconds(int from, int to) override {
    GPTOSS_CHECK_ARG(from >= 0 && to >= 0 && from < used_ && to < used_, "OpTimer: marks ", from,
                     " and ", to, " of ", used_);
    float ms = 0;
    GPTOSS_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, events_[from], events_[to]));
    return ms / 1e3;
  }

  absl::Status HoldDevice(double seconds) override {
    return LaunchHoldKernel(ctx_, static_cast<int64_t>(seconds * 1e9));
  }

  void Reset() override { used_ = 0; }

 private:
  LaunchContext ctx_;
  std::vector<cudaEvent_t> events_;
  int used_ = 0;
};

}  // namespace

std::unique_ptr<OpTimer> CreateCudaTimer(const LaunchContext& ctx) {
  return std::make_unique<CudaTimer>(ctx);
}

}  // namespace gptoss::cuda
