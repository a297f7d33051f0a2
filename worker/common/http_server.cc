#include "worker/common/http_server.h"

#include <atomic>
#include <exception>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
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

// Member order matters at destruction: the acceptor goes first, then the io_context, whose
// destructor destroys the sessions still queued in it (they decrement `connections`, declared
// before it, so still alive). Sessions point at the Impl raw: it outlives the io_context.
struct HttpServer::Impl {
  Options options;
  Handler handler;
  std::vector<std::thread> threads;
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopping{false};
  int port = 0;
  asio::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;

  // One connection: read a request, answer it, repeat while keep-alive.
  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl* server, tcp::socket socket) : server(server), stream(std::move(socket)) {}
    ~Session() { server->connections--; }

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
        Response r = TextResponse(dummy, status, absl::StrCat("bad request: ", ec.message(), "\n"));
        r.keep_alive(false);
        return Write(std::move(r));
      }
      Request request = parser->release();
      Response response;
      try {
        response = server->handler(request);
      } catch (const std::exception& e) {
        response = TextResponse(request, 500, "internal error\n");
      }
      response.prepare_payload();
      Write(std::move(response));
    }

    void Write(Response response) {
      auto shared = std::make_shared<Response>(std::move(response));
      stream.expires_after(server->options.write_timeout);
      http::async_write(stream, *shared,
                        [self = shared_from_this(), shared](beast::error_code ec, size_t) {
                          if (ec || !shared->keep_alive() || self->server->stopping)
                            return self->Close();
                          self->Read(/*first=*/false);
                        });
    }

    void Close() {
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream.socket().close(ignored);
    }

    Impl* const server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
  };

  void Accept() {
    acceptor->async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (stopping || !acceptor->is_open()) return;
      if (!ec) OnAccept(std::move(socket));
      Accept();
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
  if (options.port < 0 || options.port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("port ", options.port, " not in [0, 65535]"));
  if (options.threads < 1 || options.max_connections < 1)
    return absl::InvalidArgumentError("an HTTP server needs threads and connections");
  auto impl = std::make_unique<Impl>();
  impl->acceptor = std::make_unique<tcp::acceptor>(impl->io);
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
  impl_->io.stop();  // the threads return; queued operations are destroyed with the io_context
  for (std::thread& t : impl_->threads) t.join();
  beast::error_code ignored;
  impl_->acceptor->close(ignored);
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
