#include "coordinator/worker_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/step_fanout.h"

namespace gptoss {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
// What public clients read when a worker fails; the details go to the log.
constexpr char kWorkerLost[] = "a worker failed or stopped answering; the request was aborted";

}  // namespace

WorkerPool::WorkerPool(const ModelConfig& config, WorkerPoolOptions options)
    : options_(std::move(options)),
      registrar_(config, options_, &world_, [this] { NotifyReadiness(ready()); }),
      monitor_([this] { Monitor(); }) {}

WorkerPool::~WorkerPool() {
  Shutdown();
  if (monitor_.joinable()) monitor_.join();
}

void WorkerPool::SetReadinessCallback(std::function<void(bool)> callback) {
  std::lock_guard<std::mutex> lock(world_.mu);
  readiness_callback_ = std::move(callback);
}

void WorkerPool::NotifyReadiness(bool ready) {
  std::function<void(bool)> callback;
  {
    std::lock_guard<std::mutex> lock(world_.mu);
    callback = readiness_callback_;
  }
  if (callback) callback(ready);
}

int WorkerPool::num_registered() const {
  std::lock_guard<std::mutex> lock(world_.mu);
  return world_.ranks.empty() ? registrar_.NumPendingLocked()
                              : static_cast<int>(world_.ranks.size());
}

bool WorkerPool::ready() const {
  std::lock_guard<std::mutex> lock(world_.mu);
  return world_.phase == WorkerWorld::Phase::kReady;
}

std::optional<KvPoolSpec> WorkerPool::kv_spec() const {
  std::lock_guard<std::mutex> lock(world_.mu);
  return world_.kv_spec;
}

bool WorkerPool::WaitForKvSpec(absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(world_.mu);
  world_.cv.wait_for(lock, absl::ToChronoNanoseconds(timeout),
               [&] { return world_.kv_spec.has_value() || world_.phase == WorkerWorld::Phase::kStopped; });
  return world_.kv_spec.has_value();
}

std::string WorkerPool::backend() const {
  std::lock_guard<std::mutex> lock(world_.mu);
  return world_.backend;
}

void WorkerPool::FillParallelInfo(v1::ParallelInfo* info) const {
  std::lock_guard<std::mutex> lock(world_.mu);
  info->set_world_size(options_.world_size);
  info->set_tensor_parallel(options_.world_size);
  info->set_expert_parallel(options_.world_size);
  for (size_t r = 0; r < world_.ranks.size(); ++r) {
    v1::WorkerInfo* w = info->add_workers();
    w->set_rank(static_cast<uint32_t>(r));
    // No address: public clients learn nothing about the internal network.
    w->set_device(world_.ranks[r].device);
  }
}

// ---------------------------------------------------------------------------------------------
// Bring-up and steps
// ---------------------------------------------------------------------------------------------

void WorkerPool::BringUp(uint64_t generation) {
  std::vector<WorkerWorld::Rank> ranks;
  {
    std::lock_guard<std::mutex> lock(world_.mu);
    if (generation != world_.generation || world_.phase != WorkerWorld::Phase::kStarting) return;
    ranks = world_.ranks;
  }
  const int world = static_cast<int>(ranks.size());
  std::vector<std::unique_ptr<v1::Worker::Stub>> stubs;
  for (const WorkerWorld::Rank& r : ranks) stubs.push_back(v1::Worker::NewStub(options_.plane.Channel(r.address)));
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
    std::unique_lock<std::mutex> lock(world_.mu);
    world_.cv.wait_for(lock, kPollInterval,
                 [&] { return generation != world_.generation || world_.phase == WorkerWorld::Phase::kStopped; });
    if (generation != world_.generation || world_.phase == WorkerWorld::Phase::kStopped) return;
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
    std::lock_guard<std::mutex> lock(world_.mu);
    if (generation != world_.generation || world_.phase != WorkerWorld::Phase::kStarting)
      return absl::CancelledError("world ended during start-up");
    for (const WorkerWorld::Rank& r : world_.ranks) addresses.push_back(r.address);
  }
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts =
      fanout_.Open(addresses, options_.plane);
  {
    std::lock_guard<std::mutex> lock(world_.mu);
    if (generation != world_.generation || world_.phase != WorkerWorld::Phase::kStarting) {
      for (auto& c : contexts) c->TryCancel();
      fanout_.Close();
      return absl::CancelledError("world ended during start-up");
    }
    live_contexts_ = contexts;
    world_.phase = WorkerWorld::Phase::kReady;
  }
  std::fprintf(stderr, "coordinator: all %zu workers ready, serving\n", addresses.size());
  NotifyReadiness(true);
  return absl::OkStatus();
}

void WorkerPool::ResetWorldLocked(uint64_t generation, const std::string& reason) {
  bool was_ready = false, stopped = false;
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts;
  {
    std::lock_guard<std::mutex> lock(world_.mu);
    if (generation != world_.generation) return;  // already reset
    was_ready = world_.phase == WorkerWorld::Phase::kReady;
    stopped = world_.phase == WorkerWorld::Phase::kStopped;
    if (world_.phase != WorkerWorld::Phase::kStopped) world_.phase = WorkerWorld::Phase::kRegistering;
    world_.store.EraseWithPrefix("");  // keys belong to one world
    ++world_.generation;
    world_.ranks.clear();
    step_started_ = {};  // its steps are gone: the watchdog must not time the next world by them
    contexts.swap(live_contexts_);
    world_.cv.notify_all();
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

absl::Status WorkerPool::Launch(const StepPlan& plan) {
  std::lock_guard<std::mutex> step_lock(step_mu_);
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(world_.mu);
    if (world_.phase != WorkerWorld::Phase::kReady) return absl::UnavailableError("no workers are ready");
    generation = world_.generation;
    if (fanout_.in_flight() == 0) step_started_ = std::chrono::steady_clock::now();
  }
  std::string lost;
  absl::Status sent = fanout_.Send(plan, &lost);
  if (!lost.empty()) {  // a rank is gone: the world must re-form
    ResetWorldLocked(generation, lost);
    return absl::UnavailableError(kWorkerLost);
  }
  if (sent.ok()) {
    launched_.push_back(generation);
  } else if (fanout_.in_flight() == 0) {
    std::lock_guard<std::mutex> lock(world_.mu);
    step_started_ = {};  // nothing runs: nothing for the watchdog to time
  }
  return sent;
}

absl::StatusOr<StepResult> WorkerPool::Collect() {
  std::lock_guard<std::mutex> step_lock(step_mu_);
  if (launched_.empty()) return absl::FailedPreconditionError("no step was launched");
  const uint64_t launched = launched_.front();
  launched_.pop_front();
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(world_.mu);
    generation = world_.generation;
  }
  // The world it ran on is gone (and with it the step): a new world never answers it.
  if (launched != generation) return absl::UnavailableError(kWorkerLost);
  std::string lost;
  absl::StatusOr<StepResult> result = fanout_.Receive(&lost);
  {
    std::lock_guard<std::mutex> lock(world_.mu);  // the watchdog looks at the oldest step only
    step_started_ = fanout_.in_flight() > 0 ? std::chrono::steady_clock::now()
                                            : std::chrono::steady_clock::time_point{};
  }
  if (!lost.empty()) {  // a rank is gone or out of step: the world must re-form
    ResetWorldLocked(generation, lost);
    return absl::UnavailableError(kWorkerLost);
  }
  return result;
}

void WorkerPool::Abandon(uint64_t generation, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(world_.mu);
    if (generation != world_.generation) return;
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
    std::vector<WorkerWorld::Rank> ranks;
    uint64_t generation;
    std::chrono::steady_clock::time_point step_started;
    bool bring_up = false;
    {
      std::unique_lock<std::mutex> lock(world_.mu);
      auto new_world = [&] { return world_.phase == WorkerWorld::Phase::kStarting && brought_up_ != world_.generation; };
      world_.cv.wait_for(lock, absl::ToChronoNanoseconds(options_.heartbeat_interval),
                   [&] { return world_.phase == WorkerWorld::Phase::kStopped || new_world(); });
      if (world_.phase == WorkerWorld::Phase::kStopped) return;
      generation = world_.generation;
      if (new_world()) {
        brought_up_ = generation;
        bring_up = true;
      } else if (world_.phase != WorkerWorld::Phase::kReady) {
        continue;
      }
      ranks = world_.ranks;
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
      for (const WorkerWorld::Rank& r : ranks)
        stubs.push_back(v1::Worker::NewStub(options_.plane.Channel(r.address)));
      last_answer.assign(ranks.size(), now);
      watched = generation;
    }
    const std::string silent = Heartbeat(ranks, stubs, last_answer);
    if (!silent.empty()) Abandon(generation, silent);
  }
}

std::string WorkerPool::Heartbeat(const std::vector<WorkerWorld::Rank>& ranks,
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
    std::lock_guard<std::mutex> lock(world_.mu);
    if (world_.phase != WorkerWorld::Phase::kStarting && world_.phase != WorkerWorld::Phase::kReady) return;
    generation = world_.generation;
  }
  Abandon(generation, what);
}

void WorkerPool::Shutdown() {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(world_.mu);
    if (world_.phase == WorkerWorld::Phase::kStopped) return;
    // Stopped at once, so that no registration slips in between (CheckRegistrationLocked).
    world_.phase = WorkerWorld::Phase::kStopped;
    generation = world_.generation;
    // Cancel the streams first so that a step blocked on a dead worker returns.
    for (auto& c : live_contexts_) c->TryCancel();
    world_.cv.notify_all();
  }
  registrar_.FailPending(absl::UnavailableError("coordinator shutting down"));
  std::lock_guard<std::mutex> step_lock(step_mu_);
  ResetWorldLocked(generation, "coordinator shutting down");
  world_.store.Close();  // blocked Store* calls end now
}

}  // namespace gptoss
