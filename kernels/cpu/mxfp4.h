// MXFP4 decode, exactly as transformers' convert_moe_packed_tensors (integrations/mxfp4.py):
// each byte holds two E2M1 codes, the LOW nibble first (even column), the high nibble second;
// every 16 bytes (32 values) share one E8M0 scale byte s with value 2^(s-127), applied as
// ldexp(value, s - 127) like torch.ldexp (so s = 255 gives 2^127 for 0.5 and inf from 1.0 up).
// Layout (HF checkpoint): blocks [..., N, K/32, 16], scales [..., N, K/32]; row n is an OUTPUT
// feature and the 32*K/32 values of a row are its input features in order.
#pragma once

#include <cstdint>

namespace gptoss {

// The 16 E2M1 values, indexed by the 4-bit code (sign in bit 3).
inline constexpr float kE2M1Values[16] = {+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
                                          -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// One value: the E2M1 `code` (0..15) scaled by the E8M0 `scale` byte.
float Mxfp4Value(uint8_t code, uint8_t scale);

// Decodes one row of `k` values (k a multiple of 32) from `k/32 * 16` block bytes and `k/32`
// scale bytes into `out[0..k)`.
void DecodeMxfp4Row(const uint8_t* blocks, const uint8_t* scales, int64_t k, float* out);

}  // namespace gptoss
