// HttpServer as a hostile client meets it: keep-alive, slow headers cut off while others are
// served, the connection cap (503), oversized headers (431) and bodies (413), garbage (400),
// and hundreds of idle connections closed at their deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/common/http_server.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

void Send(int fd, const std::string& s) { (void)!write(fd, s.data(), s.size()); }

// Reads until the peer closes or `until` appears (or the 5 s receive timeout).
std::string Receive(int fd, const std::string& until = "") {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (!until.empty() && out.find(until) != std::string::npos) break;
  }
  return out;
}

std::string Get(int port, const std::string& target) {
  const int fd = Connect(port);
  Send(fd, "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string r = Receive(fd);
  close(fd);
  return r;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServer::Options o;
    o.max_connections = 8;
    o.max_body_bytes = 64;
    o.header_timeout = std::chrono::milliseconds(400);
    o.idle_timeout = std::chrono::milliseconds(600);
    auto s = HttpServer::Start(o, [](const HttpServer::Request& r) {
      return TextResponse(r, 200, "you asked for " + std::string(r.target()) + "\n");
    });
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, AnswersAndKeepsConnectionsAlive) {
  EXPECT_THAT(Get(server_->port(), "/a"), HasSubstr("you asked for /a"));
  const int fd = Connect(server_->port());
  for (int i = 0; i < 3; ++i) {
    Send(fd, "GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_THAT(Receive(fd, "/again\n"), HasSubstr("200 OK"));
  }
  close(fd);
}

TEST_F(HttpServerTest, SlowHeadersAreCutOffWhileOthersAreServed) {
  const int slow = Connect(server_->port());
  Send(slow, "GET /slow HTTP/1.1\r\nHo");  // and nothing more
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Get(server_->port(), "/fast"), HasSubstr("you asked for /fast"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  EXPECT_EQ(Receive(slow), "");  // closed at the header deadline, no answer
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  close(slow);
}

TEST_F(HttpServerTest, BadRequestsGetAClearStatusAndTheServerGoesOn) {
  const int big_header = Connect(server_->port());
  Send(big_header, "GET / HTTP/1.1\r\nX: " + std::string(10000, 'a') + "\r\n\r\n");
  EXPECT_THAT(Receive(big_header), StartsWith("HTTP/1.1 431"));
  close(big_header);
  const int big_body = Connect(server_->port());
  Send(big_body, "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'b'));
  EXPECT_THAT(Receive(big_body), StartsWith("HTTP/1.1 413"));
  close(big_body);
  const int garbage = Connect(server_->port());
  Send(garbage, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n");
  EXPECT_THAT(Receive(garbage), StartsWith("HTTP/1.1 400"));
  close(garbage);
  EXPECT_THAT(Get(server_->port(), "/still"), HasSubstr("you asked for /still"));
}

TEST_F(HttpServerTest, TheConnectionCapAnswers503AndIdleConnectionsExpire) {
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(Connect(server_->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int extra = Connect(server_->port());
  EXPECT_THAT(Receive(extra), StartsWith("HTTP/1.1 503"));
  close(extra);
  // The idle ones time out (header deadline), and the server serves again.
  for (int fd : idle) EXPECT_EQ(Receive(fd), "");
  for (int fd : idle) close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(server_->open_connections(), 0u);
  EXPECT_THAT(Get(server_->port(), "/back"), HasSubstr("you asked for /back"));
}

TEST(HttpServerLimitsTest, HundredsOfIdleConnectionsAreBounded) {
  HttpServer::Options o;
  o.max_connections = 200;
  o.header_timeout = std::chrono::milliseconds(500);
  auto s = HttpServer::Start(o, [](const HttpServer::Request& r) { return TextResponse(r, 200, "ok\n"); });
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<int> fds;
  for (int i = 0; i < 600; ++i) fds.push_back(Connect((*s)->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE((*s)->open_connections(), 200u);
  for (int fd : fds) close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_THAT(Get((*s)->port(), "/"), HasSubstr("ok"));
}

TEST(HttpServerStartTest, BadAddressesAreClearErrors) {
  HttpServer::Options o;
  o.host = "no-such-host.invalid";
  EXPECT_FALSE(HttpServer::Start(o, nullptr).ok());
  HttpServer::Options taken;
  auto first = HttpServer::Start(taken, [](const HttpServer::Request& r) { return TextResponse(r, 200, ""); });
  ASSERT_TRUE(first.ok());
  taken.port = (*first)->port();
  auto second = HttpServer::Start(taken, nullptr);
  // SO_REUSEADDR does not allow two listeners on one port.
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace gptoss
