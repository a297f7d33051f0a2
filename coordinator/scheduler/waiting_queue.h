// WaitingQueue: sequences not running, in RunsBefore order (priority, then FCFS). New requests
// are bounded by `max_new` (admission beyond it is RESOURCE_EXHAUSTED); preempted sequences
// always get back in, at their original place (their priority and arrival are kept).
#pragma once

#include <cstddef>
#include <set>

#include "absl/status/status.h"
#include "coordinator/scheduler/sequence.h"
#include "coordinator/scheduler/sequence_order.h"

namespace gptoss {

class WaitingQueue {
 public:
  explicit WaitingQueue(int max_new) : max_new_(max_new) {}

  // A request that has never run. ResourceExhausted if `max_new` such requests wait already.
  absl::Status PushNew(Sequence* seq);
  // A preempted sequence: never refused.
  void PushPreempted(Sequence* seq);

  bool empty() const { return queue_.empty(); }
  size_t size() const { return queue_.size(); }
  Sequence* front() const { return *queue_.begin(); }
  void PopFront();
  // Removes `seq` if present (cancellation).
  void Remove(Sequence* seq);

  auto begin() const { return queue_.begin(); }
  auto end() const { return queue_.end(); }

 private:
  int max_new_;
  int num_new_ = 0;  // queued sequences that never ran (num_computed was never > 0)
  std::set<Sequence*, RunsBefore> queue_;
};

}  // namespace gptoss
