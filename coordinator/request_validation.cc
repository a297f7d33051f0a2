#include "coordinator/request_validation.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "coordinator/tokenizer/utf8.h"

namespace gptoss {
namespace {

constexpr int kMaxStopStrings = 16;
constexpr size_t kMaxStopStringBytes = 256;
constexpr int kMaxStopTokenIds = 64;
constexpr uint32_t kMaxTopLogprobs = 20;
constexpr int kMaxPriority = 100;
constexpr size_t kMaxRequestIdBytes = 128;

absl::Status Bad(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// lo <= x <= hi (lo_open: lo < x). NaN fails both comparisons.
bool InRange(float x, float lo, float hi, bool lo_open = false) {
  return (lo_open ? x > lo : x >= lo) && x <= hi;
}

}  // namespace

uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

absl::Status ValidateTokenIds(const google::protobuf::RepeatedField<int32_t>& ids,
                              absl::string_view field, int vocab_size) {
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size)
      return Bad(absl::StrCat(field, "[", i, "]"),
                 absl::StrCat("id ", ids[i], " not in [0, ", vocab_size, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CommonParams> ValidateCommon(const v1::SamplingParams& s, const v1::StopParams& stop,
                                            const v1::LogprobParams& lp, int32_t priority,
                                            const std::string& request_id,
                                            const ServingLimits& limits, uint64_t random_seed) {
  CommonParams out;
  StepSampling& sp = out.sampling;
  sp.temperature = s.has_temperature() ? s.temperature() : 1.0f;
  if (!InRange(sp.temperature, 0.0f, 2.0f))
    return Bad("sampling.temperature", absl::StrCat(sp.temperature, " not in [0, 2]"));
  sp.top_p = s.has_top_p() ? s.top_p() : 1.0f;
  if (!InRange(sp.top_p, 0.0f, 1.0f, /*lo_open=*/true))
    return Bad("sampling.top_p", absl::StrCat(sp.top_p, " not in (0, 1]"));
  if (s.top_k() > static_cast<uint32_t>(limits.vocab_size))
    return Bad("sampling.top_k", absl::StrCat(s.top_k(), " not in [0, ", limits.vocab_size, "]"));
  sp.top_k = static_cast<int>(s.top_k());
  sp.min_p = s.min_p();
  if (!InRange(sp.min_p, 0.0f, 1.0f))
    return Bad("sampling.min_p", absl::StrCat(sp.min_p, " not in [0, 1]"));
  sp.presence_penalty = s.presence_penalty();
  if (!InRange(sp.presence_penalty, -2.0f, 2.0f))
    return Bad("sampling.presence_penalty", absl::StrCat(sp.presence_penalty, " not in [-2, 2]"));
  sp.frequency_penalty = s.frequency_penalty();
  if (!InRange(sp.frequency_penalty, -2.0f, 2.0f))
    return Bad("sampling.frequency_penalty", absl::StrCat(sp.frequency_penalty, " not in [-2, 2]"));
  sp.repetition_penalty = s.has_repetition_penalty() ? s.repetition_penalty() : 1.0f;
  if (!InRange(sp.repetition_penalty, 0.0f, 10.0f, /*lo_open=*/true))
    return Bad("sampling.repetition_penalty",
               absl::StrCat(sp.repetition_penalty, " not in (0, 10]"));
  sp.seed = s.has_seed() ? s.seed() : random_seed;

  if (stop.has_max_tokens()) {
    if (stop.max_tokens() < 1) return Bad("stop.max_tokens", "must be >= 1");
    if (stop.max_tokens() > static_cast<uint32_t>(limits.context_length))
      return Bad("stop.max_tokens", absl::StrCat(stop.max_tokens(), " exceeds the context length ",
                                                 limits.context_length));
    out.max_tokens = static_cast<int>(stop.max_tokens());
  }
  if (stop.stop_size() > kMaxStopStrings)
    return Bad("stop.stop", absl::StrCat(stop.stop_size(), " strings, at most ", kMaxStopStrings));
  for (int i = 0; i < stop.stop_size(); ++i) {
    const std::string& str = stop.stop(i);
    const std::string field = absl::StrCat("stop.stop[", i, "]");
    if (str.empty() || str.size() > kMaxStopStringBytes)
      return Bad(field, absl::StrCat(str.size(), " bytes, must be 1..", kMaxStopStringBytes));
    if (!utf8::IsValid(str)) return Bad(field, "not valid UTF-8");
    out.stop_strings.push_back(str);
  }
  if (stop.stop_token_ids_size() > kMaxStopTokenIds)
    return Bad("stop.stop_token_ids",
               absl::StrCat(stop.stop_token_ids_size(), " ids, at most ", kMaxStopTokenIds));
  if (absl::Status st =
          ValidateTokenIds(stop.stop_token_ids(), "stop.stop_token_ids", limits.vocab_size);
      !st.ok())
    return st;
  out.stop_token_ids.assign(stop.stop_token_ids().begin(), stop.stop_token_ids().end());
  out.ignore_eos = stop.ignore_eos();

  if (lp.top_logprobs() > kMaxTopLogprobs)
    return Bad("logprobs.top_logprobs",
               absl::StrCat(lp.top_logprobs(), " not in [0, ", kMaxTopLogprobs, "]"));
  if (lp.top_logprobs() > 0 && !lp.enabled())
    return Bad("logprobs.top_logprobs", "requires logprobs.enabled");
  out.logprobs = lp.enabled();
  out.top_logprobs = static_cast<int>(lp.top_logprobs());

  if (priority < -kMaxPriority || priority > kMaxPriority)
    return Bad("priority", absl::StrCat(priority, " not in [-100, 100]"));
  out.priority = priority;
  if (request_id.size() > kMaxRequestIdBytes)
    return Bad("request_id",
               absl::StrCat(request_id.size(), " bytes, at most ", kMaxRequestIdBytes));
  out.request_id = request_id;
  return out;
}

absl::Status ValidatePromptLength(size_t prompt_len, std::optional<int> max_tokens,
                                  const ServingLimits& limits) {
  if (prompt_len == 0) return Bad("prompt", "empty");
  const size_t context = static_cast<size_t>(limits.context_length);
  if (prompt_len >= context)
    return Bad("prompt", absl::StrCat(prompt_len,
                                      " tokens; it must be shorter than the context "
                                      "length of ",
                                      context, " tokens"));
  if (max_tokens && prompt_len + static_cast<size_t>(*max_tokens) > context)
    return Bad("stop.max_tokens",
               absl::StrCat("prompt (", prompt_len, " tokens) + max_tokens (", *max_tokens,
                            ") exceeds the context length of ", context, " tokens"));
  return absl::OkStatus();
}

SequenceRequest MakeSequenceRequest(std::vector<int32_t> prompt, const CommonParams& params,
                                    const ServingLimits& limits) {
  SequenceRequest req;
  req.prompt = std::move(prompt);
  req.sampling = params.sampling;
  req.max_tokens = params.max_tokens.value_or(0);
  if (!params.ignore_eos) req.stop_token_ids = limits.eos_token_ids;
  for (int32_t id : params.stop_token_ids) {
    if (std::find(req.stop_token_ids.begin(), req.stop_token_ids.end(), id) ==
        req.stop_token_ids.end())
      req.stop_token_ids.push_back(id);
  }
  req.priority = params.priority;
  req.logprobs = params.logprobs;
  req.top_logprobs = params.top_logprobs;
  return req;
}

}  // namespace gptoss
