// Shared by the engine loop tests: a small scheduler configuration and request.
#pragma once

#include <utility>
#include <vector>

#include "coordinator/scheduler/scheduler.h"

namespace gptoss::testing {

// 64 full blocks of 4 tokens, no sliding layers, vocab 1000, 4 sequences, `max_waiting` queued.
inline SchedulerConfig SmallEngineConfig(int max_waiting = 2) {
  SchedulerConfig c;
  c.kv.block_size = 4;
  c.kv.num_full_blocks = 64;
  c.kv.num_sliding_blocks = 0;
  c.kv.has_sliding_layers = false;
  c.vocab_size = 1000;
  c.max_context_len = 64;
  c.max_num_seqs = 4;
  c.max_batch_tokens = 32;
  c.max_waiting = max_waiting;
  return c;
}

// The prompt {1, 2, 3}.
inline SequenceRequest SmallRequest(int max_tokens, std::vector<int32_t> stops = {}) {
  SequenceRequest r;
  r.prompt = {1, 2, 3};
  r.max_tokens = max_tokens;
  r.stop_token_ids = std::move(stops);
  return r;
}

}  // namespace gptoss::testing
