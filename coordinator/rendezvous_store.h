// RendezvousStore: the bounded key-value store behind Coordinator.Store* (Gloo's rendezvous).
// Contract:
//  - Bounded: at most `max_keys` keys of `max_key_bytes`, values of `max_value_bytes`, all values
//    together `max_total_bytes`, and `max_waiters` blocked Get/Wait calls; beyond that a call
//    fails with RESOURCE_EXHAUSTED at once (the store never grows past its limits).
//  - No thread per call: Get/Wait register a callback that runs exactly once — at once, from
//    the Set that completes it, from the single timer thread at its deadline
//    (DEADLINE_EXCEEDED), or from Close() (UNAVAILABLE). Callbacks run without the store's lock.
//  - EraseWithPrefix() forgets a finished world's keys.
//  - Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace gptoss {

struct RendezvousLimits {
  size_t max_keys = 4096;
  size_t max_key_bytes = 512;
  size_t max_value_bytes = size_t{1} << 20;
  size_t max_total_bytes = size_t{64} << 20;
  size_t max_waiters = 1024;
  size_t max_keys_per_wait = 64;
  std::chrono::milliseconds default_timeout{30000};
  std::chrono::milliseconds max_timeout{300000};
};

class RendezvousStore {
 public:
  // Gets the value of the first key once every key exists (Wait ignores the value).
  using Done = std::function<void(absl::StatusOr<std::string>)>;

  explicit RendezvousStore(RendezvousLimits limits = {});
  ~RendezvousStore();  // Close()s

  absl::Status Set(const std::string& key, std::string value);
  // timeout 0: the default; longer than max_timeout is clamped.
  void Get(std::vector<std::string> keys, std::chrono::milliseconds timeout, Done done);
  void EraseWithPrefix(const std::string& prefix);
  // Fails every waiter and every later call with UNAVAILABLE.
  void Close();

  size_t num_keys() const;
  size_t num_waiters() const;

 private:
  struct Waiter {
    std::vector<std::string> keys;
    std::chrono::steady_clock::time_point deadline;
    Done done;
  };
  bool CompleteLocked(const Waiter& w) const;
  void TimerLoop();

  const RendezvousLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> values_;
  size_t total_bytes_ = 0;
  std::list<Waiter> waiters_;
  bool closed_ = false;
  std::thread timer_;
};

}  // namespace gptoss
