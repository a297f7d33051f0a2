#include "coordinator/worker_registrar.h"

#include <cctype>
#include <cstdio>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "coordinator/kv_sizing.h"
#include "coordinator/step_fanout.h"
#include "worker/common/status_mapping.h"
#include "worker/model/parallel_layout.h"

namespace gptoss {
namespace {

constexpr size_t kMaxAddressBytes = 261;  // a 255-byte DNS name, ':' and a port
constexpr size_t kMaxDeviceBytes = 256;
constexpr size_t kNcclUniqueIdBytes = 128;

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
class WorkerRegistrar::RegisterReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit RegisterReactor(WorkerRegistrar* registrar) : registrar_(registrar) {}
  void OnCancel() override { registrar_->RemoveRegistrant(this); }
  void OnDone() override { delete this; }

 private:
  WorkerRegistrar* const registrar_;
};

WorkerRegistrar::WorkerRegistrar(const ModelConfig& config, const WorkerPoolOptions& options,
                                 WorkerWorld* world, std::function<void()> on_change)
    : config_(config), options_(options), world_(world), on_change_(std::move(on_change)) {}

int WorkerRegistrar::NumPendingLocked() const { return static_cast<int>(pending_.size()); }

void WorkerRegistrar::FailPending(const absl::Status& status) {
  std::vector<Registrant> pending;
  {
    std::lock_guard<std::mutex> lock(world_->mu);
    pending.swap(pending_);
  }
  for (Registrant& r : pending) r.reactor->Finish(ToGrpcStatus(status));
}

absl::Status WorkerRegistrar::CheckRegistrationLocked(const v1::RegisterRequest& req) const {
  if (world_->phase == WorkerWorld::Phase::kStopped) return absl::UnavailableError("coordinator is shutting down");
  if (world_->phase != WorkerWorld::Phase::kRegistering)
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

grpc::ServerUnaryReactor* WorkerRegistrar::Register(grpc::CallbackServerContext* context,
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
    std::lock_guard<std::mutex> lock(world_->mu);
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
  if (answers.empty()) on_change_();  // the count of registered workers changed
  return reactor;
}

void WorkerRegistrar::RemoveRegistrant(RegisterReactor* reactor) {
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(world_->mu);
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
    on_change_();
  }
}

void WorkerRegistrar::CompleteWorldLocked() {
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
      SizeKvPools(config_, layouts[0], dtype, offers, sizing, world_->kv_spec);
  if (!sized.ok()) return fail_all(sized.status());
  const KvPoolSpec spec = *sized;
  if (!world_->kv_spec) {
    world_->kv_spec = spec;
    std::fprintf(stderr,
                 "coordinator: KV cache: %d full + %d sliding blocks of %d tokens per rank\n",
                 spec.num_full_blocks, spec.num_sliding_blocks, spec.block_size);
  }

  world_->ranks.assign(world, WorkerWorld::Rank{});
  std::string nccl_id;
  for (size_t i = 0; i < regs.size(); ++i) {
    world_->ranks[rank_of[i]] = {regs[i].request.address(), regs[i].request.device()};
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
    resp->set_store_prefix(world_->StorePrefixLocked());
    for (const WorkerWorld::Rank& r : world_->ranks) resp->add_worker_addresses(r.address);
  }
  world_->backend = backend;
  world_->phase = WorkerWorld::Phase::kStarting;
  world_->cv.notify_all();
  // The monitor thread brings the world up (cv_ wakes it).
  for (Registrant& r : regs) r.reactor->Finish(grpc::Status::OK);
}

// ---------------------------------------------------------------------------------------------
// Gloo rendezvous store
// ---------------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* WorkerRegistrar::StoreSet(grpc::CallbackServerContext* context,
                                               const v1::StoreSetRequest* request,
                                               v1::StoreSetResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = options_.plane.Check(*context);
  if (status.ok()) {
    // Only the forming or current world may write, under its own prefix: a late writer from a
    // finished world cannot fill the store for every world after it.
    std::lock_guard<std::mutex> lock(world_->mu);
    if (world_->phase != WorkerWorld::Phase::kStarting && world_->phase != WorkerWorld::Phase::kReady)
      status = absl::FailedPreconditionError("no world is forming");
    else if (!absl::StartsWith(request->key(), world_->StorePrefixLocked()))
      status = absl::InvalidArgumentError("key: not under this world's store_prefix");
  }
  if (status.ok()) status = world_->store.Set(request->key(), request->value());
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* WorkerRegistrar::StoreGet(grpc::CallbackServerContext* context,
                                               const v1::StoreGetRequest* request,
                                               v1::StoreGetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = options_.plane.Check(*context); !auth.ok()) {
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  world_->store.Get({request->key()}, std::chrono::milliseconds(request->timeout_ms()),
             [reactor, response](absl::StatusOr<std::string> value) {
               if (value.ok()) response->set_value(std::move(*value));
               reactor->Finish(ToGrpcStatus(value.status()));
             });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerRegistrar::StoreWait(grpc::CallbackServerContext* context,
                                                const v1::StoreWaitRequest* request,
                                                v1::StoreWaitResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = options_.plane.Check(*context); !auth.ok()) {
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  world_->store.Get({request->keys().begin(), request->keys().end()},
             std::chrono::milliseconds(request->timeout_ms()),
             [reactor](absl::StatusOr<std::string> value) {
               reactor->Finish(ToGrpcStatus(value.status()));
             });
  return reactor;
}

}  // namespace gptoss
