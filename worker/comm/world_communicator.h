// The one place that picks how a rank talks to the others of its world, from the backend its
// math runs on:
//   - host memory (CpuOps): GlooCommunicator over TCP, meeting through `rendezvous`;
//   - CUDA memory (CudaOps): NcclCommunicator on the ops' stream, from the ncclUniqueId the
//     coordinator handed out (rank 0's candidate, NewWorldId()); or, with `staged`, Gloo
//     through host memory (StagedCommunicator: several ranks may share one GPU).
// World size 1 needs no transport: LocalCommunicator on the host, NCCL's single-rank world on a
// GPU (so the distributed code path runs there too).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "worker/comm/communicator.h"
#include "worker/comm/gloo_communicator.h"

namespace gptoss {

struct WorldSpec {
  int rank = 0;
  int world_size = 1;
  std::string nccl_unique_id;          // CUDA ranks (empty otherwise)
  RendezvousKv* rendezvous = nullptr;  // host (and staged) ranks at world size > 1
  GlooOptions gloo;
  bool staged = false;  // CUDA ranks: Gloo through host memory instead of NCCL
};

absl::StatusOr<std::unique_ptr<Communicator>> CreateWorldCommunicator(Ops& ops,
                                                                      const WorldSpec& spec);

// What this rank offers as the world's id at registration: a fresh ncclUniqueId on a CUDA
// backend, empty on the host (Gloo meets through the rendezvous store instead).
absl::StatusOr<std::string> NewWorldId(const Ops& ops);

}  // namespace gptoss
