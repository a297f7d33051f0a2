// The serving loop of the tests that drive the paged engine with the real scheduler: schedule,
// execute, apply the result, until the scheduler is idle (or `max_steps`). `on_plan` sees every
// plan before it runs, `on_update` every sequence update. Failures are test failures.
#pragma once

#include <functional>

#include "coordinator/scheduler/scheduler.h"
#include "gtest/gtest.h"
#include "worker/engine/step_executor.h"

namespace gptoss::testing {

inline void RunScheduled(Scheduler& scheduler, StepExecutor& executor, int max_steps,
                         const std::function<void(const StepPlan&)>& on_plan,
                         const std::function<void(const SequenceUpdate&)>& on_update) {
  for (int guard = 0; guard < max_steps && !scheduler.idle(); ++guard) {
    auto step = scheduler.Schedule();
    ASSERT_TRUE(step.ok()) << step.status();
    if (on_plan) on_plan(step->plan);
    auto result = executor.Execute(step->plan);
    ASSERT_TRUE(result.ok()) << result.status();
    if (step->plan.sequences.empty()) continue;
    auto updates = scheduler.OnStepResult(*result);
    ASSERT_TRUE(updates.ok()) << updates.status();
    for (const SequenceUpdate& u : *updates)
      if (on_update) on_update(u);
  }
  EXPECT_TRUE(scheduler.idle());
}

}  // namespace gptoss::testing
