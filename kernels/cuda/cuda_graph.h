// CudaGraphCache: CUDA-graph capture and replay of a step (typically Transformer::Forward for a
// decode batch) per fixed shape key.
//
// Contract:
//  - `step` only enqueues work on the CudaOps stream, reading its inputs from device buffers
//    whose addresses do not change between calls of the same key (the caller copies new token
//    ids / positions / block tables into the same buffers before each Run).
//  - First call of a key: `step` runs eagerly (warm-up: the transformer sizes its scratch and
//    cuBLASLt builds its plans, neither of which may happen under capture). Second call: the
//    step is captured, instantiated and launched. Later calls: the graph is replayed.
//  - If capture fails (an op allocated, synchronized or copied from the host inside `step`),
//    the key is marked eager-only, the step is re-run eagerly and the reason is kept in
//    last_capture_error(): correctness never depends on graphs.
//  - Results are stream-ordered like any other op; call CudaOps::Synchronize or CopyToHost.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>

#include "absl/status/status.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/step_graphs.h"

namespace gptoss::cuda {

class CudaGraphCache final : public StepGraphs {
 public:
  explicit CudaGraphCache(CudaOps* ops) : ops_(ops) {}
  ~CudaGraphCache() override;
  CudaGraphCache(const CudaGraphCache&) = delete;
  CudaGraphCache& operator=(const CudaGraphCache&) = delete;

  absl::Status Run(uint64_t key, const std::function<absl::Status()>& step) override;

  int num_graphs() const override;
  const absl::Status& last_capture_error() const { return last_capture_error_; }
  std::string capture_error() const override {
    return last_capture_error_.ok() ? std::string() : std::string(last_capture_error_.message());
  }
  void Clear() override;

 private:
  struct Entry {
    int calls = 0;
    bool eager_only = false;
    cudaGraphExec_t exec = nullptr;
  };
  absl::Status Capture(Entry& entry, const std::function<absl::Status()>& step);

  CudaOps* ops_;
  std::map<uint64_t, Entry> entries_;
  absl::Status last_capture_error_;
};

}  // namespace gptoss::cuda
