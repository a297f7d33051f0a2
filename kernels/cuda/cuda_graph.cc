#include "kernels/cuda/cuda_graph.h"

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "kernels/cuda/cuda_check.h"

namespace gptoss::cuda {

CudaGraphCache::~CudaGraphCache() { Clear(); }

void CudaGraphCache::Clear() {
  for (auto& [key, entry] : entries_)
    if (entry.exec != nullptr) cudaGraphExecDestroy(entry.exec);
  entries_.clear();
}

int CudaGraphCache::num_graphs() const {
  int n = 0;
  for (const auto& [key, entry] : entries_) n += entry.exec != nullptr;
  return n;
}

absl::Status CudaGraphCache::Capture(Entry& entry, const std::function<absl::Status()>& step) {
  const cudaStream_t stream = ops_->stream();
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const absl::Status body = step();
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  if (!body.ok() || end != cudaSuccess) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();  // clear the capture-invalidation error
    if (!body.ok()) return body;
    GPTOSS_CUDA_RETURN_IF_ERROR(end);
  }
  const cudaError_t inst =
      cudaGraphInstantiate(&entry.exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch);
  cudaGraphDestroy(graph);
  if (inst != cudaSuccess) {
    entry.exec = nullptr;
    GPTOSS_CUDA_RETURN_IF_ERROR(inst);
  }
  return absl::OkStatus();
}

absl::Status CudaGraphCache::Run(uint64_t key, const std::function<absl::Status()>& step) {
  Entry& entry = entries_[key];
  ++entry.calls;
  if (entry.eager_only || entry.calls == 1) return step();
  if (entry.exec == nullptr) {
    const absl::Status captured = Capture(entry, step);
    if (!captured.ok()) {
      entry.eager_only = true;
      last_capture_error_ = absl::Status(
          captured.code(), absl::StrCat("graph capture of key ", key, " failed, running eagerly: ",
                                        captured.message()));
      return step();  // nothing of the failed capture ran: run the step for real
    }
  }
  GPTOSS_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(entry.exec, ops_->stream()));
  return absl::OkStatus();
}

}  // namespace gptoss::cuda
