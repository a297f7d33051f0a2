#include "worker/common/http_server.h"

#include <atomic>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/write.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace gptoss {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kMaxHeaderBytes = 8192;

}  // namespace

// What the server and its responders share: a responder may post work to the server only while
// it is open (the server's destructor closes it before it destroys the io_context).
struct HttpControl {
  std::mutex mu;
  bool open = true;
  std::atomic<int> unanswered{0};  // requests handed to the handler whose answer is not out yet
};

// Member order matters at destruction: the acceptor goes first, then the io_context, whose
// destructor destroys the sessions still queued in it (they decrement `connections`, declared
// before it, so still alive). Sessions point at the Impl raw: it outlives the io_context.
struct HttpServer::Impl {
  struct Session;

  // The HttpResponder of one request. It holds its session weakly (the session belongs to the
  // io_context's handlers). Calls queue here, in order, and one drain at a time runs them on the
  // session's strand (two posts to the io_context could otherwise run out of order on two
  // threads); they are dropped once the session has finished or lost this request.
  struct Exchange final : HttpResponder, std::enable_shared_from_this<Exchange> {
    using Op = std::function<void(Session&)>;
    Exchange(Impl* server, std::weak_ptr<Session> session)
        : server(server), control(server->control), session(std::move(session)) {
      control->unanswered++;
    }
    ~Exchange() { Settle(); }
    void Settle() {  // once, when the answer is out or can no longer go out
      if (!settled.exchange(true)) control->unanswered--;
    }

    void Respond(Response response) override {
      auto shared = std::make_shared<Response>(std::move(response));
      Post([shared](Session& s) { s.DoRespond(std::move(*shared)); });
    }
    void StartStream(unsigned status, const std::string& content_type) override {
      Post([status, content_type](Session& s) { s.DoStartStream(status, content_type); });
    }
    void Write(std::string data) override {
      auto shared = std::make_shared<std::string>(std::move(data));
      Post([shared](Session& s) { s.DoWrite(std::move(*shared)); });
    }
    void Finish() override {
      Post([](Session& s) { s.DoFinish(); });
    }
    void OnClientGone(std::function<void()> callback) override {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!gone) {
          gone_callback = std::move(callback);
          return;
        }
      }
      callback();
    }
    // The session saw the client go (or died) before the answer was complete.
    void MarkGone() {
      std::function<void()> callback;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (gone) return;
        gone = finished = true;
        ops.clear();
        callback.swap(gone_callback);
      }
      Settle();
      if (callback) callback();
    }
    // The answer is complete: later calls are dropped.
    void MarkFinished() {
      {
        std::lock_guard<std::mutex> lock(mu);
        finished = true;
        ops.clear();
        gone_callback = nullptr;
      }
      Settle();
    }

    void Post(Op op) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (finished) return;
        ops.push_back(std::move(op));
        if (draining) return;
        draining = true;
      }
      std::lock_guard<std::mutex> lock(control->mu);
      if (!control->open) return;
      asio::post(server->io, [self = shared_from_this()] {
        std::shared_ptr<Session> s = self->session.lock();
        if (!s) return self->MarkGone();
        asio::dispatch(s->stream.get_executor(), [self, s] { self->Drain(*s); });
      });
    }

    // On the session's strand.
    void Drain(Session& s) {
      while (true) {
        std::deque<Op> batch;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (ops.empty()) {
            draining = false;
            return;
          }
          batch.swap(ops);
        }
        for (Op& op : batch)
          if (s.exchange.get() == this) op(s);
      }
    }

    Impl* const server;  // valid while control->open
    const std::shared_ptr<HttpControl> control;
    const std::weak_ptr<Session> session;
    std::mutex mu;
    std::deque<Op> ops;
    bool draining = false;
    bool finished = false;
    bool gone = false;
    std::function<void()> gone_callback;
    std::atomic<bool> settled{false};
  };

  // One connection: read a request, hand it to the handler, send its answer, repeat while
  // keep-alive. Everything below runs on the connection's strand.
  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl* server, tcp::socket socket) : server(server), stream(std::move(socket)) {}
    ~Session() {
      if (exchange) exchange->MarkGone();
      server->connections--;
    }

    void Read(bool first) {
      parser.emplace();
      parser->header_limit(kMaxHeaderBytes);
      parser->body_limit(server->options.max_body_bytes);
      // The first request gets the header timeout; later ones wait idle up to idle_timeout
      // (a slow header after that is still cut at the idle deadline).
      stream.expires_after(first ? server->options.header_timeout : server->options.idle_timeout);
      http::async_read(stream, buffer, *parser,
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         self->OnRead(ec);
                       });
    }

    void OnRead(beast::error_code ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted || server->stopping)
        return Close();
      if (ec) {  // a malformed or oversized request: say so once, then close
        unsigned status = 400;
        if (ec == http::error::body_limit) status = 413;
        if (ec == http::error::header_limit) status = 431;
        Request dummy;
        dummy.version(11);
        const std::string message = absl::StrCat("bad request: ", ec.message());
        Response r = TextResponse(dummy, status, message + "\n");
        if (server->options.error_body) {
          auto [content_type, body] = server->options.error_body(status, message);
          r = TextResponse(dummy, status, std::move(body), content_type);
        }
        r.keep_alive(false);
        return WriteError(std::move(r));
      }
      stream.expires_never();
      Request request = parser->release();
      keep_alive = request.keep_alive();
      head = request.method() == http::verb::head;
      version = request.version();
      answered = streaming = finishing = done = false;
      exchange = std::make_shared<Exchange>(server, weak_from_this());
      try {
        server->handler(std::move(request), exchange);
      } catch (const std::exception& e) {
        Request dummy;
        dummy.version(version);
        dummy.keep_alive(keep_alive);
        DoRespond(TextResponse(dummy, 500, "internal error\n"));
      }
      if (!done) Watch();
    }

    // While the answer is pending: a socket at its end of stream is a client that closed; bytes
    // are a pipelined request, left for the next read. The socket is looked at before each wait:
    // the readiness of an end of stream that came while the handler ran was already consumed
    // (edge-triggered), and a wait armed after it would never fire.
    void Watch() {
      switch (Peek()) {
        case PeekResult::kGone:
          return Gone();
        case PeekResult::kData:
          hold = shared_from_this();  // pipelined: nothing else keeps the session alive now
          return;
        case PeekResult::kNothing:
          break;
      }
      watching = true;
      stream.socket().async_wait(tcp::socket::wait_read,
                                 [self = shared_from_this()](beast::error_code ec) {
                                   self->OnWatch(ec);
                                 });
    }

    enum class PeekResult { kNothing, kData, kGone };
    PeekResult Peek() {
      char byte;
      beast::error_code ec;
      stream.socket().non_blocking(true, ec);
      const size_t n =
          stream.socket().receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again)
        return PeekResult::kNothing;
      return ec || n == 0 ? PeekResult::kGone : PeekResult::kData;
    }

    void OnWatch(beast::error_code ec) {
      watching = false;
      if (done) {  // Complete() cancelled the watch to read the next request
        if (!closed) Read(/*first=*/false);
        return;
      }
      if (ec == asio::error::operation_aborted) return;
      if (ec) return Gone();
      // Readable: a byte, the end of the stream, or nothing at all (a readiness event left over
      // from the request's own bytes, which the parser already took): Watch() tells which.
      Watch();
    }

    void DoRespond(Response response) {
      if (answered || closed) return;
      answered = true;
      response.version(version);
      response.keep_alive(keep_alive && response.keep_alive());
      keep_alive = response.keep_alive();
      response.prepare_payload();
      if (head) {  // the headers of the GET answer, without its body
        const size_t length = response.body().size();
        response.body().clear();
        response.content_length(length);
      }
      auto shared = std::make_shared<Response>(std::move(response));
      writing = true;
      stream.expires_after(server->options.write_timeout);
      http::async_write(stream, *shared,
                        [self = shared_from_this(), shared](beast::error_code ec, size_t) {
                          self->writing = false;
                          if (ec) return self->Gone();
                          self->Complete();
                        });
    }

    void DoStartStream(unsigned status, const std::string& content_type) {
      if (answered || closed) return;
      answered = streaming = true;
      chunked = version >= 11;
      if (!chunked) keep_alive = false;  // HTTP/1.0: the end of the body is the close
      std::string head = absl::StrCat(
          "HTTP/", version / 10, ".", version % 10, " ", status, " ",
          std::string(http::obsolete_reason(static_cast<http::status>(status))),
          "\r\nServer: gptoss\r\nContent-Type: ", content_type,
          "\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n",
          chunked ? "Transfer-Encoding: chunked\r\n" : "",
          keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n", "\r\n");
      Enqueue(std::move(head));
    }

    void DoWrite(std::string data) {
      if (!streaming || finishing || closed || data.empty()) return;
      if (chunked) data = absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
      Enqueue(std::move(data));
    }

    void DoFinish() {
      if (!streaming || finishing || closed) return;
      finishing = true;
      if (chunked) Enqueue("0\r\n\r\n");
      if (!writing) Complete();
    }

    void Enqueue(std::string data) {
      pending += data;
      if (!writing) StartWrite();
    }

    void StartWrite() {
      in_flight = std::move(pending);
      pending.clear();
      writing = true;
      stream.expires_after(server->options.write_timeout);
      asio::async_write(stream, asio::buffer(in_flight),
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          self->writing = false;
                          if (ec) return self->Gone();  // a reader too slow, or gone
                          self->stream.expires_never();
                          if (!self->pending.empty()) return self->StartWrite();
                          if (self->finishing) self->Complete();
                        });
    }

    // The answer is out: the next request, or the close.
    void Complete() {
      done = true;
      if (exchange) exchange->MarkFinished();
      exchange.reset();
      hold.reset();
      if (!keep_alive || server->stopping) return Close();
      if (watching) {  // its handler reads the next request once the wait is cancelled
        beast::error_code ignored;
        stream.socket().cancel(ignored);
        return;
      }
      Read(/*first=*/false);
    }

    void Gone() {
      done = true;
      if (exchange) exchange->MarkGone();
      exchange.reset();
      hold.reset();
      Close();
    }

    void WriteError(Response response) {
      auto shared = std::make_shared<Response>(std::move(response));
      stream.expires_after(server->options.write_timeout);
      http::async_write(stream, *shared,
                        [self = shared_from_this(), shared](beast::error_code, size_t) {
                          self->Close();
                        });
    }

    void Close() {
      closed = true;
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream.socket().close(ignored);
    }

    Impl* const server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    // The request being answered.
    std::shared_ptr<Exchange> exchange;
    std::shared_ptr<Session> hold;  // set while a pipelined request waits for this answer
    bool keep_alive = false;
    bool head = false;  // a HEAD request: answers carry no body
    unsigned version = 11;
    bool answered = false, streaming = false, chunked = false, finishing = false;
    bool writing = false, watching = false, done = false, closed = false;
    std::string pending, in_flight;
  };

  Options options;
  AsyncHandler handler;
  std::shared_ptr<HttpControl> control = std::make_shared<HttpControl>();
  std::vector<std::thread> threads;
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopping{false};
  int port = 0;
  asio::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> backoff;

  void Accept() {
    acceptor->async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (stopping || !acceptor->is_open()) return;
      if (!ec) {
        OnAccept(std::move(socket));
        return Accept();
      }
      // Out of file descriptors (EMFILE, ENFILE) or another accept failure: try again a little
      // later rather than spinning on an error that persists while the connections stay open.
      backoff->expires_after(std::chrono::milliseconds(100));
      backoff->async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && !stopping) Accept();
      });
    });
  }

  void OnAccept(tcp::socket socket) {
    if (++connections > options.max_connections) {
      // Over the limit: a short 503, written synchronously (small) and closed.
      connections--;
      beast::error_code ignored;
      static const std::string kBusy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 29\r\n"
          "Connection: close\r\n\r\ntoo many connections, retry\r\n";
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(kBusy), ignored);
      socket.close(ignored);
      return;
    }
    auto session = std::make_shared<Session>(this, std::move(socket));
    asio::dispatch(session->stream.get_executor(), [session] { session->Read(/*first=*/true); });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Options& options,
                                                              Handler handler) {
  return Start(options, [handler = std::move(handler)](Request request,
                                                       std::shared_ptr<HttpResponder> responder) {
    responder->Respond(handler(request));
  });
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Options& options,
                                                              AsyncHandler handler) {
  if (options.port < 0 || options.port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("port ", options.port, " not in [0, 65535]"));
  if (options.threads < 1 || options.max_connections < 1)
    return absl::InvalidArgumentError("an HTTP server needs threads and connections");
  auto impl = std::make_unique<Impl>();
  impl->acceptor = std::make_unique<tcp::acceptor>(impl->io);
  impl->backoff = std::make_unique<asio::steady_timer>(impl->io);
  impl->options = options;
  impl->handler = std::move(handler);
  const std::string address = absl::StrCat(options.host, ":", options.port);
  beast::error_code ec;
  tcp::resolver resolver(impl->io);
  const auto resolved =
      resolver.resolve(options.host, std::to_string(options.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || resolved.empty())
    return absl::InvalidArgumentError(absl::StrCat("host '", options.host, "' does not resolve: ",
                                                   ec ? ec.message() : "no address"));
  const tcp::endpoint endpoint = resolved.begin()->endpoint();
  impl->acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(endpoint, ec);
  if (!ec) impl->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", ec.message()));
  impl->port = impl->acceptor->local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < options.threads; ++i)
    impl->threads.emplace_back([raw = impl.get()] { raw->io.run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::~HttpServer() {
  impl_->stopping = true;
  {
    std::lock_guard<std::mutex> lock(impl_->control->mu);
    impl_->control->open = false;  // responders that outlive the server do nothing from now on
  }
  impl_->io.stop();  // the threads return; queued operations are destroyed with the io_context
  for (std::thread& t : impl_->threads) t.join();
  beast::error_code ignored;
  impl_->acceptor->close(ignored);
  impl_->backoff.reset();
}

void HttpServer::Drain(std::chrono::milliseconds grace) {
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor->close(ignored);  // on an io thread: the acceptor is not thread-safe
  });
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl_->control->unanswered > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

int HttpServer::port() const { return impl_->port; }
size_t HttpServer::open_connections() const { return impl_->connections; }

HttpServer::Response TextResponse(const HttpServer::Request& request, unsigned status,
                                  std::string body, const std::string& content_type) {
  HttpServer::Response response{static_cast<http::status>(status), request.version()};
  response.set(http::field::server, "gptoss");
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

}  // namespace gptoss
