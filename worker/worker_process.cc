#include "worker/worker_process.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kernels/core/files.h"
#include "worker/common/status_mapping.h"
#include "worker/common/termination_signals.h"
#include "kernels/core/sha256.h"
#include "grpcpp/grpcpp.h"
#include "kernels/core/status.h"
#include "kernels/ops_factory.h"
#include "proto/gptoss/v1/worker.grpc.pb.h"
#include "kernels/core/flags.h"
#include "worker/engine/kv_cache_pool.h"
#include "worker/engine/step_executor.h"
#include "worker/model/config.h"
#include "worker/model/device_weights.h"
#include "worker/model/safetensors.h"
#include "worker/model/transformer.h"
#include "worker/model/weights.h"
#include "worker/comm/world_communicator.h"
#include "worker/common/internal_plane.h"
#include "worker/common/metrics.h"
#include "worker/coordinator_rendezvous.h"
#include "worker/worker_metrics.h"
#include "worker/worker_service.h"

namespace gptoss {
namespace {

struct WorkerOptions {
  std::string coordinator;
  std::string model_dir;
  std::string device = "auto";
  int null_step_us = 0;  // --device null:US: the null executor's simulated forward pass
  std::string listen = "127.0.0.1:0";
  std::string advertise;  // host the coordinator reaches us at; default: the --listen host
  int rank_hint = -1;
  int64_t kv_cache_mb = 0;  // 0: the device's default (kDefaultKvMb*)
  int register_timeout_s = 600;
  int collective_timeout_s = 30;
  int64_t dispatch_fixed_max_tokens = DispatchOptions().fixed_max_rows;
  std::string comm = "auto";  // auto (NCCL on a GPU, Gloo on the CPU), nccl, gloo
  int metrics_port = -1;      // -1: no /metrics
  std::string metrics_host;   // empty: the advertised host
  ExpertMetrics expert_metrics = ExpertMetrics::kPerExpert;
  bool cuda_graphs = true;            // decode steps replayed as CUDA graphs
  std::string kernels = "fused";      // CUDA kernel set (kernels/ops_factory.h)
  InternalPlaneFiles plane;
  std::string help;  // set: --help was given
};

constexpr int64_t kDefaultKvMbCpu = 512;
constexpr int64_t kDefaultKvMbGpu = 8192;
// The null device holds no KV cache: it offers the most a registration may (4 TiB), so the
// coordinator sizes the pools for max_num_seqs full contexts.
constexpr int64_t kDefaultKvMbNull = int64_t{4} << 20;

void Log(const std::string& line) { std::fprintf(stderr, "worker: %s\n", line.c_str()); }

absl::StatusOr<WorkerOptions> ParseOptions(int argc, char** argv) {
  GPTOSS_ASSIGN_OR_RETURN(cli::Flags flags,
                   cli::Flags::Parse(argc, argv,
                                     {"coordinator", "model", "device", "listen", "advertise",
                                      "rank-hint", "kv-cache-mb", "register-timeout-s",
                                      "collective-timeout-s", "dispatch-fixed-max-tokens", "comm",
                                      "metrics-port", "metrics-host", "expert-metrics",
                                      "cuda-graphs", "kernels",
                                      "cluster-secret-file", "internal-tls-cert",
                                      "internal-tls-key", "internal-tls-ca"}));
  WorkerOptions o;
  if (flags.help()) {
    o.help = absl::StrCat(
        "usage: gptoss-worker --coordinator HOST:PORT --model DIR [flags] (worker_process.h)\n",
        flags.Usage());
    return o;
  }
  GPTOSS_ASSIGN_OR_RETURN(o.coordinator, flags.Required("coordinator"));
  GPTOSS_ASSIGN_OR_RETURN(o.model_dir, flags.Required("model"));
  o.device = flags.GetOr("device", o.device);
  o.comm = flags.GetOr("comm", o.comm);
  GPTOSS_ASSIGN_OR_RETURN(int64_t metrics_port, flags.GetInt("metrics-port", -1));
  if (metrics_port < -1 || metrics_port > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-port: ", metrics_port, " not in [0, 65535]"));
  o.metrics_port = static_cast<int>(metrics_port);
  o.metrics_host = flags.GetOr("metrics-host", "");
  const std::string expert = flags.GetOr("expert-metrics", "expert");
  if (expert == "expert") o.expert_metrics = ExpertMetrics::kPerExpert;
  else if (expert == "layer") o.expert_metrics = ExpertMetrics::kPerLayer;
  else if (expert == "off") o.expert_metrics = ExpertMetrics::kOff;
  else
    return absl::InvalidArgumentError(
        absl::StrCat("--expert-metrics: '", expert, "' is not expert, layer or off"));
  const std::string graphs = flags.GetOr("cuda-graphs", "on");
  if (graphs != "on" && graphs != "off")
    return absl::InvalidArgumentError(absl::StrCat("--cuda-graphs: '", graphs, "' is not on or off"));
  o.cuda_graphs = graphs == "on";
  o.kernels = flags.GetOr("kernels", o.kernels);
  if (o.kernels != "fused" && o.kernels != "baseline")
    return absl::InvalidArgumentError(
        absl::StrCat("--kernels: '", o.kernels, "' is not fused or baseline"));
  if (o.comm != "auto" && o.comm != "nccl" && o.comm != "gloo")
    return absl::InvalidArgumentError(
        absl::StrCat("--comm: '", o.comm, "' is not auto, nccl or gloo"));
  if (absl::StartsWith(o.device, "null:")) {
    if (!absl::SimpleAtoi(o.device.substr(5), &o.null_step_us) || o.null_step_us < 0 ||
        o.null_step_us > 10'000'000)
      return absl::InvalidArgumentError(absl::StrCat(
          "--device: '", o.device, "': null:US takes microseconds in [0, 10000000]"));
    o.device = "null";
  }
  if (o.device != "cpu" && o.device != "cuda" && o.device != "auto" && o.device != "null")
    return absl::InvalidArgumentError(
        absl::StrCat("--device: '", o.device, "' is not cpu, cuda, auto, null or null:US"));
  o.listen = flags.GetOr("listen", o.listen);
  o.advertise = flags.GetOr("advertise", "");
  GPTOSS_ASSIGN_OR_RETURN(int64_t hint, flags.GetInt("rank-hint", -1));
  if (hint < -1 || hint > 1 << 20)
    return absl::InvalidArgumentError(absl::StrCat("--rank-hint: ", hint, " out of range"));
  o.rank_hint = static_cast<int>(hint);
  GPTOSS_ASSIGN_OR_RETURN(o.kv_cache_mb, flags.GetInt("kv-cache-mb", o.kv_cache_mb));
  if (o.kv_cache_mb < 0 || o.kv_cache_mb > (int64_t{1} << 30))  // 0: the default
    return absl::InvalidArgumentError(
        absl::StrCat("--kv-cache-mb: ", o.kv_cache_mb, " out of range"));
  GPTOSS_ASSIGN_OR_RETURN(int64_t timeout, flags.GetInt("register-timeout-s", o.register_timeout_s));
  if (timeout < 1 || timeout > 86400)
    return absl::InvalidArgumentError(
        absl::StrCat("--register-timeout-s: ", timeout, " not in [1, 86400]"));
  o.register_timeout_s = static_cast<int>(timeout);
  GPTOSS_ASSIGN_OR_RETURN(int64_t collective,
                          flags.GetInt("collective-timeout-s", o.collective_timeout_s));
  if (collective < 1 || collective > 3600)
    return absl::InvalidArgumentError(
        absl::StrCat("--collective-timeout-s: ", collective, " not in [1, 3600]"));
  o.collective_timeout_s = static_cast<int>(collective);
  GPTOSS_ASSIGN_OR_RETURN(o.dispatch_fixed_max_tokens,
                          flags.GetInt("dispatch-fixed-max-tokens", o.dispatch_fixed_max_tokens));
  if (o.dispatch_fixed_max_tokens < 0 || o.dispatch_fixed_max_tokens > (1 << 20))
    return absl::InvalidArgumentError(absl::StrCat("--dispatch-fixed-max-tokens: ",
                                                   o.dispatch_fixed_max_tokens,
                                                   " not in [0, 1048576]"));
  o.plane.secret_file = flags.GetOr("cluster-secret-file", "");
  o.plane.tls_cert = flags.GetOr("internal-tls-cert", "");
  o.plane.tls_key = flags.GetOr("internal-tls-key", "");
  o.plane.tls_ca = flags.GetOr("internal-tls-ca", "");
  return o;
}

// Registers, retrying while the coordinator is unreachable or the call times out (the world may
// take long to complete). Other errors are final.
absl::StatusOr<v1::RegisterResponse> Register(const WorkerOptions& options,
                                              const InternalPlane& plane,
                                              const v1::RegisterRequest& request,
                                              const std::atomic<bool>& stop) {
  auto stub = v1::Coordinator::NewStub(plane.Channel(options.coordinator));
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(options.register_timeout_s);
  bool said_waiting = false;
  while (true) {
    // Short attempts so that a signal is noticed; an attempt that times out while the world is
    // incomplete leaves the coordinator's pending list and the next one rejoins it.
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    plane.Authorize(&ctx);
    v1::RegisterResponse response;
    grpc::Status st = stub->Register(&ctx, request, &response);
    if (st.ok()) return response;
    if (stop) return absl::CancelledError("stopped while registering");
    // RESOURCE_EXHAUSTED: the world is still complete (the coordinator has not yet noticed the
    // rank this process replaces); it will be within its worker timeout.
    const bool full = st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    const bool retry = full || st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                       st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (!retry || std::chrono::steady_clock::now() > give_up)
      return FromGrpcStatus(st, absl::StrCat("registering with ", options.coordinator));
    if (!said_waiting) {
      Log(absl::StrCat("waiting for the coordinator at ", options.coordinator, " (",
                       st.error_message(), ")"));
      said_waiting = true;
    }
    if (full) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

// Everything the rank executes with, kept alive for the process.
struct Shard {
  std::unique_ptr<Ops> ops;
  std::unique_ptr<CoordinatorRendezvous> rendezvous;
  std::unique_ptr<Communicator> comm;  // this rank's link to the others of its world
  std::unique_ptr<Checkpoint> checkpoint;
  ModelWeights host_weights;                   // views into the mmapped checkpoint
  std::optional<OwnedWeights> device_weights;  // uploaded copies (GPU backends)
  std::unique_ptr<Transformer> transformer;
  std::unique_ptr<StepGraphs> graphs;  // CUDA graphs of decode steps
  std::unique_ptr<KvCachePool> pool;
  std::unique_ptr<WorkerMetrics> metrics;  // after the transformer: it reports into them
  std::unique_ptr<metrics::MetricsServer> metrics_server;
};

absl::StatusOr<std::unique_ptr<StepExecutor>> LoadShard(const WorkerOptions& options,
                                                        const ModelConfig& config,
                                                        const ParallelLayout& layout,
                                                        const KvPoolSpec& spec, Shard& shard,
                                                        uint64_t* weight_bytes) {
  GPTOSS_ASSIGN_OR_RETURN(shard.checkpoint, Checkpoint::Open(options.model_dir));
  GPTOSS_ASSIGN_OR_RETURN(shard.host_weights, LoadWeights(*shard.checkpoint, config, layout));
  // What this rank reads of the (mmapped) checkpoint: its shard and the replicated tensors.
  *weight_bytes = ShardBytes(shard.host_weights);
  const ModelWeights* weights = &shard.host_weights;
  if (shard.ops->device() != Device::kCpu) {  // CpuOps reads the mmapped views directly
    GPTOSS_ASSIGN_OR_RETURN(OwnedWeights uploaded, UploadWeights(shard.host_weights, *shard.ops));
    *weight_bytes = uploaded.bytes;
    shard.device_weights = std::move(uploaded);
    weights = &shard.device_weights->weights;
  }
  GPTOSS_ASSIGN_OR_RETURN(shard.transformer,
                          Transformer::Create(config, *weights, layout, shard.ops.get(),
                                              shard.comm.get(),
                                              DispatchOptions{options.dispatch_fixed_max_tokens}));
  GPTOSS_ASSIGN_OR_RETURN(shard.pool, KvCachePool::Create(config, layout, spec, shard.ops.get()));
  GPTOSS_RETURN_IF_ERROR(SelectKernelSet(shard.ops.get(), options.kernels));
  ExecutorGraphs graphs;
  // At N > 1 only over NCCL, and only buckets the fixed-capacity dispatch covers (StepExecutor).
  if (options.cuda_graphs) {
    shard.graphs = CreateStepGraphs(shard.ops.get());  // null on the CPU
    graphs.graphs = shard.graphs.get();
  }
  return StepExecutor::Create(config, layout, shard.ops.get(), shard.transformer.get(),
                              shard.pool.get(), shard.comm.get(), graphs);
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "gptoss-worker: %s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int RunWorkerMain(int argc, char** argv) {
  BlockTerminationSignals();
  absl::StatusOr<WorkerOptions> parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) return Fail(parsed.status());
  const WorkerOptions& options = *parsed;
  if (!options.help.empty()) {
    std::printf("%s", options.help.c_str());
    return 0;
  }
  absl::StatusOr<InternalPlane> plane = InternalPlane::Load(options.plane);
  if (!plane.ok()) return Fail(plane.status());

  const std::string config_path = options.model_dir + "/config.json";
  absl::StatusOr<std::string> config_text = ReadFile(config_path);
  if (!config_text.ok()) return Fail(config_text.status());
  absl::StatusOr<ModelConfig> config = ParseModelConfig(*config_text);
  if (!config.ok())
    return Fail(
        absl::InvalidArgumentError(absl::StrCat(config_path, ": ", config.status().message())));

  Shard shard;
  // --device null: no model, no weights, no communicator; the executor checks each plan and
  // answers at once (step_executor.h). The CPU ops only make the world id.
  const bool null = options.device == "null";
  absl::StatusOr<std::unique_ptr<Ops>> ops = CreateOps(null ? "cpu" : options.device);
  if (!ops.ok()) return Fail(ops.status());
  shard.ops = std::move(*ops);
  const bool cuda = shard.ops->device() == Device::kCuda;
  const std::string device_name = null ? "null" : cuda ? "cuda:0" : "cpu";
  if (options.comm == "nccl" && !cuda)
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--comm nccl needs a CUDA device (this worker runs on the ", device_name, " device)")));

  // Serve the Worker service first: the coordinator polls it right after registration.
  WorkerService service(*plane);
  service.SetStatus("registering");
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // never share a port silently
  builder.AddListeningPort(options.listen, plane->ServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0)
    return Fail(absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen)));
  std::string host = options.advertise;
  if (host.empty()) {
    host = options.listen.substr(0, options.listen.rfind(':'));
    if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  }
  const std::string address = absl::StrCat(host, ":", port);
  // Gloo and the metrics server take a bare host name or address ("[::1]" is gRPC's spelling).
  const std::string world_host = host.size() > 2 && host.front() == '[' && host.back() == ']'
                                     ? host.substr(1, host.size() - 2)
                                     : host;
  Log(absl::StrCat("serving the worker plane on ", address));

  // A signal during registration or loading ends the process cleanly.
  std::atomic<bool> exiting{false}, stop{false};
  std::thread signals([&service, &exiting, &stop] {
    const int sig = WaitForSignal();
    if (!exiting) Log(absl::StrCat("signal ", sig, ", stopping"));
    stop = true;
    service.Shutdown();
  });
  auto finish = [&](int code) {
    exiting = true;
    service.Shutdown();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server->Wait();
    // The signal thread waits for a signal that may never come: wake it.
    kill(getpid(), SIGTERM);
    signals.join();
    return code;
  };

  v1::RegisterRequest request;
  request.set_address(address);
  request.set_device(device_name);
  request.set_backend(null ? "null" : cuda ? "cuda" : "cpu");
  request.set_rank_hint(options.rank_hint);
  const int64_t kv_mb = options.kv_cache_mb > 0 ? options.kv_cache_mb
                        : null                   ? kDefaultKvMbNull
                        : cuda                   ? kDefaultKvMbGpu
                                                 : kDefaultKvMbCpu;
  request.set_kv_cache_bytes(static_cast<uint64_t>(kv_mb) << 20);
  request.set_model_fingerprint(Sha256Hex(*config_text));
  absl::StatusOr<std::string> world_id = NewWorldId(*shard.ops);
  if (!world_id.ok()) return Fail(world_id.status());
  request.set_nccl_unique_id_candidate(*world_id);
  absl::StatusOr<v1::RegisterResponse> registered = Register(options, *plane, request, stop);
  if (!registered.ok()) {
    if (stop) return finish(0);
    Fail(registered.status());
    return finish(1);
  }
  const int rank = static_cast<int>(registered->rank());
  Log(absl::StrCat("rank ", rank, " of ", registered->world_size(), "; loading ",
                   options.model_dir));
  service.SetStatus("loading weights");

  absl::StatusOr<ParallelLayout> layout = ParallelLayout::Create(
      rank, static_cast<int>(registered->world_size()), config->num_attention_heads,
      config->num_key_value_heads, config->num_local_experts);
  KvPoolSpec spec;
  spec.block_size = static_cast<int>(registered->kv_cache().block_size());
  spec.num_full_blocks = static_cast<int>(registered->kv_cache().num_full_blocks());
  spec.num_sliding_blocks = static_cast<int>(registered->kv_cache().num_sliding_blocks());
  uint64_t weight_bytes = 0;
  absl::StatusOr<std::unique_ptr<StepExecutor>> executor =
      absl::FailedPreconditionError("not loaded");
  if (!layout.ok()) {
    executor = layout.status();
  } else if (null) {
    executor = StepExecutor::CreateNull(*config, *layout, spec,
                                        absl::Microseconds(options.null_step_us));
  } else {
    // The world's communicator first: every rank joins it at once, then loads its shard.
    WorldSpec world;
    world.rank = rank;
    world.world_size = layout->world_size;
    world.nccl_unique_id = registered->nccl_unique_id();
    shard.rendezvous = std::make_unique<CoordinatorRendezvous>(*plane, options.coordinator,
                                                               registered->store_prefix());
    world.rendezvous = shard.rendezvous.get();
    world.gloo.hostname = world_host;
    world.gloo.timeout = std::chrono::seconds(options.collective_timeout_s);
    world.staged = options.comm == "gloo";
    absl::StatusOr<std::unique_ptr<Communicator>> comm =
        CreateWorldCommunicator(*shard.ops, world);
    if (!comm.ok()) {
      executor = comm.status();
    } else {
      shard.comm = std::move(*comm);
      executor = LoadShard(options, *config, *layout, spec, shard, &weight_bytes);
    }
  }
  if (!executor.ok()) {
    service.SetFailed(std::string(executor.status().message()));
    Fail(executor.status());
    // Let the coordinator read the failure before the process goes away.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return finish(1);
  }

  v1::ShardInfo info;
  info.set_status_message("ready");
  info.mutable_layout()->CopyFrom(registered->layout());
  info.mutable_kv_cache()->CopyFrom(registered->kv_cache());
  info.set_num_layers(static_cast<uint32_t>(config->num_hidden_layers));
  info.set_weight_bytes(weight_bytes);
  info.set_kv_cache_bytes(shard.pool ? static_cast<uint64_t>(shard.pool->bytes()) : 0);
  info.set_device(device_name);
  if (options.metrics_port >= 0) {
    auto registry = std::make_shared<prometheus::Registry>();
    metrics::AddBuildInfo(*registry, "worker", null ? "null" : cuda ? "cuda" : "cpu");
    shard.metrics = std::make_unique<WorkerMetrics>(registry, rank, layout->world_size,
                                                    config->num_hidden_layers,
                                                    config->num_local_experts,
                                                    options.expert_metrics);
    if (shard.transformer && (options.expert_metrics != ExpertMetrics::kOff ||
                              layout->world_size > 1))  // the exchange figures need it too
      shard.transformer->SetMoeObserver(shard.metrics.get());
    const std::string metrics_host = options.metrics_host.empty() ? world_host : options.metrics_host;
    absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> server =
        metrics::MetricsServer::Start(metrics_host, options.metrics_port, registry);
    if (!server.ok()) {
      Fail(server.status());
      return finish(1);
    }
    shard.metrics_server = std::move(*server);
    Log(absl::StrCat("metrics on http://", metrics_host, ":", shard.metrics_server->port(),
                     "/metrics"));
  }
  service.SetReady(std::move(info), std::move(*executor), rank, config->max_position_embeddings,
                   shard.metrics.get());
  Log(absl::StrCat("rank ", rank, " ready (", spec.num_full_blocks, " full + ",
                   spec.num_sliding_blocks, " sliding KV blocks)"));

  // The communicator watchdog: a step that has waited longer than the collective timeout is
  // stuck on a peer that died or hangs. Gloo's own timeouts end it; a hung NCCL kernel never
  // returns, so the communicator is aborted (the step then fails UNAVAILABLE and this rank
  // leaves its world).
  std::atomic<bool> watching{true};
  std::thread watchdog([&] {
    bool aborted = false;
    while (watching) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const double running = service.RunningStepSeconds();
      if (!aborted && shard.comm != nullptr && running > options.collective_timeout_s) {
        Log(absl::StrCat("a step has run for ", static_cast<int>(running),
                         " s (--collective-timeout-s ", options.collective_timeout_s,
                         "): aborting the communicator"));
        shard.comm->Abort();
        aborted = true;
      }
    }
  });
  service.WaitForStreamEnd();
  watching = false;
  watchdog.join();
  Log("step stream ended, exiting");
  return finish(0);
}

}  // namespace gptoss
