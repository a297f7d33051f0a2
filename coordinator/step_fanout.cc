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

absl::StatusOr<StepResult> StepFanout::Run(const StepPlan& plan, std::string* lost) {
  v1::StepPlan proto;
  encoder_.Encode(plan, &proto);  // incremental: what the streams have not been sent yet
  grpc::ByteBuffer bytes;  // one serialization; each Write shares its slices
  bool own = false;
  if (grpc::Status st = grpc::SerializationTraits<v1::StepPlan>::Serialize(proto, &bytes, &own);
      !st.ok())
    return absl::InternalError(absl::StrCat("step plan serialization: ", st.error_message()));
  const int world = world_size();
  auto broken = [&](int rank, const char* what) {
    grpc::Status st = streams_[rank].rw->Finish();
    streams_[rank].rw.reset();  // finished: Close must not finish it again
    *lost = absl::StrCat("rank ", rank, ": step stream broken (", what, "): ",
                         st.ok() ? "closed by the worker" : st.error_message());
    return absl::UnavailableError(*lost);
  };
  for (int r = 0; r < world; ++r)
    if (!streams_[r].rw->Write(bytes)) return broken(r, "write");
  std::vector<v1::StepResult> results(world);
  absl::Status step_error;
  for (int r = 0; r < world; ++r) {
    if (!streams_[r].rw->Read(&results[r])) return broken(r, "read");
    if (results[r].step_id() != plan.step_id) {
      *lost = absl::StrCat("rank ", r, " answered step ", results[r].step_id(), " to step ",
                           plan.step_id);
      return absl::UnavailableError(*lost);
    }
    if (results[r].has_error() && step_error.ok()) {
      std::fprintf(stderr, "coordinator: step %llu failed on rank %d: %s\n",
                   static_cast<unsigned long long>(plan.step_id), r,
                   ForLog(results[r].error().message()).c_str());
      step_error = absl::Status(StatusCodeFromWire(results[r].error().code()),
                                "a worker could not execute the step");
    }
  }
  if (!step_error.ok()) return step_error;
  StepResult result = StepResultFromProto(results[0]);
  for (const v1::StepResult& r : results)
    result.ranks.push_back({r.forward_time_s(), r.comm_time_s(), r.comm_bytes()});
  return result;
}

void StepFanout::Close() {
  for (Stream& s : streams_) {
    if (s.rw) s.rw->Finish().ok();  // cancelled: returns at once
  }
  streams_.clear();
  encoder_.Reset();
}

}  // namespace gptoss
