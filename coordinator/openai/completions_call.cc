#include "coordinator/openai/completions_call.h"

#include "absl/strings/str_cat.h"
#include "coordinator/generate_call.h"
#include "coordinator/openai/harmony_request.h"
#include "coordinator/tokenizer/utf8.h"
#include "kernels/core/status.h"

namespace gptoss::openai {

absl::StatusOr<CompletionRequest> ParseCompletionRequest(const Json& body) {
  Fields f(body);
  std::vector<absl::string_view> known = {
      "model", "prompt", "stream", "stream_options", "max_tokens", "temperature", "top_p", "top_k",
      "min_p", "n", "stop", "presence_penalty", "frequency_penalty", "repetition_penalty", "seed",
      "logprobs", "echo", "suffix", "best_of", "logit_bias", "skip_special_tokens"};
  known.insert(known.end(), kIgnoredFields.begin(), kIgnoredFields.end());
  GPTOSS_RETURN_IF_ERROR(f.OnlyKnown(known));
  CompletionRequest r;
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> n, f.Int("n", 1, 1 << 20));
  if (n && *n != 1) return f.Bad("n", "only n = 1 is supported");
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> best_of, f.Int("best_of", 1, 1 << 20));
  if (best_of && *best_of != 1) return f.Bad("best_of", "only best_of = 1 is supported");
  GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> echo, f.Bool("echo"));
  if (echo.value_or(false)) return f.Bad("echo", "not supported");
  GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> suffix, f.String("suffix"));
  if (suffix && !suffix->empty()) return f.Bad("suffix", "not supported (no fill-in-the-middle)");
  if (const Json* bias = f.Get("logit_bias"); bias && !(bias->is_object() && bias->empty()))
    return f.Bad("logit_bias", "not supported");
  GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> stream, f.Bool("stream"));
  r.stream = stream.value_or(false);
  GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> skip, f.Bool("skip_special_tokens"));
  r.skip_special_tokens = skip.value_or(true);
  if (const Json* options = f.Get("stream_options")) {
    if (!options->is_object()) return f.Bad("stream_options", "must be an object");
    GPTOSS_ASSIGN_OR_RETURN(std::optional<bool> usage,
                            Fields(*options, "stream_options.").Bool("include_usage"));
    r.include_usage = usage.value_or(false);
  }

  v1::GenerateRequest& g = r.generate;
  const Json* prompt = f.Get("prompt");
  if (!prompt) return f.Bad("prompt", "required");
  const Json* one = prompt;
  // [[ids]] or ["text"]: one prompt in a batch of one.
  if (prompt->is_array() && prompt->size() == 1 && ((*prompt)[0].is_array() || (*prompt)[0].is_string()))
    one = &(*prompt)[0];
  if (one->is_string()) {
    g.set_text(one->get<std::string>());
  } else if (one->is_array() && !one->empty() && (*one)[0].is_number_integer()) {
    for (size_t i = 0; i < one->size(); ++i) {
      const Json& id = (*one)[i];
      if (!id.is_number_integer() || id.get<int64_t>() < INT32_MIN || id.get<int64_t>() > INT32_MAX)
        return f.Bad(absl::StrCat("prompt[", i, "]"), "must be a token id");
      g.mutable_token_ids()->add_ids(static_cast<int32_t>(id.get<int64_t>()));
    }
  } else if (one->is_array() && one->size() > 1) {
    return f.Bad("prompt", "several prompts in one request are not supported; send one each");
  } else {
    return f.Bad("prompt", "must be a string or an array of token ids");
  }
  GPTOSS_RETURN_IF_ERROR(ReadSampling(f, g.mutable_sampling()));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> max_tokens, f.Int("max_tokens", 1, UINT32_MAX));
  g.mutable_stop()->set_max_tokens(static_cast<uint32_t>(max_tokens.value_or(16)));
  GPTOSS_ASSIGN_OR_RETURN(std::vector<std::string> stops, f.StringOrStrings("stop"));
  for (std::string& s : stops) g.mutable_stop()->add_stop(std::move(s));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<int64_t> logprobs, f.Int("logprobs", 0, 5));
  if (logprobs) {
    g.mutable_logprobs()->set_enabled(true);
    g.mutable_logprobs()->set_top_logprobs(static_cast<uint32_t>(*logprobs));
  }
  return r;
}

std::shared_ptr<CompletionCall> CompletionCall::Create(std::shared_ptr<HttpResponder> responder,
                                                       const CompletionRequest& request,
                                                       std::string model,
                                                       const Tokenizer* tokenizer) {
  return std::shared_ptr<CompletionCall>(
      new CompletionCall(std::move(responder), request, std::move(model), tokenizer));
}

CompletionCall::CompletionCall(std::shared_ptr<HttpResponder> responder,
                               const CompletionRequest& request, std::string model,
                               const Tokenizer* tokenizer)
    : HttpCall(std::move(responder), request.stream, std::move(model)),
      tokenizer_(tokenizer),
      id_(RandomId("cmpl-")),
      created_(UnixNow()),
      include_usage_(request.include_usage),
      logprobs_(request.generate.logprobs().enabled()) {
  if (logprobs_)
    logprob_json_ = {{"tokens", Json::array()}, {"token_logprobs", Json::array()},
                     {"top_logprobs", Json::array()}, {"text_offset", Json::array()}};
}

absl::Status CompletionCall::Start(const CallEnv& env, const CompletionRequest& request) {
  absl::StatusOr<PreparedRequest> prepared = GenerateCall::Prepare(env, request.generate);
  if (!prepared.ok()) {
    absl::Status st = ToOpenAiParams(prepared.status(), "max_tokens");
    // The gRPC field paths of the prompt ("prompt.token_ids[3]") name the same thing here.
    std::string message(st.message());
    if (message.starts_with("prompt.token_ids"))
      st = absl::InvalidArgumentError("prompt" + message.substr(16));
    return st;
  }
  stream_.emplace(env.tokenizer, prepared->params.logprobs, prepared->params.stop_strings,
                  request.skip_special_tokens);
  const CommonParams params = prepared->params;
  return Admit(env, MakeSequenceRequest(std::move(prepared->prompt), params, env.limits), params);
}

Json CompletionCall::Choice(const std::string& text, Json logprobs,
                            const Json& finish_reason) const {
  return {{"index", 0}, {"text", text}, {"logprobs", std::move(logprobs)},
          {"finish_reason", finish_reason}};
}

Json CompletionCall::Object(Json choices) const {
  Json o = {{"id", id_}, {"object", "text_completion"}, {"created", created_},
            {"model", model()}, {"system_fingerprint", nullptr}, {"choices", std::move(choices)}};
  if (streaming() && include_usage_) o["usage"] = nullptr;
  return o;
}

void CompletionCall::AddLogprobs(const v1::GenerateChunk& chunk, Json& into) {
  for (const v1::TokenLogprob& lp : chunk.logprobs()) {
    absl::StatusOr<std::string_view> bytes = tokenizer_->TokenBytes(lp.token_id());
    into["tokens"].push_back(utf8::ToValid(bytes.ok() ? *bytes : std::string_view()));
    into["token_logprobs"].push_back(lp.logprob());
    Json tops = Json::object();
    for (const v1::TopLogprob& t : lp.top_logprobs())
      tops[utf8::ToValid(t.token_bytes())] = t.logprob();
    into["top_logprobs"].push_back(std::move(tops));
    into["text_offset"].push_back(text_.size());
  }
}

bool CompletionCall::Consume(const SequenceUpdate& update) {
  GenerateEventStream::Step step = stream_->OnToken(update);
  Json logprobs = nullptr;
  if (logprobs_) {
    Json piece = {{"tokens", Json::array()}, {"token_logprobs", Json::array()},
                  {"top_logprobs", Json::array()}, {"text_offset", Json::array()}};
    AddLogprobs(step.chunk, piece);
    for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
      for (const Json& v : piece[key]) logprob_json_[key].push_back(v);
    logprobs = std::move(piece);
  }
  const std::string& text = step.chunk.text();
  text_ += text;
  if (streaming() && (!text.empty() || logprobs_))
    SendEvent(Object(Json::array({Choice(text, std::move(logprobs), nullptr)})));
  std::string finish;
  if (step.stop_string) {
    finish = "stop";
  } else if (update.finish != FinishReason::kNone) {
    std::string stop_reason;
    finish = stream_->FinishReasonOf(update, &stop_reason) == v1::FINISH_REASON_STOP ? "stop"
                                                                                    : "length";
  } else {
    return false;
  }
  Json usage = UsageJson(0);
  usage.erase("completion_tokens_details");
  if (streaming()) {
    SendEvent(Object(Json::array({Choice("", nullptr, finish)})));
    if (include_usage_) {
      Json last = Object(Json::array());
      last["usage"] = usage;
      SendEvent(last);
    }
    SendDone();
  } else {
    Json o = Object(Json::array({Choice(text_, logprobs_ ? logprob_json_ : Json(nullptr), finish)}));
    o["usage"] = usage;
    Respond(o);
  }
  return true;
}

}  // namespace gptoss::openai
