#include "worker/worker_service.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "worker/common/status_mapping.h"
#include "worker/common/step_plan_proto.h"

namespace gptoss {

// One step stream. Reads ahead: while the step thread executes a plan, the next one is read and
// decoded (the coordinator overlaps steps: it sends step N+1 before step N's result is back),
// so the step thread starts it as soon as the previous step ends, without a gRPC round trip or
// the plan's decoding in between. Results are written in order, one write at a time. At most
// kMaxAhead plans are read and not yet answered; beyond that the stream is not read (gRPC flow
// control holds the peer back). The reactor is finished only when no posted step and no write
// are left (a posted step references it).
class WorkerService::StepReactor final
    : public grpc::ServerBidiReactor<v1::StepPlan, v1::StepResult> {
 public:
  explicit StepReactor(WorkerService* service) : service_(service) {
    Actions next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      MaybeRead(next);
    }
    Run(next);
  }

  void OnReadDone(bool ok) override {
    const auto arrived = std::chrono::steady_clock::now();
    // Decoded here, off the step thread (the reads of one stream never overlap, so the decoder
    // sees the plans in order); a plan it refuses is answered with the error, in order.
    std::shared_ptr<absl::StatusOr<StepPlan>> plan;
    const uint64_t step_id = plan_.step_id();
    if (ok)
      plan = std::make_shared<absl::StatusOr<StepPlan>>(
          decoder_.Decode(plan_, service_->max_positions()));
    Actions next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = false;
      if (!ok) {  // the coordinator closed its side (or went away): the stream is over
        End(grpc::Status::OK, next);
      } else if (!ending_) {
        ++executing_;
        if (service_->Post([this, plan, step_id, arrived] { Execute(step_id, *plan, arrived); })) {
          MaybeRead(next);
        } else {
          // A plan that arrives while the worker shuts down would never be answered, and the
          // server would wait for this stream forever: end it now.
          --executing_;
          End(ToGrpcStatus(absl::UnavailableError("worker is shutting down")), next);
        }
      }
    }
    Run(next);
  }

  void OnWriteDone(bool ok) override {
    Actions next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      const std::unique_ptr<v1::StepResult> written = std::move(writes_.front());
      writes_.pop_front();
      if (!ok) {
        End(ToGrpcStatus(absl::CancelledError("coordinator went away")), next);
      } else if (!ending_ && Unavailable(*written)) {
        // UNAVAILABLE is a communicator that broke (a peer died or hung): this world cannot run
        // another step. Leaving it ends the stream, so the coordinator re-forms the world at
        // once.
        service_->SetFailed(written->error().message());
        End(ToGrpcStatus(absl::UnavailableError("this rank left its broken world")), next);
      } else {
        MaybeWrite(next);
        MaybeRead(next);
      }
    }
    Run(next);
  }

  void OnDone() override {
    service_->OnStreamEnded();
    delete this;
  }

 private:
  static constexpr size_t kMaxAhead = 4;

  // gRPC operations decided under mu_ and started after it is released.
  struct Actions {
    bool read = false;
    const v1::StepResult* write = nullptr;
    bool finish = false;
  };
  void Run(const Actions& a) {
    if (a.read) StartRead(&plan_);
    // Started on the io thread: a write can take 100 us of socket work, which the next step
    // must not wait for. The reactor lives until OnWriteDone (writing_ holds off Finish).
    if (a.write != nullptr && !service_->Post([this, w = a.write] { StartWrite(w); }, /*io=*/true))
      StartWrite(a.write);
    if (a.finish) Finish(status_);  // a read still pending completes with ok = false
  }

  static bool Unavailable(const v1::StepResult& result) {
    return result.has_error() &&
           result.error().code() == static_cast<int>(absl::StatusCode::kUnavailable);
  }

  // The step thread. After a step that broke the communicator, or once the stream ends, the
  // plans read ahead are answered without running (a collective would wait for a dead peer).
  void Execute(uint64_t step_id, const absl::StatusOr<StepPlan>& plan,
               std::chrono::steady_clock::time_point arrived) {
    const char* skip = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (broken_) skip = "not run: an earlier step of this stream broke the world";
      if (ending_) skip = "not run: the step stream is ending";
    }
    auto result = std::make_unique<v1::StepResult>();
    const auto start = std::chrono::steady_clock::now();
    service_->Execute(step_id, skip ? absl::UnavailableError(skip) : plan, result.get());
    if (!result->has_error()) {
      // How long this rank stood between steps, and how much of it it waited for the plan.
      const auto end = std::chrono::steady_clock::now();
      if (previous_step_end_ != std::chrono::steady_clock::time_point{}) {
        result->set_idle_time_s(std::chrono::duration<double>(start - previous_step_end_).count());
        result->set_plan_wait_s(
            std::max(0.0, std::chrono::duration<double>(arrived - previous_step_end_).count()));
      }
      previous_step_end_ = end;
    }
    Actions next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken_ = broken_ || Unavailable(*result);
      --executing_;
      writes_.push_back(std::move(result));
      MaybeWrite(next);
    }
    Run(next);
  }

  // Under mu_:
  void MaybeRead(Actions& next) {
    if (reading_ || ending_ || executing_ + writes_.size() >= kMaxAhead) return;
    reading_ = true;
    next.read = true;
  }
  void MaybeWrite(Actions& next) {
    if (writing_ || writes_.empty()) return MaybeFinish(next);
    writing_ = true;
    next.write = writes_.front().get();
  }
  // Ends the stream with `status` once nothing posted or being written is left.
  void End(const grpc::Status& status, Actions& next) {
    if (!ending_) status_ = status;
    ending_ = true;
    MaybeWrite(next);
  }
  void MaybeFinish(Actions& next) {
    if (!ending_ || finished_ || executing_ > 0 || writing_) return;
    finished_ = true;
    next.finish = true;
  }

  WorkerService* const service_;
  StepPlanDecoder decoder_;  // what this stream's earlier plans sent (step_plan_delta.h)
  // The step thread's: when this stream's previous step ended.
  std::chrono::steady_clock::time_point previous_step_end_{};
  std::mutex mu_;
  v1::StepPlan plan_;  // the read in progress
  bool reading_ = false;
  size_t executing_ = 0;  // posted to the step thread, not done
  std::deque<std::unique_ptr<v1::StepResult>> writes_;  // the front one is being written
  bool writing_ = false;
  bool ending_ = false, finished_ = false;
  bool broken_ = false;  // a step failed UNAVAILABLE: run nothing more
  grpc::Status status_;
};

WorkerService::WorkerService(InternalPlane plane)
    : plane_(std::move(plane)),
      thread_([this] { JobThread(&jobs_); }),
      io_thread_([this] { JobThread(&io_jobs_); }) {
  info_.set_status_message("starting");
}

WorkerService::~WorkerService() {
  Shutdown();
  if (thread_.joinable()) thread_.join();
  if (io_thread_.joinable()) io_thread_.join();
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

bool WorkerService::Post(std::function<void()> job, bool io) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return false;
  (io ? io_jobs_ : jobs_).push_back(std::move(job));
  cv_.notify_all();
  return true;
}

void WorkerService::JobThread(std::deque<std::function<void()>>* jobs) {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return shutdown_ || !jobs->empty(); });
      if (jobs->empty()) return;  // shutdown with nothing left
      job = std::move(jobs->front());
      jobs->pop_front();
    }
    job();
  }
}

int WorkerService::max_positions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_positions_;
}

void WorkerService::Execute(uint64_t step_id, const absl::StatusOr<StepPlan>& plan,
                            v1::StepResult* result) {
  const auto start = std::chrono::steady_clock::now();
  result->Clear();
  StepExecutor* executor;
  WorkerMetrics* metrics;
  {
    std::lock_guard<std::mutex> lock(mu_);
    executor = executor_.get();
    metrics = metrics_;
    result->set_rank(static_cast<uint32_t>(rank_));
  }
  auto fail = [&](const absl::Status& status) {
    const uint32_t rank = result->rank();
    result->Clear();
    result->set_step_id(step_id);
    result->set_rank(rank);
    result->mutable_error()->set_code(static_cast<int>(status.code()));
    result->mutable_error()->set_message(std::string(status.message()));
  };
  if (executor == nullptr) return fail(absl::FailedPreconditionError("worker is not ready"));
  if (!plan.ok()) return fail(plan.status());
  step_started_ns_ = std::chrono::steady_clock::now().time_since_epoch().count() | 1;
  absl::StatusOr<StepResult> executed = executor->Execute(*plan);
  step_started_ns_ = 0;
  if (!executed.ok()) {
    std::fprintf(stderr, "worker: step %llu failed: %s\n",
                 static_cast<unsigned long long>(step_id),
                 std::string(executed.status().message()).c_str());
    return fail(executed.status());
  }
  executed->step_id = step_id;
  executed->rank = static_cast<int>(result->rank());
  executed->forward_time_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (metrics) metrics->Step(executed->forward_time_s, executed->comm_time_s, executed->comm_bytes);
  ToProto(*executed, result);
}

}  // namespace gptoss
