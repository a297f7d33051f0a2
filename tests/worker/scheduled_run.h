// The serving loop of the tests that drive the paged engine with the real scheduler: schedule,
// execute, apply the result, until the scheduler is idle (or `max_steps`). `on_plan` sees every
// plan before it runs, `on_update` every sequence update. Failures are test failures.
// With `overlap`, as the coordinator's engine loop does by default: the next step is planned
// before the previous one's result is applied (two in flight, executed in order), so plans feed
// back the token sampled in the step before (kLastSampled).
#pragma once

#include <deque>
#include <functional>

#include "coordinator/scheduler/scheduler.h"
#include "gtest/gtest.h"
#include "worker/engine/step_executor.h"

namespace gptoss::testing {

inline void RunScheduled(Scheduler& scheduler, StepExecutor& executor, int max_steps,
                         const std::function<void(const StepPlan&)>& on_plan,
                         const std::function<void(const SequenceUpdate&)>& on_update,
                         bool overlap = false) {
  const size_t depth = overlap ? Scheduler::kMaxInFlight : 1;
  std::deque<StepResult> in_flight;  // executed in plan order, applied later
  for (int guard = 0; guard < max_steps && !(scheduler.idle() && in_flight.empty()); ++guard) {
    bool planned = false;
    if (in_flight.size() < depth) {
      auto step = scheduler.Schedule();
      ASSERT_TRUE(step.ok()) << step.status();
      if (on_plan) on_plan(step->plan);
      auto result = executor.Execute(step->plan);
      ASSERT_TRUE(result.ok()) << result.status();
      planned = !step->plan.sequences.empty();
      if (planned) in_flight.push_back(*std::move(result));
    }
    if (in_flight.empty() || (planned && in_flight.size() < depth)) continue;
    auto updates = scheduler.OnStepResult(in_flight.front());
    in_flight.pop_front();
    ASSERT_TRUE(updates.ok()) << updates.status();
    for (const SequenceUpdate& u : *updates)
      if (on_update) on_update(u);
  }
  EXPECT_TRUE(scheduler.idle());
}

}  // namespace gptoss::testing
