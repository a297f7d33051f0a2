#include "worker/common/metrics.h"

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "prometheus/gauge.h"
#include "prometheus/text_serializer.h"

#ifndef GPTOSS_VERSION
#define GPTOSS_VERSION "unknown"
#endif

namespace gptoss::metrics {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

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
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::shared_ptr<prometheus::Registry> registry;
  std::thread thread;
  tcp::endpoint bound;
  int port = 0;

  // Serves one connection: requests until the client closes, errs or idles past the timeout.
  void Serve(beast::tcp_stream& stream) {
    beast::flat_buffer buffer(8192);
    while (true) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(8192);
      parser.body_limit(0);
      stream.expires_after(std::chrono::seconds(5));
      beast::error_code ec;
      http::read(stream, buffer, parser, ec);
      if (ec) return;  // closed, timed out, or malformed: nothing more to say
      const auto& request = parser.get();
      http::response<http::string_body> response;
      response.version(request.version());
      response.keep_alive(request.keep_alive());
      response.set(http::field::server, "gptoss");
      if (request.method() != http::verb::get && request.method() != http::verb::head) {
        response.result(http::status::method_not_allowed);
        response.body() = "only GET /metrics\n";
      } else if (request.target() != "/metrics") {
        response.result(http::status::not_found);
        response.body() = "only /metrics is served here\n";
      } else {
        response.result(http::status::ok);
        response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        if (request.method() == http::verb::get)
          response.body() = prometheus::TextSerializer().Serialize(registry->Collect());
      }
      response.prepare_payload();
      stream.expires_after(std::chrono::seconds(10));
      http::write(stream, response, ec);
      if (ec || !response.keep_alive()) return;
    }
  }

  void Run() {
    while (true) {
      beast::error_code ec;
      tcp::socket socket(io);
      acceptor.accept(socket, ec);
      if (!acceptor.is_open()) return;  // closed by the destructor
      if (ec) continue;
      beast::tcp_stream stream(std::move(socket));
      Serve(stream);
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    }
  }
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry) {
  if (port < 0 || port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("metrics port ", port, " not in [0, 65535]"));
  auto impl = std::make_unique<Impl>();
  impl->registry = std::move(registry);
  const std::string address = absl::StrCat(host, ":", port);
  beast::error_code ec;
  // A host name (e.g. a pod's DNS name) resolves to the address of this machine to bind.
  tcp::resolver resolver(impl->io);
  const auto resolved = resolver.resolve(host, std::to_string(port),
                                         tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || resolved.empty())
    return absl::InvalidArgumentError(absl::StrCat("metrics host '", host, "' does not resolve: ",
                                                   ec ? ec.message() : "no address"));
  const tcp::endpoint endpoint = resolved.begin()->endpoint();
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", ec.message()));
  impl->bound = impl->acceptor.local_endpoint();
  impl->port = impl->bound.port();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::~MetricsServer() {
  beast::error_code ec;
  // Wakes the blocked accept (a connection being served finishes within its timeouts).
  impl_->acceptor.cancel(ec);
  impl_->acceptor.close(ec);
  {
    tcp::socket poke(impl_->io);
    poke.connect(tcp::endpoint(impl_->bound.address().is_unspecified()
                                   ? asio::ip::make_address(impl_->bound.address().is_v6() ? "::1"
                                                                                         : "127.0.0.1")
                                   : impl_->bound.address(),
                               static_cast<unsigned short>(impl_->port)),
                 ec);
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

int MetricsServer::port() const { return impl_->port; }

}  // namespace gptoss::metrics
