// The coordinator process: two gRPC listeners.
//  - The public port: gptoss.v1.Inference (optionally TLS, optionally API keys), plus
//    grpc.health.v1.Health (NOT_SERVING until every worker is ready, and again while draining or
//    after a worker is lost; for "" and "gptoss.v1.Inference") and server reflection, both open.
//  - The internal port: gptoss.v1.Coordinator (worker registration and the rendezvous store),
//    every call authenticated by the cluster secret (worker/common/internal_plane.h), optionally mTLS.
//    The public port never serves it.
// Used by gptoss-coordinator / `gptoss coordinator` and in-process by `gptoss serve`.
//
// Flags (RunCoordinatorMain): --model DIR (config.json; required) [--tokenizer PATH]
//   [--host H=0.0.0.0] [--port P=50051, 0 = any free port] [--tls-cert F --tls-key F
//   [--tls-client-ca F]] [--api-key-file F]
//   [--internal-host H=--host] [--internal-port P=50052] [--cluster-secret-file F (or
//   $GPTOSS_CLUSTER_SECRET)] [--internal-tls-cert F --internal-tls-key F --internal-tls-ca F]
//   [--port-file FILE (public port, internal port[, metrics port])] [--world-size N=1]
//   [--block-size 16] [--kv-full-blocks N --kv-sliding-blocks N] [--max-num-seqs 64]
//   [--stream-interval 1]
//   [--max-batch-tokens 2048] [--max-waiting 256] [--drain-grace-s 30] [--ready-timeout-s 1800]
//   [--worker-timeout-s 5] [--step-timeout-s 300] [--metrics-port P [--metrics-host H]]
//   [--http-port P [--http-host H=--host] [--served-model-name NAME]] [--log-steps]
//   [--no-overlap (one step at a time: EngineOptions::overlap)]
// --metrics-port serves Prometheus metrics (coordinator/serving_metrics.h) at
// http://H:P/metrics, H defaulting to the internal plane's host (an ops network, not the
// public one); the port file then gets a third line with that port.
// --http-port serves the OpenAI-compatible HTTP API (coordinator/openai/openai_api.h) with the
// same API keys, plus /health and /metrics; the port file's fourth line is its port (-1 when
// off, as the third is for metrics). --served-model-name is the model id both APIs report and
// the HTTP API expects in "model" (default: the model directory's name).
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
#include "coordinator/openai/openai_api.h"
#include "coordinator/serving_metrics.h"
#include "worker/common/metrics.h"
#include "coordinator/worker_pool.h"
#include "grpcpp/grpcpp.h"

namespace gptoss {

struct CoordinatorOptions {
  std::string model_dir;
  std::string tokenizer_path;  // empty: the o200k_base copy in this repository
  std::string host = "0.0.0.0";
  int port = 50051;
  // Once listening: "<public port>\n<internal port>\n<metrics port>\n<HTTP port>\n" (-1: off).
  std::string port_file;
  std::string tls_cert, tls_key, tls_client_ca;  // public TLS (PEM files); client CA: mTLS
  std::string api_key_file;                      // empty: no API keys
  std::string internal_host;                     // empty: the same as host
  int internal_port = 50052;
  InternalPlaneFiles plane_files;
  std::optional<InternalPlane> plane;  // set: use it instead of plane_files (gptoss serve)
  absl::Duration worker_timeout = absl::Seconds(5);
  absl::Duration step_timeout = absl::Seconds(300);
  int world_size = 1;
  int block_size = 16;
  int kv_full_blocks = 0;  // with kv_sliding_blocks: fixed KV geometry
  int kv_sliding_blocks = 0;
  int max_num_seqs = 64;
  int max_batch_tokens = 2048;
  int max_waiting = 256;
  int stream_interval = 1;  // tokens per stream write after the first (ServingLimits)
  absl::Duration drain_grace = absl::Seconds(30);
  absl::Duration ready_timeout = absl::Minutes(30);
  bool log_steps = false;
  bool overlap = true;  // plan step N+1 while step N runs (EngineOptions::overlap)
  std::string help;          // set: --help was given; print it and exit
  int metrics_port = -1;     // -1: no /metrics endpoint; 0: any free port
  std::string metrics_host;  // empty: the internal plane's host
  int http_port = -1;        // -1: no HTTP API; 0: any free port
  // http_port is a default, not the user's choice: when it is taken, take a free port instead
  // (logged, and in the port file) rather than failing (gptoss serve's 8000).
  bool http_port_fallback = false;
  std::string http_host;     // empty: the same as host
  std::string served_model_name;  // empty: the model directory's name
};

absl::StatusOr<CoordinatorOptions> ParseCoordinatorFlags(int argc, char** argv);

class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);
  ~Coordinator();

  int port() const { return port_; }
  int internal_port() const { return internal_port_; }
  int metrics_port() const { return metrics_server_ ? metrics_server_->port() : -1; }
  int http_port() const { return http_server_ ? http_server_->port() : -1; }
  // Where local clients reach the public API, and local workers the internal plane (loopback
  // when bound to all interfaces).
  std::string local_address() const;
  std::string local_internal_address() const;
  // Drain (see above) and stop everything. Idempotent.
  void Shutdown();
  // A worker process that this process supervises exited (gptoss serve).
  void WorkerExited(const std::string& what) { pool_->WorkerExited(what); }

 private:
  explicit Coordinator(const CoordinatorOptions& options) : options_(options) {}
  // Thread: waits until the first world fixes the KV geometry, then starts the engine.
  void StartEngineWhenReady();
  void UpdateHealth();
  // The workers are ready and the engine runs (what /health and gRPC health report).
  bool Serving();

  const CoordinatorOptions options_;
  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<harmony::HarmonyRenderer> renderer_;
  // Declared before the pool and the service, which record into it, so that it outlives them.
  std::unique_ptr<ServingMetrics> metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> internal_server_;
  // The HTTP API: its server is declared after it (destroyed first: the handler points at it).
  std::unique_ptr<openai::OpenAiApi> openai_;
  std::unique_ptr<HttpServer> http_server_;
  int port_ = 0;
  int internal_port_ = 0;
  std::thread starter_;

  std::mutex mu_;
  std::shared_ptr<EngineLoop> engine_;
  bool draining_ = false;
  bool shut_down_ = false;
};

int RunCoordinatorMain(int argc, char** argv);

}  // namespace gptoss
