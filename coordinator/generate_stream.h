// GenerateEventStream: the sampled tokens of one raw completion → text pieces, without any
// transport, shared by the gRPC Generate call and the HTTP completions endpoint.
//  - Text never splits a UTF-8 code point (StreamingDetokenizer) and is held back while it may
//    begin a stop string (StopStringMatcher); the request's last token flushes what is held.
//  - A stop token (finish == kStop) is returned in token_ids but adds no text; with
//    skip_special, no special token (<|start|>, <|channel|>, ...) adds text either.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler/scheduler.h"
#include "coordinator/stop_strings.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "proto/gptoss/v1/inference.pb.h"

namespace gptoss {

class GenerateEventStream {
 public:
  GenerateEventStream(const Tokenizer* tokenizer, bool logprobs,
                      const std::vector<std::string>& stop_strings, bool skip_special = false);

  struct Step {
    v1::GenerateChunk chunk;                 // this token: its id, text and logprob
    std::optional<std::string> stop_string;  // a stop string matched: the request ends here
  };
  Step OnToken(const SequenceUpdate& update);

  // The finish reason of a request whose last token was `update` (finish != kNone) and that no
  // stop string ended: STOP (with the token's literal as stop_reason) or LENGTH.
  v1::FinishReason FinishReasonOf(const SequenceUpdate& update, std::string* stop_reason) const;

 private:
  const Tokenizer* tokenizer_;
  const bool logprobs_;
  const bool skip_special_;
  StreamingDetokenizer detokenizer_;
  std::optional<StopStringMatcher> stops_;
};

}  // namespace gptoss
