#include "coordinator/coordinator_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "kernels/core/files.h"
#include "worker/common/termination_signals.h"
#include "kernels/core/sha256.h"
#include "coordinator/openai/openai_json.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "kernels/core/status.h"
#include "kernels/core/flags.h"

namespace gptoss {
namespace {

constexpr const char* kInferenceServiceName = "gptoss.v1.Inference";

void Log(const std::string& line) { std::fprintf(stderr, "coordinator: %s\n", line.c_str()); }

std::string BaseName(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::StatusOr<int> IntFlag(const cli::Flags& flags, const std::string& name, int64_t fallback,
                            int64_t lo, int64_t hi) {
  GPTOSS_ASSIGN_OR_RETURN(int64_t v, flags.GetInt(name, fallback));
  if (v < lo || v > hi)
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": ", v, " not in [", lo, ", ", hi, "]"));
  return static_cast<int>(v);
}

}  // namespace

absl::StatusOr<CoordinatorOptions> ParseCoordinatorFlags(int argc, char** argv) {
  GPTOSS_ASSIGN_OR_RETURN(
      cli::Flags flags,
      cli::Flags::Parse(argc, argv,
                        {"model", "tokenizer", "host", "port", "port-file", "world-size",
                         "block-size", "kv-full-blocks", "kv-sliding-blocks", "max-num-seqs",
                         "max-batch-tokens", "max-waiting", "drain-grace-s", "ready-timeout-s",
                         "tls-cert", "tls-key", "tls-client-ca", "api-key-file", "internal-host",
                         "internal-port", "cluster-secret-file", "internal-tls-cert",
                         "internal-tls-key", "internal-tls-ca", "worker-timeout-s",
                         "step-timeout-s", "metrics-port", "metrics-host", "http-port",
                         "http-host", "served-model-name", "stream-interval"},
                        {"log-steps", "no-overlap"}));
  CoordinatorOptions o;
  if (flags.help()) {
    o.help = absl::StrCat("usage: gptoss-coordinator --model DIR [flags] (coordinator_server.h)\n",
                          flags.Usage());
    return o;
  }
  GPTOSS_ASSIGN_OR_RETURN(o.model_dir, flags.Required("model"));
  o.tokenizer_path = flags.GetOr("tokenizer", "");
  o.host = flags.GetOr("host", o.host);
  o.port_file = flags.GetOr("port-file", "");
  GPTOSS_ASSIGN_OR_RETURN(o.port, IntFlag(flags, "port", o.port, 0, 65535));
  GPTOSS_ASSIGN_OR_RETURN(o.world_size, IntFlag(flags, "world-size", o.world_size, 1, 1024));
  GPTOSS_ASSIGN_OR_RETURN(o.block_size, IntFlag(flags, "block-size", o.block_size, 1, 1024));
  GPTOSS_ASSIGN_OR_RETURN(o.kv_full_blocks, IntFlag(flags, "kv-full-blocks", 0, 0, 1 << 30));
  GPTOSS_ASSIGN_OR_RETURN(o.kv_sliding_blocks, IntFlag(flags, "kv-sliding-blocks", 0, 0, 1 << 30));
  if ((o.kv_full_blocks > 0) != (o.kv_sliding_blocks > 0))
    return absl::InvalidArgumentError("--kv-full-blocks and --kv-sliding-blocks go together");
  GPTOSS_ASSIGN_OR_RETURN(o.max_num_seqs, IntFlag(flags, "max-num-seqs", o.max_num_seqs, 1, 1 << 16));
  GPTOSS_ASSIGN_OR_RETURN(o.max_batch_tokens,
                   IntFlag(flags, "max-batch-tokens", o.max_batch_tokens, 1, 1 << 24));
  GPTOSS_ASSIGN_OR_RETURN(o.max_waiting, IntFlag(flags, "max-waiting", o.max_waiting, 0, 1 << 24));
  GPTOSS_ASSIGN_OR_RETURN(o.stream_interval,
                          IntFlag(flags, "stream-interval", o.stream_interval, 1, 1024));
  GPTOSS_ASSIGN_OR_RETURN(int drain, IntFlag(flags, "drain-grace-s", 30, 0, 86400));
  o.drain_grace = absl::Seconds(drain);
  GPTOSS_ASSIGN_OR_RETURN(int ready, IntFlag(flags, "ready-timeout-s", 1800, 1, 86400 * 7));
  o.ready_timeout = absl::Seconds(ready);
  o.log_steps = flags.Has("log-steps");
  o.overlap = !flags.Has("no-overlap");
  if (flags.Has("metrics-port")) {  // absent: no metrics endpoint
    GPTOSS_ASSIGN_OR_RETURN(o.metrics_port, IntFlag(flags, "metrics-port", -1, 0, 65535));
  }
  o.metrics_host = flags.GetOr("metrics-host", "");
  if (flags.Has("http-port")) {  // absent: no HTTP API
    GPTOSS_ASSIGN_OR_RETURN(o.http_port, IntFlag(flags, "http-port", -1, 0, 65535));
  }
  o.http_host = flags.GetOr("http-host", "");
  o.served_model_name = flags.GetOr("served-model-name", "");
  o.tls_cert = flags.GetOr("tls-cert", "");
  o.tls_key = flags.GetOr("tls-key", "");
  o.tls_client_ca = flags.GetOr("tls-client-ca", "");
  o.api_key_file = flags.GetOr("api-key-file", "");
  o.internal_host = flags.GetOr("internal-host", "");
  GPTOSS_ASSIGN_OR_RETURN(o.internal_port, IntFlag(flags, "internal-port", o.internal_port, 0, 65535));
  o.plane_files.secret_file = flags.GetOr("cluster-secret-file", "");
  o.plane_files.tls_cert = flags.GetOr("internal-tls-cert", "");
  o.plane_files.tls_key = flags.GetOr("internal-tls-key", "");
  o.plane_files.tls_ca = flags.GetOr("internal-tls-ca", "");
  GPTOSS_ASSIGN_OR_RETURN(int worker_timeout, IntFlag(flags, "worker-timeout-s", 5, 1, 3600));
  o.worker_timeout = absl::Seconds(worker_timeout);
  GPTOSS_ASSIGN_OR_RETURN(int step_timeout, IntFlag(flags, "step-timeout-s", 300, 1, 86400));
  o.step_timeout = absl::Seconds(step_timeout);
  return o;
}

// The public listener's credentials: TLS when a certificate is given (client certificates
// required and verified when a client CA is given too), plaintext otherwise.
static absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> PublicCredentials(
    const CoordinatorOptions& o) {
  if (o.tls_cert.empty() != o.tls_key.empty())
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  if (o.tls_cert.empty()) {
    if (!o.tls_client_ca.empty())
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl(
      o.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  GPTOSS_ASSIGN_OR_RETURN(std::string cert, ReadFile(o.tls_cert));
  GPTOSS_ASSIGN_OR_RETURN(std::string key, ReadFile(o.tls_key));
  if (!o.tls_client_ca.empty()) {
    GPTOSS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(o.tls_client_ca));
  }
  ssl.pem_key_cert_pairs.push_back({key, cert});
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  std::unique_ptr<Coordinator> c(new Coordinator(options));
  GPTOSS_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> public_credentials,
                   PublicCredentials(options));
  ApiKeys keys;
  if (!options.api_key_file.empty()) {
    GPTOSS_ASSIGN_OR_RETURN(keys, ApiKeys::Load(options.api_key_file));
  }
  InternalPlane plane;
  if (options.plane) {
    plane = *options.plane;
  } else {
    GPTOSS_ASSIGN_OR_RETURN(plane, InternalPlane::Load(options.plane_files));
  }
  const std::string config_path = options.model_dir + "/config.json";
  GPTOSS_ASSIGN_OR_RETURN(std::string config_text, ReadFile(config_path));
  absl::StatusOr<ModelConfig> config = ParseModelConfig(config_text);
  if (!config.ok())
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", config.status().message()));
  c->config_ = *config;
  GPTOSS_ASSIGN_OR_RETURN(c->tokenizer_, Tokenizer::Load(options.tokenizer_path));
  GPTOSS_ASSIGN_OR_RETURN(harmony::HarmonyRenderer renderer,
                   harmony::HarmonyRenderer::Create(c->tokenizer_.get()));
  c->renderer_.emplace(std::move(renderer));
  if (c->config_.vocab_size < c->tokenizer_->vocab_size())
    Log(absl::StrCat("warning: the model's vocabulary (", c->config_.vocab_size,
                     ") is smaller than the tokenizer's (", c->tokenizer_->vocab_size(), ")"));

  WorkerPoolOptions pool;
  pool.world_size = options.world_size;
  pool.model_fingerprint = Sha256Hex(config_text);
  pool.block_size = options.block_size;
  pool.num_full_blocks = options.kv_full_blocks;
  pool.num_sliding_blocks = options.kv_sliding_blocks;
  pool.max_num_seqs = options.max_num_seqs;
  pool.max_batch_tokens = options.max_batch_tokens;
  pool.ready_timeout = options.ready_timeout;
  pool.worker_timeout = options.worker_timeout;
  pool.step_timeout = options.step_timeout;
  const bool internal_tls = plane.tls();
  pool.plane = std::move(plane);
  // Metrics are always recorded (cheap: atomics, histograms outside the engine's lock) and
  // served only with --metrics-port.
  auto registry = std::make_shared<prometheus::Registry>();
  metrics::AddBuildInfo(*registry, "coordinator", "");
  c->metrics_ = std::make_unique<ServingMetrics>(registry);
  c->pool_ = std::make_unique<WorkerPool>(c->config_, pool);
  const std::string model_name = options.served_model_name.empty()
                                     ? BaseName(options.model_dir)
                                     : options.served_model_name;
  const ApiKeys http_keys = keys;
  c->service_ = std::make_unique<InferenceService>(c->config_, model_name, c->tokenizer_.get(),
                                                   &*c->renderer_, c->pool_.get(),
                                                   std::move(keys), c->metrics_.get());

  // The internal listener first: health and reflection are process-wide switches read when a
  // server is built, and the internal plane serves neither (nothing there is for the public).
  const std::string internal_host =
      options.internal_host.empty() ? options.host : options.internal_host;
  grpc::EnableDefaultHealthCheckService(false);
  grpc::ServerBuilder internal;
  internal.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  internal.AddListeningPort(absl::StrCat(internal_host, ":", options.internal_port),
                            c->pool_->plane().ServerCredentials(), &c->internal_port_);
  internal.RegisterService(c->pool_->service());
  c->internal_server_ = internal.BuildAndStart();
  if (!c->internal_server_ || c->internal_port_ == 0)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", internal_host, ":",
                                               options.internal_port, " (--internal-port)"));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second server on the same port would silently share
  // the connections (a coordinator would get another one's workers). Fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(absl::StrCat(options.host, ":", options.port), public_credentials,
                           &c->port_);
  builder.RegisterService(c->service_.get());
  c->server_ = builder.BuildAndStart();
  if (!c->server_ || c->port_ == 0)
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port));
  c->UpdateHealth();  // NOT_SERVING until the workers are ready
  Coordinator* raw = c.get();
  c->pool_->SetReadinessCallback([raw](bool) { raw->UpdateHealth(); });
  c->starter_ = std::thread([raw] { raw->StartEngineWhenReady(); });
  if (options.metrics_port >= 0) {
    GPTOSS_ASSIGN_OR_RETURN(
        c->metrics_server_,
        metrics::MetricsServer::Start(options.metrics_host.empty() ? internal_host
                                                                   : options.metrics_host,
                                      options.metrics_port, registry));
    Log(absl::StrCat("metrics on http://",
                     options.metrics_host.empty() ? internal_host : options.metrics_host, ":",
                     c->metrics_server_->port(), "/metrics"));
  }
  if (options.http_port >= 0) {
    // Thousands of streaming clients need thousands of descriptors: lift the soft limit to the
    // hard one (the default soft limit, 1024, is below the connection cap).
    if (rlimit limit{}; getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
    c->openai_ = std::make_unique<openai::OpenAiApi>(
        c->service_.get(), model_name, http_keys, registry, [raw] { return raw->Serving(); });
    HttpServer::Options http;
    http.host = options.http_host.empty() ? options.host : options.http_host;
    http.port = options.http_port;
    http.threads = 2;
    http.max_connections = 4096;
    http.max_body_bytes = size_t{4} << 20;
    http.error_body = [](unsigned status, const std::string& message) {
      return openai::ErrorBody(status, message);
    };
    openai::OpenAiApi* api = c->openai_.get();
    auto handler = [api](HttpServer::Request request, std::shared_ptr<HttpResponder> responder) {
      api->Handle(std::move(request), std::move(responder));
    };
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(http, handler);
    if (!server.ok() && server.status().code() == absl::StatusCode::kUnavailable &&
        options.http_port_fallback && http.port != 0) {
      Log(absl::StrCat("the default HTTP port ", http.port,
                       " is taken; serving the HTTP API on a free port instead"));
      http.port = 0;
      server = HttpServer::Start(http, handler);
    }
    if (!server.ok())
      return absl::Status(server.status().code(),
                          absl::StrCat("--http-port: ", server.status().message()));
    c->http_server_ = std::move(*server);
    Log(absl::StrCat("OpenAI-compatible HTTP API on http://", http.host, ":",
                     c->http_server_->port(), "/v1"));
  }
  if (!options.port_file.empty()) {
    std::ofstream out(options.port_file + ".tmp");
    out << c->port_ << "\n" << c->internal_port_ << "\n";
    out << (c->metrics_server_ ? c->metrics_server_->port() : -1) << "\n";
    out << (c->http_server_ ? c->http_server_->port() : -1) << "\n";
    out.close();
    if (!out || std::rename((options.port_file + ".tmp").c_str(), options.port_file.c_str()) != 0)
      return absl::UnavailableError(absl::StrCat("cannot write ", options.port_file));
  }
  Log(absl::StrCat("serving ", BaseName(options.model_dir), " on ", options.host, ":", c->port_,
                   options.tls_cert.empty() ? "" : " (TLS)", "; internal plane on ", internal_host, ":",
                   c->internal_port_, internal_tls ? " (mTLS)" : "", "; waiting for ",
                   options.world_size, " worker(s)"));
  return c;
}

Coordinator::~Coordinator() { Shutdown(); }

namespace {
std::string LocalHost(const std::string& host) {
  return host == "0.0.0.0" || host == "[::]" || host.empty() ? "127.0.0.1" : host;
}
}  // namespace

std::string Coordinator::local_address() const {
  return absl::StrCat(LocalHost(options_.host), ":", port_);
}

std::string Coordinator::local_internal_address() const {
  return absl::StrCat(
      LocalHost(options_.internal_host.empty() ? options_.host : options_.internal_host), ":",
      internal_port_);
}

bool Coordinator::Serving() {
  std::lock_guard<std::mutex> lock(mu_);
  return !draining_ && !shut_down_ && engine_ != nullptr && pool_->ready();
}

void Coordinator::UpdateHealth() {
  bool serving;
  // Decided and published under one lock: a readiness change computed before a drain began
  // must not overwrite the drain's NOT_SERVING.
  std::lock_guard<std::mutex> lock(mu_);
  if (!server_ || shut_down_) return;
  serving = !draining_ && engine_ != nullptr && pool_->ready();
  metrics_->Workers(pool_->num_registered(), pool_->ready() ? options_.world_size : 0);
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  health->SetServingStatus(kInferenceServiceName, serving);
}

void Coordinator::StartEngineWhenReady() {
  while (!pool_->WaitForKvSpec(absl::Seconds(1))) {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_ || shut_down_) return;
  }
  const KvPoolSpec spec = *pool_->kv_spec();
  SchedulerConfig sc;
  sc.kv = KvGeometryFor(config_, spec);
  sc.vocab_size = config_.vocab_size;
  sc.max_context_len = config_.max_position_embeddings;
  sc.max_num_seqs = options_.max_num_seqs;
  sc.max_batch_tokens = options_.max_batch_tokens;
  sc.max_waiting = options_.max_waiting;
  EngineOptions eo;
  eo.log_steps = options_.log_steps;
  eo.overlap = options_.overlap;
  eo.metrics = metrics_.get();
  absl::StatusOr<std::unique_ptr<EngineLoop>> engine = EngineLoop::Create(sc, pool_.get(), eo);
  if (!engine.ok()) {
    Log(absl::StrCat("cannot start the engine: ", engine.status().message()));
    return;
  }
  std::shared_ptr<EngineLoop> shared(std::move(*engine));
  ServingLimits limits = InferenceService::DefaultLimits(config_);
  limits.context_length = std::min(limits.context_length, sc.EffectiveMaxLen());
  limits.stream_interval = options_.stream_interval;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_ || shut_down_) return;
    shared->Start();
    engine_ = shared;
  }
  service_->SetEngine(shared, limits);
  Log(absl::StrCat("engine started: context ", limits.context_length, " tokens, max ",
                   sc.max_num_seqs, " sequences, ", sc.max_batch_tokens, " tokens per step"));
  UpdateHealth();
}

void Coordinator::Shutdown() {
  std::shared_ptr<EngineLoop> engine;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_ || !server_) return;
    draining_ = true;
    engine = engine_;
  }
  UpdateHealth();  // NOT_SERVING
  if (engine) {
    Log(absl::StrCat("draining ", engine->num_live(), " request(s), grace ",
                     absl::FormatDuration(options_.drain_grace)));
    engine->Drain(options_.drain_grace);
  }
  pool_->Shutdown();  // workers' streams end: they exit
  if (engine) engine->Stop();
  if (http_server_) {
    // Every request has ended by now; let their last events and bodies reach the clients.
    http_server_->Drain(std::chrono::seconds(2));
    http_server_.reset();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
  }
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  if (internal_server_) {
    internal_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    internal_server_->Wait();
  }
  if (starter_.joinable()) starter_.join();
  Log("stopped");
}

int RunCoordinatorMain(int argc, char** argv) {
  BlockTerminationSignals();
  absl::StatusOr<CoordinatorOptions> options = ParseCoordinatorFlags(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "gptoss-coordinator: %s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  if (!options->help.empty()) {
    std::printf("%s", options->help.c_str());
    return 0;
  }
  absl::StatusOr<std::unique_ptr<Coordinator>> coordinator = Coordinator::Start(*options);
  if (!coordinator.ok()) {
    std::fprintf(stderr, "gptoss-coordinator: %s\n",
                 std::string(coordinator.status().message()).c_str());
    return 1;
  }
  std::printf("gptoss-coordinator: listening on %s\n", (*coordinator)->local_address().c_str());
  std::fflush(stdout);
  const int sig = WaitForSignal();
  Log(absl::StrCat("signal ", sig, ": shutting down"));
  (*coordinator)->Shutdown();
  return 0;
}

}  // namespace gptoss
