// HostCommunicator: what every communicator on host memory shares — the device and Synchronize
// (host collectives are synchronous), and the rank-ordered sum. The
// collectives themselves are the subclass's: LocalCommunicator (world size 1, identities) and
// GlooCommunicator (TCP between processes or threads).
#pragma once

#include "worker/comm/communicator.h"

namespace gptoss {

class HostCommunicator : public Communicator {
 public:
  Device device() const override { return Device::kCpu; }
  absl::Status Synchronize() override { return absl::OkStatus(); }
};

namespace comm_internal {
// out[i] = sum over r in rank order of parts[r * n + i], for F32, BF16 (accumulated in fp32,
// rounded once) and I32. The fixed order makes every rank's sum bit-identical.
void SumInRankOrder(const void* parts, int world, int64_t n, DType dtype, void* out);
}  // namespace comm_internal

}  // namespace gptoss
