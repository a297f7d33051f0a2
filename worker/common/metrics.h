// The Prometheus plumbing both services share (prometheus-cpp, Debian prometheus-cpp-dev):
// bucket layouts, the gptoss_build_info gauge, and MetricsServer, which serves a registry at
// http://HOST:PORT/metrics (--metrics-port on every binary).
//
// MetricsServer is a small Boost.Beast HTTP/1.1 server, not prometheus-cpp's civetweb exposer:
// civetweb starts its threads with fixed 100 KiB stacks, and a process that links cuBLASLt
// (every GPU build of the services) needs more than that for static TLS alone (cublasLt's TLS
// segment is 94 KB), so civetweb cannot start a single thread there.
//
// Conventions of every gptoss metric: the gptoss_ prefix, base units (_seconds, _bytes), counters
// end in _total, label values come from small fixed sets (rpc, finish reason, gRPC code, pool,
// rank, layer/expert — the only large one, bounded by the model: see worker_metrics.h).
// Recording is lock-free for counters and gauges (atomics); histograms take a short per-metric
// lock inside prometheus-cpp. Nothing records under the engine's or the scheduler's locks.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/histogram.h"
#include "worker/common/http_server.h"
#include "prometheus/registry.h"

namespace gptoss::metrics {

// Request latencies of LLM serving (time to first token, end to end, queue): 1 ms .. ~17 min,
// about x2 per bucket.
prometheus::Histogram::BucketBoundaries RequestBuckets();
// Per-step and per-token latencies (steps, forward passes, collectives, inter-token gaps):
// 50 us .. ~26 s, x2 per bucket.
prometheus::Histogram::BucketBoundaries StepBuckets();

// gptoss_build_info{component, version, backend} = 1.
void AddBuildInfo(prometheus::Registry& registry, const std::string& component,
                  const std::string& backend);

// The answer to GET (or HEAD) /metrics: `registry` in the Prometheus text format (0.0.4).
HttpServer::Response MetricsResponse(const HttpServer::Request& request,
                                     prometheus::Registry& registry);

// Contract: GET /metrics answers 200 with the Prometheus text format (0.0.4); anything else 404
// (other paths) or 405 (other methods). Served by HttpServer (http_server.h: its bounds) on one
// thread, at most 64 connections, 5 s to send a request's headers, no request bodies.
class MetricsServer {
 public:
  // Serves `registry` at http://host:port/metrics; port 0 picks a free one. UNAVAILABLE (naming
  // the address) when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsServer();  // stops serving
  int port() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gptoss::metrics
