#include "worker/comm/staged_communicator.h"

#include "kernels/core/status.h"
#include "worker/comm/collective_checks.h"

namespace gptoss {

absl::StatusOr<StagedCommunicator::Staged> StagedCommunicator::Stage(const TensorView& t,
                                                                    bool read) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckBuffer(t, "staged tensor", ops_->device()));
  Staged s;
  s.bytes.resize(std::max<size_t>(t.bytes(), 1));
  s.view = t;
  s.view.data = s.bytes.data();
  s.view.device = Device::kCpu;
  if (read && t.bytes() > 0)
    GPTOSS_RETURN_IF_ERROR(ops_->CopyToHost(s.bytes.data(), t.data, t.bytes()));
  return s;
}

absl::Status StagedCommunicator::Return(const Staged& staged, const TensorView& t) {
  if (t.bytes() == 0) return absl::OkStatus();
  return ops_->CopyFromHost(t.data, staged.bytes.data(), t.bytes());
}

absl::Status StagedCommunicator::AllReduceSum(TensorView inout) {
  GPTOSS_ASSIGN_OR_RETURN(Staged s, Stage(inout, true));
  GPTOSS_RETURN_IF_ERROR(host_->AllReduceSum(s.view));
  return Return(s, inout);
}

absl::Status StagedCommunicator::AllGather(const TensorView& in, TensorView out) {
  GPTOSS_ASSIGN_OR_RETURN(Staged a, Stage(in, true));
  GPTOSS_ASSIGN_OR_RETURN(Staged b, Stage(out, false));
  GPTOSS_RETURN_IF_ERROR(host_->AllGather(a.view, b.view));
  return Return(b, out);
}

absl::Status StagedCommunicator::ReduceScatterSum(const TensorView& in, TensorView out) {
  GPTOSS_ASSIGN_OR_RETURN(Staged a, Stage(in, true));
  GPTOSS_ASSIGN_OR_RETURN(Staged b, Stage(out, false));
  GPTOSS_RETURN_IF_ERROR(host_->ReduceScatterSum(a.view, b.view));
  return Return(b, out);
}

absl::Status StagedCommunicator::AllToAllV(const TensorView& send,
                                           const std::vector<int64_t>& send_counts,
                                           TensorView recv,
                                           const std::vector<int64_t>& recv_counts) {
  GPTOSS_ASSIGN_OR_RETURN(Staged a, Stage(send, true));
  GPTOSS_ASSIGN_OR_RETURN(Staged b, Stage(recv, false));
  GPTOSS_RETURN_IF_ERROR(host_->AllToAllV(a.view, send_counts, b.view, recv_counts));
  return Return(b, recv);
}

}  // namespace gptoss
