#include "worker/comm/world_communicator.h"

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "worker/comm/local_communicator.h"
#include "worker/comm/staged_communicator.h"

#if defined(GPTOSS_HAVE_CUDA)
#include "worker/comm/nccl_communicator.h"
#endif

namespace gptoss {

absl::StatusOr<std::unique_ptr<Communicator>> CreateWorldCommunicator(Ops& ops,
                                                                      const WorldSpec& spec) {
  GPTOSS_CHECK_ARG(spec.world_size >= 1 && spec.rank >= 0 && spec.rank < spec.world_size,
                   "world: rank ", spec.rank, " out of world size ", spec.world_size);
  auto gloo = [&]() -> absl::StatusOr<std::unique_ptr<Communicator>> {
    if (spec.world_size == 1) return std::unique_ptr<Communicator>(new LocalCommunicator());
    GPTOSS_CHECK_ARG(spec.rendezvous != nullptr, "world: host ranks need a rendezvous store");
    GPTOSS_ASSIGN_OR_RETURN(auto comm, GlooCommunicator::Create(spec.rank, spec.world_size,
                                                                *spec.rendezvous, spec.gloo));
    return std::unique_ptr<Communicator>(std::move(comm));
  };
  if (ops.device() == Device::kCuda && spec.staged) {
    GPTOSS_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> host, gloo());
    return std::unique_ptr<Communicator>(new StagedCommunicator(&ops, std::move(host)));
  }
  if (ops.device() == Device::kCuda) {
#if defined(GPTOSS_HAVE_CUDA)
    GPTOSS_ASSIGN_OR_RETURN(auto comm, NcclCommunicator::ForOps(ops, spec.rank, spec.world_size,
                                                                spec.nccl_unique_id));
    return std::unique_ptr<Communicator>(std::move(comm));
#else
    return absl::UnimplementedError("world: CUDA memory in a build without CUDA");
#endif
  }
  return gloo();
}

absl::StatusOr<std::string> NewWorldId(const Ops& ops) {
  if (ops.device() != Device::kCuda) return std::string();
#if defined(GPTOSS_HAVE_CUDA)
  return NcclCommunicator::NewUniqueId();
#else
  return absl::UnimplementedError("world: CUDA memory in a build without CUDA");
#endif
}

}  // namespace gptoss
