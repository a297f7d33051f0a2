// RunRanks: N ranks as threads of the test process, each with its own GlooCommunicator over TCP
// loopback (an InMemoryRendezvous joins them), running `body(rank, comm)`. Returns the first
// error of any rank (formation included); the ranks' statuses otherwise.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "worker/comm/gloo_communicator.h"

namespace gptoss::testing {

inline absl::Status RunRanks(int world,
                             const std::function<absl::Status(int, GlooCommunicator&)>& body,
                             std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  InMemoryRendezvous store;
  std::vector<absl::Status> status(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      GlooOptions options;
      options.timeout = timeout;
      absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm =
          GlooCommunicator::Create(r, world, store, options);
      status[r] = comm.ok() ? body(r, **comm) : comm.status();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : status)
    if (!s.ok()) return s;
  return absl::OkStatus();
}

}  // namespace gptoss::testing
