#include "worker/comm/host_communicator.h"

#include <cstring>

#include "kernels/core/dtype.h"
#include "kernels/core/status.h"
#include "worker/comm/collective_checks.h"

namespace gptoss {

namespace comm_internal {

void SumInRankOrder(const void* parts, int world, int64_t n, DType dtype, void* out) {
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == DType::kI32) {
      int64_t sum = 0;  // wraps like NCCL's int32 sum would, without UB in between
      for (int r = 0; r < world; ++r) sum += static_cast<const int32_t*>(parts)[r * n + i];
      static_cast<int32_t*>(out)[i] = static_cast<int32_t>(static_cast<uint32_t>(sum));
    } else if (dtype == DType::kF32) {
      float sum = 0.0f;
      for (int r = 0; r < world; ++r) sum += static_cast<const float*>(parts)[r * n + i];
      static_cast<float*>(out)[i] = sum;
    } else {
      float sum = 0.0f;
      for (int r = 0; r < world; ++r) sum += Bf16ToF32(static_cast<const uint16_t*>(parts)[r * n + i]);
      static_cast<uint16_t*>(out)[i] = F32ToBf16(sum);
    }
  }
}

}  // namespace comm_internal
}  // namespace gptoss
