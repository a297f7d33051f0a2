#include "kernels/cpu/mxfp4.h"

#include <cmath>

namespace gptoss {

float Mxfp4Value(uint8_t code, uint8_t scale) {
  // HF: torch.ldexp(lut[code], scale - 127), in the target dtype (fp32 here).
  return std::ldexp(kE2M1Values[code & 0x0f], static_cast<int>(scale) - 127);
}

void DecodeMxfp4Row(const uint8_t* blocks, const uint8_t* scales, int64_t k, float* out) {
  const int64_t groups = k / 32;
  for (int64_t g = 0; g < groups; ++g) {
    const int exponent = static_cast<int>(scales[g]) - 127;
    const uint8_t* b = blocks + g * 16;
    float* o = out + g * 32;
    for (int i = 0; i < 16; ++i) {
      o[2 * i] = std::ldexp(kE2M1Values[b[i] & 0x0f], exponent);  // low nibble first
      o[2 * i + 1] = std::ldexp(kE2M1Values[b[i] >> 4], exponent);
    }
  }
}

}  // namespace gptoss
