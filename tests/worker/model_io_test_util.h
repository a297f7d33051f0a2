// Shared helpers of the model_io_* tests: scratch directories and small configs.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/scratch_dir.h"
#include "worker/model/config.h"
#include "worker/model/presets.h"

namespace gptoss::testing {

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A small model (vocab 512) that exercises every tensor kind and shards over 2 ranks.
inline ModelConfig SmallConfig() {
  ModelConfig c = PresetConfig("tiny").value();
  c.vocab_size = 512;
  c.hidden_size = 64;
  c.intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.layer_types = {LayerType::kSlidingAttention, LayerType::kFullAttention};
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.rope.head_dim = 16;
  c.num_local_experts = 4;
  c.num_experts_per_tok = 2;
  c.eos_token_ids = {1};
  c.pad_token_id = 0;
  return c;
}

}  // namespace gptoss::testing
