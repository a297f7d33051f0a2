// End to end, as a hostile client on loopback: the internal plane (separate port, cluster secret,
// plausible registrations, bounded store), the public plane (API keys, TLS, bounded work), and
// liveness (a dead or SIGSTOPped worker is noticed within the bound and the service recovers).
// Each finding of the hardening review has a test here or in service_hardening_test.cc.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/gptoss/v1/worker.grpc.pb.h"
#include "tests/e2e/e2e_harness.h"
#include "worker/common/internal_plane.h"

namespace gptoss::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

grpc::ClientContext* WithSecret(grpc::ClientContext* ctx, const std::string& secret) {
  if (!secret.empty()) ctx->AddMetadata(kClusterSecretMetadata, secret);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

v1::RegisterRequest PlausibleRegistration() {
  v1::RegisterRequest r;
  r.set_address("127.0.0.1:1");
  r.set_device("cpu");
  r.set_backend("cpu");
  r.set_rank_hint(-1);
  r.set_kv_cache_bytes(64 << 20);
  r.set_model_fingerprint(std::string(64, '0'));
  return r;
}

// A coordinator alone: the public calls that need no worker (tokenizer, validation).
ClusterOptions NoWorkers() {
  ClusterOptions o;
  o.start_workers = false;
  return o;
}

int ThreadsOf(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  return -1;
}

TEST(HardeningTest, InternalPlaneIsSeparateAndNeedsTheSecret) {
  auto cluster = Cluster::Start("internal_plane");
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Cluster& c = **cluster;
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();

  // The public port does not serve gptoss.v1.Coordinator at all.
  {
    auto stub = v1::Coordinator::NewStub(c.channel());
    grpc::ClientContext ctx;
    v1::RegisterResponse resp;
    grpc::Status st = stub->Register(WithSecret(&ctx, kTestClusterSecret),
                                     PlausibleRegistration(), &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
  }
  auto internal = v1::Coordinator::NewStub(CreatePlaintextChannel(c.internal_address()));
  // No secret, or a wrong one: UNAUTHENTICATED for every rpc, and nothing else is said.
  for (const std::string& secret : {std::string(), std::string("wrong-secret-0123456789abcdef")}) {
    grpc::ClientContext a, b, d;
    v1::RegisterResponse reg;
    grpc::Status st = internal->Register(WithSecret(&a, secret), PlausibleRegistration(), &reg);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(st.error_message(), Not(HasSubstr(kTestClusterSecret)));
    v1::StoreSetRequest set;
    set.set_key("k");
    set.set_value("v");
    v1::StoreSetResponse set_resp;
    EXPECT_EQ(internal->StoreSet(WithSecret(&b, secret), set, &set_resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    v1::StoreGetRequest get;
    get.set_key("k");
    v1::StoreGetResponse get_resp;
    EXPECT_EQ(internal->StoreGet(WithSecret(&d, secret), get, &get_resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }

  // With the secret: a wrong fingerprint is refused without revealing the real one; implausible
  // KV memory and a forged log line in the address are refused; the world stays intact.
  {
    grpc::ClientContext ctx;
    v1::RegisterResponse resp;
    grpc::Status st =
        internal->Register(WithSecret(&ctx, kTestClusterSecret), PlausibleRegistration(), &resp);
    // The world is complete: no registration is taken, whatever it says.
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  }
  // Every worker-visible field is checked before the world state: kill the worker so that the
  // coordinator accepts registrations again, then try the hostile ones.
  c.worker(0).Signal(SIGKILL);
  ASSERT_TRUE(WaitForHealth(c, cli::HealthStatus::kNotServing, absl::Seconds(20)));
  struct Case {
    std::function<void(v1::RegisterRequest&)> mutate;
    grpc::StatusCode code;
  };
  const std::vector<Case> cases = {
      {[](v1::RegisterRequest& r) { r.set_model_fingerprint("nope"); },
       grpc::StatusCode::FAILED_PRECONDITION},
      {[](v1::RegisterRequest& r) { r.set_kv_cache_bytes(uint64_t{1} << 62); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {[](v1::RegisterRequest& r) { r.set_address("127.0.0.1:1\ncoordinator: FORGED line"); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {[](v1::RegisterRequest& r) { r.set_device("cpu\ncoordinator: FORGED device"); },
       grpc::StatusCode::INVALID_ARGUMENT},
      {[](v1::RegisterRequest& r) { r.set_nccl_unique_id_candidate(std::string(5000, 'x')); },
       grpc::StatusCode::INVALID_ARGUMENT},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    v1::RegisterRequest r = PlausibleRegistration();
    cases[i].mutate(r);
    grpc::ClientContext ctx;
    v1::RegisterResponse resp;
    grpc::Status st = internal->Register(WithSecret(&ctx, kTestClusterSecret), r, &resp);
    EXPECT_EQ(st.error_code(), cases[i].code) << i << ": " << st.error_message();
    EXPECT_FALSE(std::regex_search(st.error_message(), std::regex("[0-9a-f]{64}")))
        << "a fingerprint leaked: " << st.error_message();
  }
  EXPECT_THAT(c.coordinator().Log(), Not(HasSubstr("\ncoordinator: FORGED")));
  // A real worker still joins and serves.
  ASSERT_TRUE(c.StartWorker().ok());
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();
  GenerateRun run = RunGenerate(c.stub(), GreedyRequest("Hello", 4));
  EXPECT_TRUE(run.status.ok()) << run.status.error_message();
}

TEST(HardeningTest, WorkerPortServesOnlyTheCoordinator) {
  auto cluster = Cluster::Start("worker_port");
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Cluster& c = **cluster;
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();
  v1::ModelInfo info;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(c.stub().GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
  }
  ASSERT_EQ(info.parallel().workers_size(), 1);
  EXPECT_EQ(info.parallel().workers(0).address(), "");  // public clients see no addresses
  // The worker's own log names its port.
  std::smatch m;
  const std::string log = c.worker(0).Log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("worker plane on (127\\.0\\.0\\.1:[0-9]+)")))
      << log;
  auto worker = v1::Worker::NewStub(CreatePlaintextChannel(m[1].str()));
  {
    grpc::ClientContext ctx;
    v1::ShardInfo shard;
    EXPECT_EQ(worker->GetShardInfo(WithSecret(&ctx, ""), v1::GetShardInfoRequest(), &shard)
                  .error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    // The finding: the worker handed its step stream to whoever opened it first.
    grpc::ClientContext ctx;
    auto stream = worker->StepStream(WithSecret(&ctx, "wrong-secret-0123456789abcdef"));
    v1::StepResult result;
    EXPECT_FALSE(stream->Read(&result));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  GenerateRun run = RunGenerate(c.stub(), GreedyRequest("Hello", 4));
  EXPECT_TRUE(run.status.ok()) << run.status.error_message();
}

TEST(HardeningTest, ShortStoreWaitsLeaveNoThreads) {
  auto cluster = Cluster::Start("store_threads");
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Cluster& c = **cluster;
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();
  auto internal = v1::Coordinator::NewStub(CreatePlaintextChannel(c.internal_address()));
  auto get = [&] {
    grpc::ClientContext ctx;
    v1::StoreGetRequest req;
    req.set_key("never-set");
    req.set_timeout_ms(1);
    v1::StoreGetResponse resp;
    return internal->StoreGet(WithSecret(&ctx, kTestClusterSecret), req, &resp);
  };
  ASSERT_EQ(get().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  const int before = ThreadsOf(c.coordinator().pid());
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(get().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // gRPC's own pool may grow a little under load; a thread per call would add 3000.
  EXPECT_LE(ThreadsOf(c.coordinator().pid()), before + 16);
  // The store is bounded too: a value over the limit is refused.
  grpc::ClientContext ctx;
  v1::StoreSetRequest big;
  big.set_key("big");
  big.set_value(std::string(2 << 20, 'x'));
  v1::StoreSetResponse resp;
  EXPECT_EQ(internal->StoreSet(WithSecret(&ctx, kTestClusterSecret), big, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(c.Health().ok());
}

TEST(HardeningTest, DetokenizeAmplificationIsRefused) {
  auto cluster = Cluster::Start("detokenize_bound", NoWorkers());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Cluster& c = **cluster;
  // The finding: 1.3M copies of a 128-byte token (3.9 MB) came back as 166 MB.
  v1::TokenizeRequest tok;
  tok.set_text(" international");
  v1::TokenizeResponse ids;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(c.stub().Tokenize(&ctx, tok, &ids).ok());
  }
  ASSERT_EQ(ids.token_ids_size(), 1);
  v1::DetokenizeRequest many;
  for (int i = 0; i < 1000000; ++i) many.add_token_ids(ids.token_ids(0));
  grpc::ClientContext ctx;
  v1::DetokenizeResponse out;
  grpc::Status st = c.stub().Detokenize(&ctx, many, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("token_ids"));
  // A sane request still works.
  v1::DetokenizeRequest few;
  few.add_token_ids(ids.token_ids(0));
  grpc::ClientContext ctx2;
  ASSERT_TRUE(c.stub().Detokenize(&ctx2, few, &out).ok());
  EXPECT_EQ(out.text(), " international");
}

TEST(HardeningTest, InvalidUtf8IsAnInvalidArgumentNamingTheField) {
  auto cluster = Cluster::Start("invalid_utf8", NoWorkers());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Cluster& c = **cluster;
  v1::TokenizeRequest tok;
  tok.set_text("bad \xff byte");
  v1::TokenizeResponse ids;
  grpc::ClientContext ctx;
  grpc::Status st = c.stub().Tokenize(&ctx, tok, &ids);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("text: not valid UTF-8"));
  v1::ChatRequest chat;
  chat.add_messages()->set_role(v1::ROLE_USER);
  chat.add_messages()->set_content("\xc0\x80");
  ChatRun run = RunChat(c.stub(), chat);
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(run.status.error_message(), HasSubstr("messages[1].content: not valid UTF-8"));
}

TEST(HardeningTest, HungWorkerIsDetectedAndTheServiceRecovers) {
  ClusterOptions o;
  o.coordinator_flags = {"--worker-timeout-s", "2"};
  auto cluster = Cluster::Start("hung_worker", o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Cluster& c = **cluster;
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();

  // A long request in flight, then the worker stops answering (SIGSTOP).
  v1::GenerateRequest long_request = GreedyRequest("Once upon a time", 3000);
  long_request.mutable_stop()->set_ignore_eos(true);
  grpc::Status in_flight;
  std::atomic<int> chunks{0};
  std::thread client([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    auto reader = c.stub().Generate(&ctx, long_request);
    v1::GenerateResponse resp;
    while (reader->Read(&resp))
      if (resp.has_chunk()) ++chunks;
    in_flight = reader->Finish();
  });
  const absl::Time until = absl::Now() + absl::Seconds(60);
  while (chunks < 2 && absl::Now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GE(chunks, 2);
  c.worker(0).Signal(SIGSTOP);
  const absl::Time stopped = absl::Now();
  // Noticed within the bound (2 s timeout + heartbeat period + call deadline), not at the
  // request's own 120 s deadline.
  EXPECT_TRUE(WaitForHealth(c, cli::HealthStatus::kNotServing, absl::Seconds(15)));
  client.join();
  EXPECT_EQ(in_flight.error_code(), grpc::StatusCode::UNAVAILABLE) << in_flight.error_message();
  EXPECT_LT(absl::Now() - stopped, absl::Seconds(30));
  EXPECT_THAT(in_flight.error_message(), Not(HasSubstr("127.0.0.1")));  // no internal detail
  // The stopped worker resumes, finds its stream gone and exits; a new one restores service.
  c.worker(0).Signal(SIGCONT);
  EXPECT_TRUE(c.worker(0).Wait(absl::Seconds(30)).has_value());
  ASSERT_TRUE(c.StartWorker().ok());
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();
  GenerateRun run = RunGenerate(c.stub(), GreedyRequest("Hello", 4));
  EXPECT_TRUE(run.status.ok()) << run.status.error_message();
}

TEST(HardeningTest, IdleWorkerDeathIsNoticedWithoutARequest) {
  ClusterOptions o;
  o.coordinator_flags = {"--worker-timeout-s", "2"};
  auto cluster = Cluster::Start("idle_death", o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Cluster& c = **cluster;
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();
  c.worker(0).Signal(SIGKILL);
  EXPECT_TRUE(WaitForHealth(c, cli::HealthStatus::kNotServing, absl::Seconds(15)))
      << c.coordinator().Log();
}

TEST(HardeningTest, ServeRestartsAWorkerThatDiesWhileIdle) {
  const std::string& model = TinyCheckpoint();
  ASSERT_FALSE(model.empty());
  const std::string dir = ScratchDir("serve_restart");
  auto serve = Process::Start({GPTOSS_CLI_BIN, "serve", "--model", model, "--port", "0",
                               "--http-port", "0", "--port-file", dir + "/port",
                               "--kv-cache-mb", "64"},
                              dir + "/serve.log");
  ASSERT_TRUE(serve.ok()) << serve.status();
  absl::StatusOr<std::pair<int, int>> ports = WaitForPorts(dir + "/port", **serve);
  ASSERT_TRUE(ports.ok()) << ports.status();
  const int port = ports->first;
  auto channel = CreatePlaintextChannel(absl::StrCat("127.0.0.1:", port));
  ASSERT_TRUE(cli::WaitForServing(channel, "", absl::Seconds(60)).ok()) << (*serve)->Log();
  auto children = [&] {
    std::ifstream in(absl::StrCat("/proc/", (*serve)->pid(), "/task/", (*serve)->pid(),
                                  "/children"));
    std::vector<pid_t> pids;
    for (pid_t p; in >> p;) pids.push_back(p);
    return pids;
  };
  const std::vector<pid_t> before = children();
  if (before.empty()) GTEST_SKIP() << "/proc/PID/task/PID/children is not available";
  ASSERT_EQ(before.size(), 1u);
  kill(before[0], SIGKILL);  // idle: no request notices it, only the supervisor and heartbeat
  // The finding of the review: the restarted worker was refused while the world still looked
  // complete, and serve gave up after five restarts. Now it re-forms.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && (children().empty() || children()[0] == before[0]))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(cli::WaitForServing(channel, "", absl::Seconds(60)).ok()) << (*serve)->Log();
  auto stub = v1::Inference::NewStub(channel);
  GenerateRun run = RunGenerate(*stub, GreedyRequest("Hello", 4));
  EXPECT_TRUE(run.status.ok()) << run.status.error_message() << (*serve)->Log();
  EXPECT_TRUE((*serve)->running()) << (*serve)->Log();
  (*serve)->Signal(SIGTERM);
  std::optional<int> status = (*serve)->Wait(absl::Seconds(60));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << (*serve)->Log();
}

TEST(HardeningTest, ApiKeysGuardThePublicApiButNotHealth) {
  const std::string dir = ScratchDir("api_keys");
  std::ofstream(dir + "/keys") << "# test keys\nkey-for-tests-0123456789\n";
  ClusterOptions o;
  o.coordinator_flags = {"--api-key-file", dir + "/keys"};
  auto cluster = Cluster::Start("api_keys_cluster", o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Cluster& c = **cluster;
  ASSERT_TRUE(c.WaitServing().ok()) << c.coordinator().Log();  // health needs no key
  {
    GenerateRun run = RunGenerate(c.stub(), GreedyRequest("Hello", 4));
    EXPECT_EQ(run.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_FALSE(run.final.has_value());
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer not-the-key-0123456789");
    v1::ModelInfo info;
    EXPECT_EQ(c.stub().GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer key-for-tests-0123456789");
    v1::ModelInfo info;
    EXPECT_TRUE(c.stub().GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
    grpc::ClientContext gen_ctx;
    gen_ctx.AddMetadata("authorization", "Bearer key-for-tests-0123456789");
    auto reader = c.stub().Generate(&gen_ctx, GreedyRequest("Hello", 4));
    v1::GenerateResponse resp;
    bool final = false;
    while (reader->Read(&resp)) final |= resp.has_final();
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_TRUE(final);
  }
}

// A self-signed certificate for localhost/127.0.0.1 (its own CA), made with the openssl CLI.
bool MakeCertificate(const std::string& dir) {
  const std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout ",
      dir, "/key.pem -out ", dir, "/cert.pem >", dir, "/openssl.log 2>&1");
  return std::system(cmd.c_str()) == 0;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(HardeningTest, TlsOnThePublicPortAndMutualTlsOnTheInternalPlane) {
  const std::string dir = ScratchDir("tls");
  if (!MakeCertificate(dir)) GTEST_SKIP() << "openssl could not make a certificate";
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  ClusterOptions o;
  o.coordinator_flags = {"--tls-cert", cert, "--tls-key", key, "--internal-tls-cert", cert,
                         "--internal-tls-key", key, "--internal-tls-ca", cert};
  o.worker_flags = {"--internal-tls-cert", cert, "--internal-tls-key", key,
                    "--internal-tls-ca", cert};
  auto cluster = Cluster::Start("tls_cluster", o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Cluster& c = **cluster;
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadAll(cert);
  auto secure = grpc::CreateChannel(c.address(), grpc::SslCredentials(ssl));
  ASSERT_TRUE(cli::WaitForServing(secure, "", absl::Seconds(60)).ok()) << c.coordinator().Log();
  auto stub = v1::Inference::NewStub(secure);
  GenerateRun run = RunGenerate(*stub, GreedyRequest("Hello", 4));
  EXPECT_TRUE(run.status.ok()) << run.status.error_message();
  // Plaintext clients get nothing from the public port.
  EXPECT_FALSE(c.Health().ok());
  // The internal plane refuses a client without a certificate even with the secret.
  grpc::SslCredentialsOptions no_client_cert;
  no_client_cert.pem_root_certs = ReadAll(cert);
  auto internal = v1::Coordinator::NewStub(
      grpc::CreateChannel(c.internal_address(), grpc::SslCredentials(no_client_cert)));
  grpc::ClientContext ctx;
  v1::StoreSetRequest set;
  set.set_key("k");
  v1::StoreSetResponse resp;
  EXPECT_FALSE(internal->StoreSet(WithSecret(&ctx, kTestClusterSecret), set, &resp).ok());
}

}  // namespace
}  // namespace gptoss::e2e
