// HttpServer: a small asynchronous HTTP/1.1 server (Boost.Beast over Asio, Debian libboost-dev)
// for the services' plain-HTTP endpoints: /metrics today, the OpenAI-compatible API next.
// Why Beast and not prometheus-cpp's civetweb exposer: see worker/common/metrics.h.
//
// Contract (what a hostile client gets):
//  - At most `max_connections` open connections; one more is answered 503 and closed at once.
//  - A request's headers must arrive within `header_timeout` (slowloris is cut off), headers are
//    at most 8 KiB (431), a body at most `max_body_bytes` (413); malformed requests get 400 and
//    the connection is closed. An idle keep-alive connection closes after `idle_timeout`; a
//    response that the client does not read within `write_timeout` is dropped.
//  - The handler runs on one of `threads` server threads and must not block for long; every
//    request gets exactly one response (a handler that throws answers 500).
//  - Start() fails with UNAVAILABLE naming the address when it cannot be bound; the destructor
//    stops accepting, closes every connection and joins the threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"

namespace gptoss {

class HttpServer {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  using Handler = std::function<Response(const Request&)>;

  struct Options {
    std::string host = "127.0.0.1";  // an address or a host name that resolves to one
    int port = 0;                    // 0: any free port
    int threads = 2;
    size_t max_connections = 1024;
    size_t max_body_bytes = size_t{4} << 20;
    std::chrono::milliseconds header_timeout{10000};
    std::chrono::milliseconds idle_timeout{30000};
    std::chrono::milliseconds write_timeout{30000};
  };

  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options,
                                                           Handler handler);
  ~HttpServer();
  int port() const;
  size_t open_connections() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A plain-text response with `status` for `request` (keep-alive and version as asked).
HttpServer::Response TextResponse(const HttpServer::Request& request, unsigned status,
                                  std::string body,
                                  const std::string& content_type = "text/plain; charset=utf-8");

}  // namespace gptoss
