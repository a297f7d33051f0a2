#include "coordinator/scheduler/waiting_queue.h"

#include "absl/strings/str_cat.h"

namespace gptoss {

namespace {
bool IsNew(const Sequence* seq) { return seq->num_preemptions == 0; }
}  // namespace

absl::Status WaitingQueue::PushNew(Sequence* seq) {
  if (num_new_ >= max_new_)
    return absl::ResourceExhaustedError(
        absl::StrCat("waiting queue is full (", max_new_, " requests); retry later"));
  queue_.insert(seq);
  ++num_new_;
  return absl::OkStatus();
}

void WaitingQueue::PushPreempted(Sequence* seq) { queue_.insert(seq); }

void WaitingQueue::PopFront() {
  if (queue_.empty()) return;
  if (IsNew(front())) --num_new_;
  queue_.erase(queue_.begin());
}

void WaitingQueue::Remove(Sequence* seq) {
  if (queue_.erase(seq) > 0 && IsNew(seq)) --num_new_;
}

}  // namespace gptoss
