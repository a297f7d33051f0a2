#include "coordinator/step_fanout.h"

#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "worker/common/status_mapping.h"
#include "worker/common/step_plan_proto.h"

namespace gptoss {

std::string ForLog(const std::string& s) {
  return absl::CHexEscape(s.size() > 64 ? s.substr(0, 64) + "..." : s);
}

std::vector<std::shared_ptr<grpc::ClientContext>> StepFanout::Open(
    const std::vector<std::string>& addresses, const InternalPlane& plane) {
  Close();
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts;
  for (const std::string& address : addresses) {
    Stream s;
    s.context = std::make_shared<grpc::ClientContext>();
    plane.Authorize(s.context.get());
    s.channel = plane.Channel(address);
    // What the generated stub's StepStream() does, with the plan's message type replaced by its
    // serialized bytes, so that Run() serializes each plan once for every rank (the generated
    // stream would serialize it again for each). The method and the wire bytes are the same.
    static const std::string method = absl::StrCat("/", v1::Worker::service_full_name(),
                                                   "/StepStream");
    s.rw.reset(grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, v1::StepResult>::Create(
        s.channel.get(),
        grpc::internal::RpcMethod(method.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING),
        s.context.get()));
    contexts.push_back(s.context);
    streams_.push_back(std::move(s));
  }
  return contexts;
}

absl::Status StepFanout::Broken(int rank, const char* what, std::string* lost) {
  grpc::Status st = streams_[rank].rw->Finish();
  streams_[rank].rw.reset();  // finished: Close must not finish it again
  *lost = absl::StrCat("rank ", rank, ": step stream broken (", what, "): ",
                       st.ok() ? "closed by the worker" : st.error_message());
  return absl::UnavailableError(*lost);
}

absl::Status StepFanout::Send(const StepPlan& plan, std::string* lost) {
  if (streams_.empty()) return absl::UnavailableError("no step streams are open");
  v1::StepPlan proto;
  encoder_.Encode(plan, &proto);  // incremental: what the streams have not been sent yet
  grpc::ByteBuffer bytes;  // one serialization; each Write shares its slices
  bool own = false;
  if (grpc::Status st = grpc::SerializationTraits<v1::StepPlan>::Serialize(proto, &bytes, &own);
      !st.ok())
    return absl::InternalError(absl::StrCat("step plan serialization: ", st.error_message()));
  for (int r = 0; r < world_size(); ++r)
    if (!streams_[r].rw->Write(bytes)) return Broken(r, "write", lost);
  in_flight_.push_back(plan.step_id);
  return absl::OkStatus();
}

absl::StatusOr<StepResult> StepFanout::Receive(std::string* lost) {
  if (in_flight_.empty()) return absl::UnavailableError("the step was lost with its workers");
  const uint64_t step_id = in_flight_.front();
  in_flight_.pop_front();
  const int world = world_size();
  results_.resize(world);
  absl::Status step_error;
  for (int r = 0; r < world; ++r) {
    if (!streams_[r].rw->Read(&results_[r])) return Broken(r, "read", lost);
    if (results_[r].step_id() != step_id) {
      *lost = absl::StrCat("rank ", r, " answered step ", results_[r].step_id(), " to step ",
                           step_id);
      return absl::UnavailableError(*lost);
    }
    if (results_[r].has_error() && step_error.ok()) {
      std::fprintf(stderr, "coordinator: step %llu failed on rank %d: %s\n",
                   static_cast<unsigned long long>(step_id), r,
                   ForLog(results_[r].error().message()).c_str());
      step_error = absl::Status(StatusCodeFromWire(results_[r].error().code()),
                                "a worker could not execute the step");
    }
  }
  if (!step_error.ok()) return step_error;
  for (int r = 1; r < world; ++r)
    if (results_[r].sampled_digest() != results_[0].sampled_digest()) {
      // Their caches now differ wherever a token was fed back: the step's sequences must go.
      std::fprintf(stderr, "coordinator: step %llu: rank %d sampled other tokens than rank 0\n",
                   static_cast<unsigned long long>(step_id), r);
      return absl::InternalError("the workers sampled different tokens");
    }
  StepResult result = StepResultFromProto(results_[0]);
  for (const v1::StepResult& r : results_)
    result.ranks.push_back(
        {r.forward_time_s(), r.comm_time_s(), r.comm_bytes(), r.idle_time_s(), r.plan_wait_s()});
  return result;
}

void StepFanout::Close() {
  for (Stream& s : streams_) {
    if (s.rw) s.rw->Finish().ok();  // cancelled: returns at once
  }
  streams_.clear();
  encoder_.Reset();
  in_flight_.clear();
}

}  // namespace gptoss
