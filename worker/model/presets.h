// Named model configs for `gptoss make-checkpoint --preset`:
//  - "20b", "120b": the official openai/gpt-oss-20b and -120b configs; ModelConfigToJson of these
//    is the official config.json byte for byte (tests/data/configs/, checked by a test).
//  - "tiny": a small model with the REAL vocabulary (201088), so that it can be served end to end
//    with the real tokenizer: hidden 64, intermediate 64, 4 layers alternating sliding/full,
//    8 q heads, 2 kv heads, head_dim 16, 8 experts top-4, sliding_window 16, 4096 positions,
//    YaRN factor 32 over an original length of 128 (so YaRN is active beyond 128 tokens).
//  - "wide": "tiny" with 120b's parallel shape scaled down (hidden 128, intermediate 128, 16 q
//    heads, 8 kv heads, 32 experts top-4): it shards over 1, 2, 4 and 8 ranks.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model/config.h"

namespace gptoss {

absl::StatusOr<ModelConfig> PresetConfig(const std::string& name);
std::vector<std::string> PresetNames();

}  // namespace gptoss
