#include "worker/worker_service.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "worker/common/status_mapping.h"
#include "worker/common/step_plan_proto.h"

namespace gptoss {

// One step stream. Reads a plan, has the step thread execute it, writes the result, reads the
// next: at most one gRPC operation in flight, so no queue is needed on this side.
class WorkerService::StepReactor final
    : public grpc::ServerBidiReactor<v1::StepPlan, v1::StepResult> {
 public:
  explicit StepReactor(WorkerService* service) : service_(service) {
    // Plans are incremental per stream (step_plan_delta.h): a new stream starts from nothing.
    // Posted, so that it runs on the step thread before this stream's first plan.
    service_->Post([service] {
      service->decoder_.Reset();
      service->previous_step_end_ = {};
    });
    StartRead(&plan_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the coordinator closed its side (or went away): the stream is over
      Finish(grpc::Status::OK);
      return;
    }
    const bool posted = service_->Post([this] {
      service_->Execute(plan_, &result_);
      StartWrite(&result_);
    });
    // A plan that arrives while the worker shuts down would never be answered, and the server
    // would wait for this stream forever: end it now.
    if (!posted) Finish(ToGrpcStatus(absl::UnavailableError("worker is shutting down")));
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(ToGrpcStatus(absl::CancelledError("coordinator went away")));
      return;
    }
    // UNAVAILABLE is a communicator that broke (a peer died or hung): this world cannot run
    // another step. Leaving it ends the stream, so the coordinator re-forms the world at once.
    if (result_.has_error() &&
        result_.error().code() == static_cast<int>(absl::StatusCode::kUnavailable)) {
      service_->SetFailed(result_.error().message());
      Finish(ToGrpcStatus(absl::UnavailableError("this rank left its broken world")));
      return;
    }
    StartRead(&plan_);
  }

  void OnDone() override {
    service_->OnStreamEnded();
    delete this;
  }

 private:
  WorkerService* const service_;
  v1::StepPlan plan_;
  v1::StepResult result_;
};

WorkerService::WorkerService(InternalPlane plane)
    : plane_(std::move(plane)), thread_([this] { StepThread(); }) {
  info_.set_status_message("starting");
}

WorkerService::~WorkerService() {
  Shutdown();
  if (thread_.joinable()) thread_.join();
}

void WorkerService::SetStatus(const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  info_.set_status_message(message);
}

void WorkerService::SetReady(v1::ShardInfo info, std::unique_ptr<StepExecutor> executor, int rank,
                             int max_positions, WorkerMetrics* metrics) {
  std::lock_guard<std::mutex> lock(mu_);
  metrics_ = metrics;
  info_ = std::move(info);
  info_.set_ready(true);
  executor_ = std::move(executor);
  rank_ = rank;
  max_positions_ = max_positions;
}

void WorkerService::SetFailed(const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  info_.set_ready(false);
  info_.set_status_message(absl::StrCat("failed: ", message));
}

void WorkerService::WaitForStreamEnd() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stream_ended_ || shutdown_; });
}

void WorkerService::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

void WorkerService::OnStreamEnded() {
  std::lock_guard<std::mutex> lock(mu_);
  stream_active_ = false;
  stream_ended_ = true;
  cv_.notify_all();
}

grpc::ServerUnaryReactor* WorkerService::GetShardInfo(grpc::CallbackServerContext* context,
                                                      const v1::GetShardInfoRequest* /*request*/,
                                                      v1::ShardInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Status auth = plane_.Check(*context);
  if (auth.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    *response = info_;
  }
  reactor->Finish(ToGrpcStatus(auth));
  return reactor;
}

grpc::ServerBidiReactor<v1::StepPlan, v1::StepResult>* WorkerService::StepStream(
    grpc::CallbackServerContext* context) {
  absl::Status refusal = plane_.Check(*context);
  if (refusal.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!info_.ready())
      refusal = absl::FailedPreconditionError(
          absl::StrCat("worker is not ready: ", info_.status_message()));
    else if (stream_active_)
      refusal = absl::FailedPreconditionError("a step stream is already active");
    else
      stream_active_ = true;
  }
  if (!refusal.ok()) {
    // A reactor that only refuses: finish at once, never touch the service's stream state.
    class Refusal final : public grpc::ServerBidiReactor<v1::StepPlan, v1::StepResult> {
     public:
      explicit Refusal(const absl::Status& why) { Finish(ToGrpcStatus(why)); }
      void OnDone() override { delete this; }
    };
    return new Refusal(refusal);
  }
  return new StepReactor(this);
}

double WorkerService::RunningStepSeconds() const {
  const int64_t started = step_started_ns_;
  if (started == 0) return 0.0;
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  return std::chrono::duration<double>(std::chrono::steady_clock::duration(now - started)).count();
}

bool WorkerService::Post(std::function<void()> job) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return false;
  jobs_.push_back(std::move(job));
  cv_.notify_all();
  return true;
}

void WorkerService::StepThread() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return shutdown_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // shutdown with nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

void WorkerService::Execute(const v1::StepPlan& proto, v1::StepResult* result) {
  const auto start = std::chrono::steady_clock::now();
  result->Clear();
  StepExecutor* executor;
  WorkerMetrics* metrics;
  int max_positions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    executor = executor_.get();
    metrics = metrics_;
    max_positions = max_positions_;
    result->set_rank(static_cast<uint32_t>(rank_));
  }
  auto fail = [&](const absl::Status& status) {
    const uint32_t rank = result->rank();
    result->Clear();
    result->set_step_id(proto.step_id());
    result->set_rank(rank);
    result->mutable_error()->set_code(static_cast<int>(status.code()));
    result->mutable_error()->set_message(std::string(status.message()));
  };
  if (executor == nullptr) return fail(absl::FailedPreconditionError("worker is not ready"));
  absl::StatusOr<StepPlan> plan = decoder_.Decode(proto, max_positions);
  if (!plan.ok()) return fail(plan.status());
  step_started_ns_ = std::chrono::steady_clock::now().time_since_epoch().count() | 1;
  absl::StatusOr<StepResult> executed = executor->Execute(*plan);
  step_started_ns_ = 0;
  if (!executed.ok()) {
    std::fprintf(stderr, "worker: step %llu failed: %s\n",
                 static_cast<unsigned long long>(proto.step_id()),
                 std::string(executed.status().message()).c_str());
    return fail(executed.status());
  }
  executed->step_id = proto.step_id();
  executed->rank = static_cast<int>(result->rank());
  const auto end = std::chrono::steady_clock::now();
  executed->forward_time_s = std::chrono::duration<double>(end - start).count();
  if (previous_step_end_ != std::chrono::steady_clock::time_point{})
    executed->idle_time_s = std::chrono::duration<double>(start - previous_step_end_).count();
  previous_step_end_ = end;
  if (metrics) metrics->Step(executed->forward_time_s, executed->comm_time_s, executed->comm_bytes);
  ToProto(*executed, result);
}

}  // namespace gptoss
