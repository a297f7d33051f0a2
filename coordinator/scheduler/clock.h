// Clock: the scheduler's only source of time, injected so that scheduling is a pure function
// of its inputs and tests run without sleeping. SystemClock is for production, FakeClock for
// tests (advanced by hand).
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gptoss {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::UnixEpoch()) : now_(start) {}
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_;
};

}  // namespace gptoss
