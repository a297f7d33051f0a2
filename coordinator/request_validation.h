// Validation of the public API's request fields (inference.proto) and their translation into
// the scheduler's SequenceRequest. Shared by Generate and Chat.
// Contract: every check returns InvalidArgument whose message starts with the offending field's
// path as the client wrote it, e.g. "sampling.top_p: 1.5 not in (0, 1]" or
// "prompt.token_ids[3]: id 999999 not in [0, 201088)". NaN is out of every range.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/scheduler/sequence.h"
#include "proto/gptoss/v1/inference.pb.h"

namespace gptoss {

// What the served model allows.
struct ServingLimits {
  int vocab_size = 0;
  // Longest prompt + completion (the model's context, capped by what the KV pools can hold).
  int context_length = 0;
  // Ids that end generation unless StopParams.ignore_eos: harmony's <|return|>, <|call|>,
  // <|endoftext|> plus the config's eos ids (those inside the vocabulary).
  std::vector<int32_t> eos_token_ids;
  // Streams write after every `stream_interval` tokens (the first at once, the rest merged),
  // for very high concurrency; 1: every token as soon as the stream is free.
  int stream_interval = 1;
};

// The request fields both rpcs share, validated.
struct CommonParams {
  StepSampling sampling;          // seed filled in (the request's or a random one)
  std::optional<int> max_tokens;  // unset: up to the context length
  std::vector<std::string> stop_strings;
  std::vector<int32_t> stop_token_ids;  // extra ids from the request
  bool ignore_eos = false;
  bool logprobs = false;
  int top_logprobs = 0;
  int priority = 0;
  std::string request_id;
};

// `random_seed` is used when the request has no seed.
absl::StatusOr<CommonParams> ValidateCommon(const v1::SamplingParams& sampling,
                                            const v1::StopParams& stop,
                                            const v1::LogprobParams& logprobs, int32_t priority,
                                            const std::string& request_id,
                                            const ServingLimits& limits, uint64_t random_seed);

// Ids of a pre-tokenized prompt (field path "prompt.token_ids").
absl::Status ValidateTokenIds(const google::protobuf::RepeatedField<int32_t>& ids,
                              absl::string_view field, int vocab_size);

// prompt non-empty, shorter than the context, and prompt + max_tokens within it.
absl::Status ValidatePromptLength(size_t prompt_len, std::optional<int> max_tokens,
                                  const ServingLimits& limits);

// The scheduler's request: the prompt plus the complete stop id set.
SequenceRequest MakeSequenceRequest(std::vector<int32_t> prompt, const CommonParams& params,
                                    const ServingLimits& limits);

// A seed for requests that bring none (std::random_device).
uint64_t RandomSeed();

}  // namespace gptoss
