// The one ordering every scheduling policy uses: higher priority first, then first-come
// first-served. The preemption victim is the last sequence of this order (lowest priority,
// latest arrival), so a sequence can only ever be preempted in favour of one that runs before
// it.
#pragma once

#include "coordinator/scheduler/sequence.h"

namespace gptoss {

struct RunsBefore {
  bool operator()(const Sequence* a, const Sequence* b) const {
    if (a->request.priority != b->request.priority)
      return a->request.priority > b->request.priority;
    return a->arrival_order < b->arrival_order;
  }
};

}  // namespace gptoss
