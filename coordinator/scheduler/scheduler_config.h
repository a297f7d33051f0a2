// SchedulerConfig: the limits the scheduler enforces. The coordinator fills it from the model
// config and the KV geometry agreed at registration (worker.proto KvCacheSpec).
#pragma once

#include "absl/status/status.h"
#include "coordinator/scheduler/kv_block_manager.h"

namespace gptoss {

struct SchedulerConfig {
  KvGeometry kv;
  int vocab_size = 0;           // token ids must be in [0, vocab_size)
  int max_context_len = 0;      // prompt + completion tokens (max_position_embeddings)
  int max_num_seqs = 256;       // sequences per step (running set) at most
  int max_batch_tokens = 2048;  // new tokens per step (prefill chunks + decodes) at most
  int max_waiting = 1024;       // new requests waiting for admission at most

  // InvalidArgument naming the field if the limits cannot work together (e.g. a sliding pool
  // too small for one sequence to decode).
  absl::Status Validate() const;

  // The longest sequence (prompt + completion) the KV pools can ever hold.
  int EffectiveMaxLen() const;
};

}  // namespace gptoss
