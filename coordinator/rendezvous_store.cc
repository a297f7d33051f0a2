#include "coordinator/rendezvous_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gptoss {

RendezvousStore::RendezvousStore(RendezvousLimits limits)
    : limits_(limits), timer_([this] { TimerLoop(); }) {}

RendezvousStore::~RendezvousStore() {
  Close();
  if (timer_.joinable()) timer_.join();
}

bool RendezvousStore::CompleteLocked(const Waiter& w) const {
  for (const std::string& k : w.keys)
    if (!values_.contains(k)) return false;
  return true;
}

absl::Status RendezvousStore::Set(const std::string& key, std::string value) {
  if (key.empty() || key.size() > limits_.max_key_bytes)
    return absl::InvalidArgumentError(
        absl::StrCat("key: ", key.size(), " bytes, must be 1..", limits_.max_key_bytes));
  if (value.size() > limits_.max_value_bytes)
    return absl::InvalidArgumentError(absl::StrCat("value: ", value.size(), " bytes exceeds ",
                                                   limits_.max_value_bytes));
  std::vector<std::pair<Done, std::string>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return absl::UnavailableError("the store is closed");
    auto it = values_.find(key);
    const size_t old = it == values_.end() ? 0 : it->second.size();
    if (it == values_.end() && values_.size() >= limits_.max_keys)
      return absl::ResourceExhaustedError(
          absl::StrCat("the store holds its maximum of ", limits_.max_keys, " keys"));
    if (total_bytes_ - old + value.size() > limits_.max_total_bytes)
      return absl::ResourceExhaustedError(
          absl::StrCat("the store holds its maximum of ", limits_.max_total_bytes, " bytes"));
    total_bytes_ = total_bytes_ - old + value.size();
    values_[key] = std::move(value);
    for (auto w = waiters_.begin(); w != waiters_.end();) {
      if (!CompleteLocked(*w)) {
        ++w;
        continue;
      }
      ready.emplace_back(std::move(w->done), values_.at(w->keys.front()));
      w = waiters_.erase(w);
    }
  }
  for (auto& [done, v] : ready) done(std::move(v));
  return absl::OkStatus();
}

void RendezvousStore::Get(std::vector<std::string> keys, std::chrono::milliseconds timeout,
                          Done done) {
  if (keys.empty() || keys.size() > limits_.max_keys_per_wait)
    return done(absl::InvalidArgumentError(
        absl::StrCat("keys: ", keys.size(), " given, must be 1..", limits_.max_keys_per_wait)));
  for (const std::string& k : keys)
    if (k.empty() || k.size() > limits_.max_key_bytes)
      return done(absl::InvalidArgumentError(
          absl::StrCat("key: ", k.size(), " bytes, must be 1..", limits_.max_key_bytes)));
  if (timeout.count() <= 0) timeout = limits_.default_timeout;
  timeout = std::min(timeout, limits_.max_timeout);
  absl::StatusOr<std::string> answer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Waiter w{std::move(keys), std::chrono::steady_clock::now() + timeout, nullptr};
    if (closed_) {
      answer = absl::UnavailableError("the store is closed");
    } else if (CompleteLocked(w)) {
      answer = values_.at(w.keys.front());
    } else if (waiters_.size() >= limits_.max_waiters) {
      answer = absl::ResourceExhaustedError(
          absl::StrCat("the store has its maximum of ", limits_.max_waiters, " waiting calls"));
    } else {
      w.done = std::move(done);
      waiters_.push_back(std::move(w));
      cv_.notify_all();  // the timer may need an earlier wake-up
      return;
    }
  }
  done(std::move(answer));
}

void RendezvousStore::EraseWithPrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = values_.begin(); it != values_.end();) {
    if (!absl::StartsWith(it->first, prefix)) {
      ++it;
      continue;
    }
    total_bytes_ -= it->second.size();
    it = values_.erase(it);
  }
}

void RendezvousStore::Close() {
  std::list<Waiter> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    waiters.swap(waiters_);
    cv_.notify_all();
  }
  for (Waiter& w : waiters) w.done(absl::UnavailableError("the store is closed"));
}

size_t RendezvousStore::num_keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return values_.size();
}

size_t RendezvousStore::num_waiters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

void RendezvousStore::TimerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_) {
    auto next = std::chrono::steady_clock::time_point::max();
    for (const Waiter& w : waiters_) next = std::min(next, w.deadline);
    if (next == std::chrono::steady_clock::time_point::max())
      cv_.wait(lock);
    else
      cv_.wait_until(lock, next);
    const auto now = std::chrono::steady_clock::now();
    std::list<Waiter> expired;
    for (auto w = waiters_.begin(); w != waiters_.end();) {
      auto next_w = std::next(w);
      if (w->deadline <= now) expired.splice(expired.end(), waiters_, w);
      w = next_w;
    }
    if (expired.empty()) continue;
    lock.unlock();
    for (Waiter& w : expired)
      w.done(absl::DeadlineExceededError(absl::StrCat(
          w.keys.size() == 1 ? "the key was" : "the keys were", " not set in time")));
    lock.lock();
  }
}

}  // namespace gptoss
