#include "coordinator/worker_pool.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "coordinator/kv_sizing.h"
#include "coordinator/step_fanout.h"
#include "kernels/core/status.h"
#include "worker/common/status_mapping.h"
#include "worker/common/step_plan_proto.h"
#include "worker/model/parallel_layout.h"

namespace gptoss {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr size_t kMaxAddressBytes = 261;  // a 255-byte DNS name, ':' and a port
constexpr size_t kMaxDeviceBytes = 256;
constexpr size_t kNcclUniqueIdBytes = 128;
// What public clients read when a worker fails; the details go to the log.
constexpr char kWorkerLost[] = "a worker failed or stopped answering; the request was aborted";

// "host:port" or "[v6]:port" with a port in 1..65535; the host is a DNS name or an address
// (these strings reach logs and channel targets: nothing else is allowed in them).
bool IsHostPort(const std::string& address) {
  if (address.size() > kMaxAddressBytes) return false;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 1 || port > 65535)
    return false;
  std::string_view host(address.data(), colon);
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  for (unsigned char c : host) {
    const bool ok = std::isalnum(c) || c == '.' || c == '-' || (bracketed && c == ':');
    if (!ok) return false;
  }
  return true;
}

bool IsPrintable(const std::string& s, size_t max_bytes) {
  if (s.size() > max_bytes) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

DType KvDType(const std::string& backend) {
  // The KV cache has the activation dtype: F32 on CpuOps, BF16 on CudaOps (and on the null
  // device, which stands in for a GPU).
  return backend == "cuda" || backend == "null" ? DType::kBF16 : DType::kF32;
}

void FillLayout(const ParallelLayout& layout, v1::ParallelLayoutInfo* out) {
  out->set_rank(layout.rank);
  out->set_world_size(layout.world_size);
  out->set_first_head(layout.first_head());
  out->set_local_heads(layout.local_heads());
  out->set_first_kv_head(layout.first_kv_head());
  out->set_local_kv_heads(layout.local_kv_heads());
  out->set_first_expert(layout.first_expert());
  out->set_local_experts(layout.local_experts());
}

}  // namespace

// A Register call waiting for the rest of the world. A cancelled call (the worker gave up or
// died) leaves the pending list.
class WorkerPool::RegisterReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit RegisterReactor(WorkerPool* pool) : pool_(pool) {}
  void OnCancel() override { pool_->RemoveRegistrant(this); }
  void OnDone() override { delete this; }

 private:
  WorkerPool* const pool_;
};

WorkerPool::WorkerPool(const ModelConfig& config, WorkerPoolOptions options)
    : config_(config), options_(std::move(options)), monitor_([this] { Monitor(); }) {}

WorkerPool::~WorkerPool() {
  Shutdown();
  if (monitor_.joinable()) monitor_.join();
}

void WorkerPool::SetReadinessCallback(std::function<void(bool)> callback) {
  std::lock_guard<std::mutex> lock(mu_);
  readiness_callback_ = std::move(callback);
}

void WorkerPool::NotifyReadiness(bool ready) {
  std::function<void(bool)> callback;
  {
    std::lock_guard<std::mutex> lock(mu_);
    callback = readiness_callback_;
  }
  if (callback) callback(ready);
}

int WorkerPool::num_registered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(ranks_.empty() ? pending_.size() : ranks_.size());
}

bool WorkerPool::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return phase_ == Phase::kReady;
}

std::optional<KvPoolSpec> WorkerPool::kv_spec() const {
  std::lock_guard<std::mutex> lock(mu_);
  return kv_spec_;
}

bool WorkerPool::WaitForKvSpec(absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
               [&] { return kv_spec_.has_value() || phase_ == Phase::kStopped; });
  return kv_spec_.has_value();
}

std::string WorkerPool::backend() const {
  std::lock_guard<std::mutex> lock(mu_);
  return backend_;
}

void WorkerPool::FillParallelInfo(v1::ParallelInfo* info) const {
  std::lock_guard<std::mutex> lock(mu_);
  info->set_world_size(options_.world_size);
  info->set_tensor_parallel(options_.world_size);
  info->set_expert_parallel(options_.world_size);
  for (size_t r = 0; r < ranks_.size(); ++r) {
    v1::WorkerInfo* w = info->add_workers();
    w->set_rank(static_cast<uint32_t>(r));
    // No address: public clients learn nothing about the internal network.
    w->set_device(ranks_[r].device);
  }
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

absl::Status WorkerPool::CheckRegistrationLocked(const v1::RegisterRequest& req) const {
  if (phase_ == Phase::kStopped) return absl::UnavailableError("coordinator is shutting down");
  if (phase_ != Phase::kRegistering)
    return absl::ResourceExhaustedError(
        absl::StrCat("the world of ", options_.world_size, " workers is already complete"));
  if (!IsHostPort(req.address()))
    return absl::InvalidArgumentError("address: not host:port");
  if (!IsPrintable(req.device(), kMaxDeviceBytes))
    return absl::InvalidArgumentError(absl::StrCat(
        "device: must be at most ", kMaxDeviceBytes, " printable ASCII characters"));
  if (req.backend() != "cpu" && req.backend() != "cuda" && req.backend() != "null")
    return absl::InvalidArgumentError("backend: not one of \"cpu\", \"cuda\", \"null\"");
  if (req.kv_cache_bytes() > options_.max_kv_cache_bytes)
    return absl::InvalidArgumentError(absl::StrCat("kv_cache_bytes: ", req.kv_cache_bytes(),
                                                   " is more than any device holds (limit ",
                                                   options_.max_kv_cache_bytes, ")"));
  if (!req.nccl_unique_id_candidate().empty() &&
      req.nccl_unique_id_candidate().size() != kNcclUniqueIdBytes)
    return absl::InvalidArgumentError(
        absl::StrCat("nccl_unique_id_candidate: must be ", kNcclUniqueIdBytes, " bytes"));
  // Constant time, and neither fingerprint in the message: a caller learns only "no".
  if (!ConstantTimeEquals(req.model_fingerprint(), options_.model_fingerprint))
    return absl::FailedPreconditionError(
        "model_fingerprint: the worker's config.json differs from the coordinator's");
  if (req.rank_hint() < -1 || req.rank_hint() >= options_.world_size)
    return absl::InvalidArgumentError(
        absl::StrCat("rank_hint: ", req.rank_hint(), " not in [-1, ", options_.world_size, ")"));
  for (const Registrant& p : pending_) {
    if (p.request.backend() != req.backend())
      return absl::FailedPreconditionError(absl::StrCat("backend: '", req.backend(),
                                                        "' differs from rank candidates using '",
                                                        p.request.backend(), "'"));
    if (req.rank_hint() >= 0 && p.request.rank_hint() == req.rank_hint())
      return absl::AlreadyExistsError(
          absl::StrCat("rank_hint: rank ", req.rank_hint(), " is taken"));
    if (p.request.address() == req.address())
      return absl::AlreadyExistsError("address: already registered");
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* WorkerPool::Register(grpc::CallbackServerContext* context,
                                               const v1::RegisterRequest* request,
                                               v1::RegisterResponse* response) {
  auto* reactor = new RegisterReactor(this);
  if (absl::Status auth = options_.plane.Check(*context); !auth.ok()) {
    std::fprintf(stderr, "coordinator: refused a registration from %s: %s\n",
                 ForLog(context->peer()).c_str(), std::string(auth.message()).c_str());
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  std::vector<std::pair<RegisterReactor*, grpc::Status>> answers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::Status status = CheckRegistrationLocked(*request);
    if (!status.ok()) {
      std::fprintf(stderr, "coordinator: rejected worker %s: %s\n",
                   ForLog(request->address()).c_str(), std::string(status.message()).c_str());
      answers.emplace_back(reactor, ToGrpcStatus(status));
    } else {
      pending_.push_back({reactor, *request, response});
      std::fprintf(stderr, "coordinator: worker %s (%s) registered, %zu/%d\n",
                   request->address().c_str(), request->device().c_str(), pending_.size(),
                   options_.world_size);
      if (static_cast<int>(pending_.size()) == options_.world_size) CompleteWorldLocked();
    }
  }
  for (auto& [r, status] : answers) r->Finish(status);
  if (answers.empty()) NotifyReadiness(ready());  // the count of registered workers changed
  return reactor;
}

void WorkerPool::RemoveRegistrant(RegisterReactor* reactor) {
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->reactor != reactor) continue;
      std::fprintf(stderr, "coordinator: worker %s left before the world was complete\n",
                   it->request.address().c_str());
      pending_.erase(it);
      found = true;
      break;
    }
  }
  if (found) {
    reactor->Finish(ToGrpcStatus(absl::CancelledError("registration cancelled")));
    NotifyReadiness(ready());
  }
}

void WorkerPool::CompleteWorldLocked() {
  const int world = options_.world_size;
  std::vector<Registrant> regs;
  regs.swap(pending_);
  auto fail_all = [&](const absl::Status& status) {
    std::fprintf(stderr, "coordinator: world rejected: %s\n",
                 std::string(status.message()).c_str());
    // Finish() outside the reactor's own callbacks is fine; no lock is taken by it.
    for (Registrant& r : regs) r.reactor->Finish(ToGrpcStatus(status));
  };

  // Hinted ranks first, then the others in registration order.
  std::vector<int> rank_of(regs.size(), -1);
  std::vector<bool> taken(world, false);
  for (size_t i = 0; i < regs.size(); ++i) {
    const int hint = regs[i].request.rank_hint();
    if (hint >= 0) rank_of[i] = hint, taken[hint] = true;
  }
  int next = 0;
  for (size_t i = 0; i < regs.size(); ++i) {
    if (rank_of[i] >= 0) continue;
    while (taken[next]) ++next;
    rank_of[i] = next;
    taken[next] = true;
  }

  std::vector<ParallelLayout> layouts(world);
  for (int r = 0; r < world; ++r) {
    absl::StatusOr<ParallelLayout> layout =
        ParallelLayout::Create(r, world, config_.num_attention_heads, config_.num_key_value_heads,
                               config_.num_local_experts);
    if (!layout.ok()) return fail_all(layout.status());
    layouts[r] = *layout;
  }

  const std::string backend = regs[0].request.backend();
  const DType dtype = KvDType(backend);
  std::vector<uint64_t> offers;
  for (const Registrant& r : regs) offers.push_back(r.request.kv_cache_bytes());
  KvSizingOptions sizing;
  sizing.block_size = options_.block_size;
  sizing.num_full_blocks = options_.num_full_blocks;
  sizing.num_sliding_blocks = options_.num_sliding_blocks;
  sizing.max_num_seqs = options_.max_num_seqs;
  sizing.max_batch_tokens = options_.max_batch_tokens;
  absl::StatusOr<KvPoolSpec> sized =
      SizeKvPools(config_, layouts[0], dtype, offers, sizing, kv_spec_);
  if (!sized.ok()) return fail_all(sized.status());
  const KvPoolSpec spec = *sized;
  if (!kv_spec_) {
    kv_spec_ = spec;
    std::fprintf(stderr,
                 "coordinator: KV cache: %d full + %d sliding blocks of %d tokens per rank\n",
                 spec.num_full_blocks, spec.num_sliding_blocks, spec.block_size);
  }

  ranks_.assign(world, Rank{});
  std::string nccl_id;
  for (size_t i = 0; i < regs.size(); ++i) {
    ranks_[rank_of[i]] = {regs[i].request.address(), regs[i].request.device()};
    if (rank_of[i] == 0) nccl_id = regs[i].request.nccl_unique_id_candidate();
  }
  for (size_t i = 0; i < regs.size(); ++i) {
    v1::RegisterResponse* resp = regs[i].response;
    const int rank = rank_of[i];
    resp->set_rank(rank);
    resp->set_world_size(world);
    FillLayout(layouts[rank], resp->mutable_layout());
    resp->mutable_kv_cache()->set_block_size(spec.block_size);
    resp->mutable_kv_cache()->set_num_full_blocks(spec.num_full_blocks);
    resp->mutable_kv_cache()->set_num_sliding_blocks(spec.num_sliding_blocks);
    resp->set_nccl_unique_id(nccl_id);
    resp->set_store_prefix(absl::StrCat("world", generation_, "/"));
    for (const Rank& r : ranks_) resp->add_worker_addresses(r.address);
  }
  backend_ = backend;
  phase_ = Phase::kStarting;
  cv_.notify_all();
  // The monitor thread brings the world up (cv_ wakes it).
  for (Registrant& r : regs) r.reactor->Finish(grpc::Status::OK);
}

// ---------------------------------------------------------------------------------------------
// Bring-up and steps
// ---------------------------------------------------------------------------------------------

void WorkerPool::BringUp(uint64_t generation) {
  std::vector<Rank> ranks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation != generation_ || phase_ != Phase::kStarting) return;
    ranks = ranks_;
  }
  const int world = static_cast<int>(ranks.size());
  std::vector<std::unique_ptr<v1::Worker::Stub>> stubs;
  for (const Rank& r : ranks) stubs.push_back(v1::Worker::NewStub(options_.plane.Channel(r.address)));
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + absl::ToChronoNanoseconds(options_.ready_timeout);
  std::vector<bool> is_ready(world, false);
  std::vector<std::chrono::steady_clock::time_point> last_seen(world, start);
  std::string failure;
  while (failure.empty()) {
    int num_ready = 0;
    for (int r = 0; r < world; ++r) {
      if (is_ready[r]) {
        ++num_ready;
        continue;
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      options_.plane.Authorize(&ctx);
      v1::ShardInfo info;
      grpc::Status st = stubs[r]->GetShardInfo(&ctx, v1::GetShardInfoRequest(), &info);
      const auto now = std::chrono::steady_clock::now();
      if (st.ok()) {
        last_seen[r] = now;
        if (absl::StartsWith(info.status_message(), "failed")) {
          failure = absl::StrCat("rank ", r, " (", ranks[r].address, ") ", info.status_message());
          break;
        }
        if (info.ready()) {
          is_ready[r] = true;
          ++num_ready;
          std::fprintf(stderr, "coordinator: rank %d ready (%s, %.1f MB weights)\n", r,
                       info.device().c_str(), info.weight_bytes() / 1e6);
        }
      } else if (now - last_seen[r] > absl::ToChronoNanoseconds(options_.unreachable_grace)) {
        failure = absl::StrCat("rank ", r, " (", ranks[r].address,
                               ") is unreachable: ", st.error_message());
        break;
      }
    }
    if (!failure.empty() || num_ready == world) break;
    if (std::chrono::steady_clock::now() > deadline) {
      failure = "workers did not become ready within the ready timeout";
      break;
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kPollInterval,
                 [&] { return generation != generation_ || phase_ == Phase::kStopped; });
    if (generation != generation_ || phase_ == Phase::kStopped) return;
  }

  std::lock_guard<std::mutex> step_lock(step_mu_);
  if (failure.empty()) {
    absl::Status opened = OpenStreams(generation);
    if (opened.ok()) return;
    failure = std::string(opened.message());
  }
  ResetWorldLocked(generation, failure);
}

absl::Status WorkerPool::OpenStreams(uint64_t generation) {  // step_mu_ held by the caller
  std::vector<std::string> addresses;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation != generation_ || phase_ != Phase::kStarting)
      return absl::CancelledError("world ended during start-up");
    for (const Rank& r : ranks_) addresses.push_back(r.address);
  }
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts =
      fanout_.Open(addresses, options_.plane);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation != generation_ || phase_ != Phase::kStarting) {
      for (auto& c : contexts) c->TryCancel();
      fanout_.Close();
      return absl::CancelledError("world ended during start-up");
    }
    live_contexts_ = contexts;
    phase_ = Phase::kReady;
  }
  std::fprintf(stderr, "coordinator: all %zu workers ready, serving\n", addresses.size());
  NotifyReadiness(true);
  return absl::OkStatus();
}

void WorkerPool::ResetWorldLocked(uint64_t generation, const std::string& reason) {
  bool was_ready = false, stopped = false;
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation != generation_) return;  // already reset
    was_ready = phase_ == Phase::kReady;
    stopped = phase_ == Phase::kStopped;
    if (phase_ != Phase::kStopped) phase_ = Phase::kRegistering;
    store_.EraseWithPrefix("");  // keys belong to one world
    ++generation_;
    ranks_.clear();
    contexts.swap(live_contexts_);
    cv_.notify_all();
  }
  if (stopped)
    std::fprintf(stderr, "coordinator: closing the workers' step streams\n");
  else
    std::fprintf(stderr, "coordinator: worker world reset: %s; waiting for workers to register\n",
                 reason.c_str());
  for (auto& c : contexts) c->TryCancel();
  fanout_.Close();  // a new world's streams start from nothing
  if (was_ready) NotifyReadiness(false);
}

absl::StatusOr<StepResult> WorkerPool::RunStep(const StepPlan& plan) {
  std::lock_guard<std::mutex> step_lock(step_mu_);
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ != Phase::kReady) return absl::UnavailableError("no workers are ready");
    generation = generation_;
    step_started_ = std::chrono::steady_clock::now();
  }
  struct StepClock {  // the watchdog only looks at steps in flight
    WorkerPool* pool;
    ~StepClock() {
      std::lock_guard<std::mutex> lock(pool->mu_);
      pool->step_started_ = {};
    }
  } step_clock{this};
  std::string lost;
  absl::StatusOr<StepResult> result = fanout_.Run(plan, &lost);
  if (!lost.empty()) {  // a rank is gone or out of step: the world must re-form
    ResetWorldLocked(generation, lost);
    return absl::UnavailableError(kWorkerLost);
  }
  return result;
}

void WorkerPool::Abandon(uint64_t generation, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation != generation_) return;
    std::fprintf(stderr, "coordinator: %s; abandoning the worker world\n", reason.c_str());
    for (auto& c : live_contexts_) c->TryCancel();  // a step blocked on the rank returns now
  }
  std::lock_guard<std::mutex> step_lock(step_mu_);
  ResetWorldLocked(generation, reason);
}

void WorkerPool::Monitor() {
  uint64_t watched = 0;  // the generation the stubs below belong to
  std::vector<std::unique_ptr<v1::Worker::Stub>> stubs;
  std::vector<std::chrono::steady_clock::time_point> last_answer;
  while (true) {
    std::vector<Rank> ranks;
    uint64_t generation;
    std::chrono::steady_clock::time_point step_started;
    bool bring_up = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto new_world = [&] { return phase_ == Phase::kStarting && brought_up_ != generation_; };
      cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.heartbeat_interval),
                   [&] { return phase_ == Phase::kStopped || new_world(); });
      if (phase_ == Phase::kStopped) return;
      generation = generation_;
      if (new_world()) {
        brought_up_ = generation;
        bring_up = true;
      } else if (phase_ != Phase::kReady) {
        continue;
      }
      ranks = ranks_;
      step_started = step_started_;
    }
    if (bring_up) {
      BringUp(generation);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (step_started != std::chrono::steady_clock::time_point{} &&
        now - step_started > absl::ToChronoNanoseconds(options_.step_timeout)) {
      Abandon(generation, absl::StrCat("a step ran longer than the step timeout (",
                                       absl::FormatDuration(options_.step_timeout), ")"));
      continue;
    }
    if (watched != generation) {
      stubs.clear();
      for (const Rank& r : ranks)
        stubs.push_back(v1::Worker::NewStub(options_.plane.Channel(r.address)));
      last_answer.assign(ranks.size(), now);
      watched = generation;
    }
    const std::string silent = Heartbeat(ranks, stubs, last_answer);
    if (!silent.empty()) Abandon(generation, silent);
  }
}

std::string WorkerPool::Heartbeat(const std::vector<Rank>& ranks,
                                  std::vector<std::unique_ptr<v1::Worker::Stub>>& stubs,
                                  std::vector<std::chrono::steady_clock::time_point>& last_answer) {
  // All ranks at once, so that detection time does not grow with the world size.
  struct Call {
    grpc::ClientContext context;
    v1::ShardInfo info;
    grpc::Status status;
  };
  const auto deadline = std::chrono::system_clock::now() +
                        absl::ToChronoNanoseconds(std::max(absl::Milliseconds(200),
                                                           options_.worker_timeout / 2));
  std::vector<std::unique_ptr<Call>> calls;
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = ranks.size();
  const v1::GetShardInfoRequest request;
  for (size_t r = 0; r < ranks.size(); ++r) {
    calls.push_back(std::make_unique<Call>());
    Call* call = calls.back().get();
    call->context.set_deadline(deadline);
    options_.plane.Authorize(&call->context);
    stubs[r]->async()->GetShardInfo(&call->context, &request, &call->info,
                                    [&, call](grpc::Status status) {
                                      std::lock_guard<std::mutex> lock(mu);
                                      call->status = std::move(status);
                                      if (--pending == 0) cv.notify_all();
                                    });
  }
  {
    // Every call ends by its deadline (gRPC enforces it), so this wait is bounded.
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
  }
  const auto after = std::chrono::steady_clock::now();
  for (size_t r = 0; r < ranks.size(); ++r) {
    const Call& call = *calls[r];
    if (call.status.ok() && call.info.ready()) {
      last_answer[r] = after;
    } else if (after - last_answer[r] > absl::ToChronoNanoseconds(options_.worker_timeout)) {
      return absl::StrCat("rank ", r, " (", ranks[r].address, ") did not answer for ",
                          absl::FormatDuration(options_.worker_timeout), ": ",
                          call.status.ok() ? "not ready" : call.status.error_message());
    }
  }
  return "";
}

void WorkerPool::WorkerExited(const std::string& what) {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ != Phase::kStarting && phase_ != Phase::kReady) return;
    generation = generation_;
  }
  Abandon(generation, what);
}

void WorkerPool::Shutdown() {
  std::vector<Registrant> pending;
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ == Phase::kStopped) return;
    // Stopped at once, so that no registration slips in between (CheckRegistrationLocked).
    phase_ = Phase::kStopped;
    generation = generation_;
    pending.swap(pending_);
    // Cancel the streams first so that a step blocked on a dead worker returns.
    for (auto& c : live_contexts_) c->TryCancel();
    cv_.notify_all();
  }
  for (Registrant& r : pending)
    r.reactor->Finish(ToGrpcStatus(absl::UnavailableError("coordinator shutting down")));
  std::lock_guard<std::mutex> step_lock(step_mu_);
  ResetWorldLocked(generation, "coordinator shutting down");
  store_.Close();  // blocked Store* calls end now
}

// ---------------------------------------------------------------------------------------------
// Gloo rendezvous store
// ---------------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* WorkerPool::StoreSet(grpc::CallbackServerContext* context,
                                               const v1::StoreSetRequest* request,
                                               v1::StoreSetResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = options_.plane.Check(*context);
  if (status.ok()) {
    // Only the forming or current world may write, under its own prefix: a late writer from a
    // finished world cannot fill the store for every world after it.
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ != Phase::kStarting && phase_ != Phase::kReady)
      status = absl::FailedPreconditionError("no world is forming");
    else if (!absl::StartsWith(request->key(), absl::StrCat("world", generation_, "/")))
      status = absl::InvalidArgumentError("key: not under this world's store_prefix");
  }
  if (status.ok()) status = store_.Set(request->key(), request->value());
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* WorkerPool::StoreGet(grpc::CallbackServerContext* context,
                                               const v1::StoreGetRequest* request,
                                               v1::StoreGetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = options_.plane.Check(*context); !auth.ok()) {
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  store_.Get({request->key()}, std::chrono::milliseconds(request->timeout_ms()),
             [reactor, response](absl::StatusOr<std::string> value) {
               if (value.ok()) response->set_value(std::move(*value));
               reactor->Finish(ToGrpcStatus(value.status()));
             });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerPool::StoreWait(grpc::CallbackServerContext* context,
                                                const v1::StoreWaitRequest* request,
                                                v1::StoreWaitResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = options_.plane.Check(*context); !auth.ok()) {
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  store_.Get({request->keys().begin(), request->keys().end()},
             std::chrono::milliseconds(request->timeout_ms()),
             [reactor](absl::StatusOr<std::string> value) {
               reactor->Finish(ToGrpcStatus(value.status()));
             });
  return reactor;
}

}  // namespace gptoss
