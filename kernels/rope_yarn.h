// YaRN RoPE tables computed on the host from the model config, exactly as HF
// transformers' _compute_yarn_parameters (modeling_rope_utils.py) does in fp32. Both backends
// upload the same table, so CPU and GPU rotate with identical frequencies.
#pragma once

#include <vector>

namespace gptoss {

struct YarnConfig {
  int head_dim = 64;
  double theta = 150000.0;
  double factor = 32.0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  int original_max_position_embeddings = 4096;
  bool truncate = false;
};

struct YarnTable {
  std::vector<float> inv_freq;  // [head_dim/2]
  float attention_scaling = 1.0f;
};

YarnTable ComputeYarnTable(const YarnConfig& config);

}  // namespace gptoss
