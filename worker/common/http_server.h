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
//  - An asynchronous handler answers later, from any thread, through its HttpResponder: one
//    whole response, or a stream (chunked transfer encoding; close-delimited for HTTP/1.0) of
//    any number of writes that never block the writer (they queue and are sent in order, merged
//    while a write is in flight). While the answer is pending the connection is watched: a client
//    that closes it, or that does not read a write within `write_timeout`, fires the responder's
//    OnClientGone callback once (the request can then be cancelled), and what is still written
//    is dropped. Responders may outlive the server: they then do nothing.
//  - Start() fails with UNAVAILABLE naming the address when it cannot be bound; the destructor
//    stops accepting, closes every connection and joins the threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <utility>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"

namespace gptoss {

class HttpResponder;

class HttpServer {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  using Handler = std::function<Response(const Request&)>;
  using AsyncHandler = std::function<void(Request, std::shared_ptr<HttpResponder>)>;

  struct Options {
    std::string host = "127.0.0.1";  // an address or a host name that resolves to one
    int port = 0;                    // 0: any free port
    int threads = 2;
    size_t max_connections = 1024;
    size_t max_body_bytes = size_t{4} << 20;
    std::chrono::milliseconds header_timeout{10000};
    std::chrono::milliseconds idle_timeout{30000};
    std::chrono::milliseconds write_timeout{30000};
    // The body and content type of the server's own error answers (400, 413, 431 for a request
    // it cannot read); unset: plain text.
    std::function<std::pair<std::string, std::string>(unsigned status, const std::string& message)>
        error_body;
  };

  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options,
                                                           Handler handler);
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const Options& options,
                                                           AsyncHandler handler);
  ~HttpServer();
  // Stops accepting and waits up to `grace` for the answers in flight to be written (a drain at
  // shutdown: what the engine finished must reach its clients). Idle connections are left to
  // the destructor.
  void Drain(std::chrono::milliseconds grace);
  int port() const;
  size_t open_connections() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The answer to one request, given from any thread (thread-safe). Exactly one of Respond() or
// StartStream() takes effect; later calls of either are ignored, as is everything after Finish().
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  // A whole response (its keep-alive and version are set from the request).
  virtual void Respond(HttpServer::Response response) = 0;
  // Starts a streamed response: status and headers now, then Write()s, then Finish().
  virtual void StartStream(unsigned status, const std::string& content_type) = 0;
  virtual void Write(std::string data) = 0;
  virtual void Finish() = 0;
  // `callback` runs once, on a server thread, if the client goes away before the answer is
  // complete (at once if it already has). It must not block.
  virtual void OnClientGone(std::function<void()> callback) = 0;
};

// A plain-text response with `status` for `request` (keep-alive and version as asked).
HttpServer::Response TextResponse(const HttpServer::Request& request, unsigned status,
                                  std::string body,
                                  const std::string& content_type = "text/plain; charset=utf-8");

}  // namespace gptoss
