// GlooCommunicator: the collectives between host ranks (CPU workers, or CUDA ranks staging
// through host memory) over Gloo's TCP transport (Debian libgloo-dev). The ranks meet through a
// RendezvousKv: the coordinator's store (Coordinator.Store* rpcs) for worker processes, an
// InMemoryRendezvous for ranks that are threads of one process (`gptoss generate --world-size`,
// tests).
//
// Contract (beyond Communicator's):
//  - Every collective ends within `timeout`: a peer that died or hangs makes the call return
//    UNAVAILABLE naming the collective (never an exception, never a hang). After such an error
//    the communicator is broken: every later call fails at once with the same error, and the
//    world must be formed again (a new communicator).
//  - Sums are taken in rank order on every rank (F32/BF16 in fp32), so every rank's result is
//    bit-identical, and a world of N sums like N partial results added left to right.
//  - Create blocks until all `world_size` ranks have joined, or `timeout` passes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "worker/comm/host_communicator.h"

namespace gloo {
class Context;
}

namespace gptoss {

// The key-value store of a rendezvous. Get waits up to `timeout` for the key to be set.
class RendezvousKv {
 public:
  virtual ~RendezvousKv() = default;
  virtual absl::Status Set(const std::string& key, const std::string& value) = 0;
  virtual absl::StatusOr<std::string> Get(const std::string& key,
                                          std::chrono::milliseconds timeout) = 0;
};

// A RendezvousKv for ranks that are threads of one process. Thread-safe.
class InMemoryRendezvous final : public RendezvousKv {
 public:
  absl::Status Set(const std::string& key, const std::string& value) override;
  absl::StatusOr<std::string> Get(const std::string& key,
                                  std::chrono::milliseconds timeout) override;

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, std::string> values_;
};

struct GlooOptions {
  // The address this rank listens on and advertises to its peers (an IP or a host name that
  // resolves to this machine's interface on the cluster network).
  std::string hostname = "127.0.0.1";
  std::chrono::milliseconds timeout{30000};
};

class GlooCommunicator final : public HostCommunicator {
 public:
  static absl::StatusOr<std::unique_ptr<GlooCommunicator>> Create(int rank, int world_size,
                                                                  RendezvousKv& store,
                                                                  const GlooOptions& options);
  ~GlooCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }

  absl::Status AllReduceSum(TensorView inout) override;
  absl::Status AllGather(const TensorView& in, TensorView out) override;
  absl::Status ReduceScatterSum(const TensorView& in, TensorView out) override;
  absl::Status AllToAllV(const TensorView& send, const std::vector<int64_t>& send_counts,
                         TensorView recv, const std::vector<int64_t>& recv_counts) override;
  absl::StatusOr<std::vector<int64_t>> ExchangeCounts(
      const std::vector<int64_t>& send_counts) override;
  CommStats stats() const override { return stats_; }

 private:
  GlooCommunicator(int rank, int world, std::shared_ptr<gloo::Context> context)
      : rank_(rank), world_(world), context_(std::move(context)) {}

  // Runs one Gloo call: converts its exceptions to UNAVAILABLE, breaks the communicator on
  // failure, and accounts bytes and time.
  template <typename Fn>
  absl::Status Run(const char* what, uint64_t bytes_sent, Fn&& fn);
  // Raw byte collectives (no checks).
  absl::Status GatherBytes(const char* what, const void* in, void* out, size_t bytes);
  absl::Status AllToAllBytes(const char* what, const void* send, std::vector<int64_t> send_bytes,
                             void* recv, std::vector<int64_t> recv_bytes);

  const int rank_, world_;
  std::shared_ptr<gloo::Context> context_;
  absl::Status broken_;
  CommStats stats_;
  std::vector<char> scratch_;
};

}  // namespace gptoss
