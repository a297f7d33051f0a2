// The coordinator process: one gRPC server on one port carrying
//  - gptoss.v1.Inference (public API), gptoss.v1.Coordinator (worker registration),
//  - grpc.health.v1.Health: NOT_SERVING until every worker is ready (and again while draining or
//    after a worker is lost), SERVING otherwise — for "" and for "gptoss.v1.Inference",
//  - server reflection (grpc.reflection.v1alpha), so grpcurl & co. work without the .proto.
// Used by gptoss-coordinator / `gptoss coordinator` and in-process by `gptoss serve`.
//
// Flags (RunCoordinatorMain): --model DIR (config.json; required) [--tokenizer PATH]
//   [--host H=0.0.0.0] [--port P=50051, 0 = any free port] [--port-file FILE] [--world-size N=1]
//   [--block-size 16] [--kv-full-blocks N --kv-sliding-blocks N] [--max-num-seqs 64]
//   [--max-batch-tokens 2048] [--max-waiting 256] [--drain-grace-s 30] [--ready-timeout-s 1800]
//   [--log-steps]
// SIGTERM/SIGINT: health turns NOT_SERVING, new requests get UNAVAILABLE, in-flight requests
// may finish for --drain-grace-s (the rest end with FINISH_REASON_CANCELLED), the workers' step
// streams are closed (they exit), then the process exits 0.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/engine_loop.h"
#include "coordinator/inference_service.h"
#include "coordinator/worker_pool.h"
#include "grpcpp/grpcpp.h"

namespace gptoss {

struct CoordinatorOptions {
  std::string model_dir;
  std::string tokenizer_path;  // empty: the o200k_base copy in this repository
  std::string host = "0.0.0.0";
  int port = 50051;
  std::string port_file;  // written with the bound port once listening
  int world_size = 1;
  int block_size = 16;
  int kv_full_blocks = 0;  // with kv_sliding_blocks: fixed KV geometry
  int kv_sliding_blocks = 0;
  int max_num_seqs = 64;
  int max_batch_tokens = 2048;
  int max_waiting = 256;
  absl::Duration drain_grace = absl::Seconds(30);
  absl::Duration ready_timeout = absl::Minutes(30);
  bool log_steps = false;
};

absl::StatusOr<CoordinatorOptions> ParseCoordinatorFlags(int argc, char** argv);

class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);
  ~Coordinator();

  int port() const { return port_; }
  // Where local clients and workers reach it (loopback when bound to all interfaces).
  std::string local_address() const;
  // Drain (see above) and stop everything. Idempotent.
  void Shutdown();

 private:
  explicit Coordinator(const CoordinatorOptions& options) : options_(options) {}
  // Thread: waits until the first world fixes the KV geometry, then starts the engine.
  void StartEngineWhenReady();
  void UpdateHealth();

  const CoordinatorOptions options_;
  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<harmony::HarmonyRenderer> renderer_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::thread starter_;

  std::mutex mu_;
  std::shared_ptr<EngineLoop> engine_;
  bool draining_ = false;
  bool shut_down_ = false;
};

int RunCoordinatorMain(int argc, char** argv);

}  // namespace gptoss
