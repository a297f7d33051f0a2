#include "coordinator/generate_stream.h"

#include "coordinator/call_common.h"

namespace gptoss {

GenerateEventStream::GenerateEventStream(const Tokenizer* tokenizer, bool logprobs,
                                         const std::vector<std::string>& stop_strings,
                                         bool skip_special)
    : tokenizer_(tokenizer),
      logprobs_(logprobs),
      skip_special_(skip_special),
      detokenizer_(tokenizer) {
  if (!stop_strings.empty()) stops_.emplace(stop_strings);
}

GenerateEventStream::Step GenerateEventStream::OnToken(const SequenceUpdate& update) {
  Step out;
  std::string piece;
  const bool silent = skip_special_ && tokenizer_->IsSpecial(update.token_id);
  if (update.finish != FinishReason::kStop && !silent) {
    // An id the tokenizer cannot decode cannot come from a valid step (ids are range-checked),
    // so an error here only loses that token's text.
    if (absl::StatusOr<std::string> text = detokenizer_.Push(update.token_id); text.ok())
      piece = std::move(*text);
  }
  if (update.finish != FinishReason::kNone) piece += detokenizer_.Flush();
  std::string text;
  if (stops_) {
    StopStringMatcher::Output matched = stops_->Push(piece);
    text = std::move(matched.text);
    out.stop_string = std::move(matched.match);
    if (!out.stop_string && update.finish != FinishReason::kNone) text += stops_->Flush();
  } else {
    text = std::move(piece);
  }
  out.chunk.add_token_ids(update.token_id);
  out.chunk.set_text(std::move(text));
  if (logprobs_) FillTokenLogprob(update, *tokenizer_, out.chunk.add_logprobs());
  return out;
}

v1::FinishReason GenerateEventStream::FinishReasonOf(const SequenceUpdate& update,
                                                     std::string* stop_reason) const {
  stop_reason->clear();
  if (update.finish == FinishReason::kStop) {
    if (absl::StatusOr<std::string_view> literal = tokenizer_->TokenBytes(update.token_id);
        literal.ok())
      *stop_reason = std::string(*literal);
    return v1::FINISH_REASON_STOP;
  }
  return v1::FINISH_REASON_LENGTH;
}

}  // namespace gptoss
