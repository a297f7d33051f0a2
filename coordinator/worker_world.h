// WorkerWorld: the state of the worker world that registration (WorkerRegistrar) and the
// world's lifecycle (WorkerPool) share, with the one lock both take, so that a registration
// check and a phase change can never interleave.
//
// A world goes kRegistering -> kStarting (every rank registered: ranks assigned, the KV
// geometry fixed; WorkerRegistrar) -> kReady (every rank's shard loaded, the step streams open;
// WorkerPool) and back to kRegistering when it ends (generation + 1: a new world forms). At
// shutdown it is kStopped for good.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "coordinator/rendezvous_store.h"
#include "worker/common/internal_plane.h"
#include "worker/engine/kv_cache_pool.h"

namespace gptoss {

struct WorkerPoolOptions {
  int world_size = 1;
  std::string model_fingerprint;  // hex sha256 of config.json; workers must match
  int block_size = 16;
  // Both > 0: a fixed geometry (the workers' kv_cache_bytes must hold it). Otherwise sized from
  // the workers' offers with the scheduler limits below.
  int num_full_blocks = 0;
  int num_sliding_blocks = 0;
  int max_num_seqs = 256;
  int max_batch_tokens = 2048;
  absl::Duration ready_timeout = absl::Minutes(30);      // registration → every rank ready
  absl::Duration unreachable_grace = absl::Seconds(10);  // a rank unreachable this long is gone
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration worker_timeout = absl::Seconds(5);  // silent this long while up: gone
  absl::Duration step_timeout = absl::Seconds(300);  // one step running longer: the world resets
  // A registration offering more KV memory than this is implausible (no device holds it).
  uint64_t max_kv_cache_bytes = uint64_t{4} << 40;
  InternalPlane plane;  // the cluster secret (and optional mTLS) of the internal plane
};

struct WorkerWorld {
  enum class Phase { kRegistering, kStarting, kReady, kStopped };
  struct Rank {
    std::string address;
    std::string device;
  };

  mutable std::mutex mu;
  mutable std::condition_variable cv;  // notified on every phase or generation change
  // Under mu:
  Phase phase = Phase::kRegistering;
  uint64_t generation = 1;
  std::vector<Rank> ranks;  // the world starting or serving, by rank
  std::string backend;      // "cpu"/"cuda"/"null" of the current or last world
  std::optional<KvPoolSpec> kv_spec;  // fixed by the first complete world
  // Gloo's rendezvous keys, only under the current world's prefix (thread-safe by itself).
  RendezvousStore store;

  std::string StorePrefixLocked() const { return absl::StrCat("world", generation, "/"); }
};

}  // namespace gptoss
