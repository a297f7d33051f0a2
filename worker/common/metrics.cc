#include "worker/common/metrics.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "boost/beast/http/verb.hpp"
#include "prometheus/gauge.h"
#include "prometheus/text_serializer.h"

#ifndef GPTOSS_VERSION
#define GPTOSS_VERSION "unknown"
#endif

namespace gptoss::metrics {
namespace {

prometheus::Histogram::BucketBoundaries Doubling(double first, int count) {
  prometheus::Histogram::BucketBoundaries b;
  for (int i = 0; i < count; ++i) b.push_back(first * static_cast<double>(1u << i));
  return b;
}

}  // namespace

prometheus::Histogram::BucketBoundaries RequestBuckets() { return Doubling(0.001, 21); }
prometheus::Histogram::BucketBoundaries StepBuckets() { return Doubling(0.00005, 20); }

void AddBuildInfo(prometheus::Registry& registry, const std::string& component,
                  const std::string& backend) {
  prometheus::BuildGauge()
      .Name("gptoss_build_info")
      .Help("Build of this gptoss process (always 1)")
      .Register(registry)
      .Add({{"component", component}, {"version", GPTOSS_VERSION}, {"backend", backend}})
      .Set(1);
}

struct MetricsServer::Impl {
  std::shared_ptr<prometheus::Registry> registry;
  std::unique_ptr<HttpServer> server;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry) {
  if (port < 0 || port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("metrics port ", port, " not in [0, 65535]"));
  auto impl = std::make_unique<Impl>();
  impl->registry = std::move(registry);
  HttpServer::Options options;
  options.host = host;
  options.port = port;
  options.threads = 1;           // scrapes are rare and cheap
  options.max_connections = 64;  // a scraper or two, plus room for probes
  options.max_body_bytes = 0;
  options.header_timeout = std::chrono::seconds(5);
  options.idle_timeout = std::chrono::seconds(30);
  options.write_timeout = std::chrono::seconds(10);
  prometheus::Registry* registry_ptr = impl->registry.get();
  auto server = HttpServer::Start(options, [registry_ptr](const HttpServer::Request& request) {
    namespace http = boost::beast::http;
    if (request.method() != http::verb::get && request.method() != http::verb::head)
      return TextResponse(request, 405, "only GET /metrics\n");
    if (request.target() != "/metrics")
      return TextResponse(request, 404, "only /metrics is served here\n");
    return MetricsResponse(request, *registry_ptr);
  });
  if (!server.ok())
    return absl::Status(server.status().code(),
                        absl::StrCat("metrics: ", server.status().message()));
  impl->server = std::move(*server);
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::~MetricsServer() = default;

HttpServer::Response MetricsResponse(const HttpServer::Request& request,
                                     prometheus::Registry& registry) {
  return TextResponse(request, 200,
                      request.method() == boost::beast::http::verb::get
                          ? prometheus::TextSerializer().Serialize(registry.Collect())
                          : std::string(),
                      "text/plain; version=0.0.4; charset=utf-8");
}

int MetricsServer::port() const { return impl_->server->port(); }


}  // namespace gptoss::metrics
