// libFuzzer target: arbitrary bytes as a public API request, through everything a request meets
// before the engine: the wire parser (wire_messages.h: UTF-8 named per field), then validation
// and prompt building (GenerateCall::Prepare: tokenizer; ChatCall::Prepare: tool schemas,
// harmony rendering).
//
// Byte 0 bit 0 picks GenerateRequest (0) or ChatRequest (1); the rest is the serialized message.
// Invariants (abort on violation): a refused request is INVALID_ARGUMENT with a message; a
// prepared one has a non-empty prompt of ids inside the vocabulary that fits the context with
// its max_tokens.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "coordinator/chat_call.h"
#include "coordinator/generate_call.h"
#include "coordinator/inference_service.h"
#include "coordinator/wire_messages.h"

namespace {

using namespace gptoss;

std::unique_ptr<Tokenizer> g_tokenizer;
std::optional<harmony::HarmonyRenderer> g_renderer;
CallEnv g_env;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

void CheckOutcome(const absl::StatusOr<PreparedRequest>& prepared) {
  if (!prepared.ok()) {
    Check(prepared.status().code() == absl::StatusCode::kInvalidArgument,
          "refusals are INVALID_ARGUMENT");
    Check(!prepared.status().message().empty(), "refusals say why");
    return;
  }
  Check(!prepared->prompt.empty(), "a prompt is never empty");
  for (int32_t id : prepared->prompt)
    Check(id >= 0 && id < g_env.limits.vocab_size, "prompt ids are inside the vocabulary");
  const int budget = prepared->params.max_tokens.value_or(1);
  Check(static_cast<int64_t>(prepared->prompt.size()) + budget <= g_env.limits.context_length,
        "prompt + max_tokens fits the context");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto t = Tokenizer::Load();  // $GPTOSS_TOKENIZER or the repository copy
  if (!t.ok()) {
    std::fprintf(stderr, "tokenizer: %s\n", std::string(t.status().message()).c_str());
    std::abort();
  }
  g_tokenizer = std::move(*t);
  auto r = harmony::HarmonyRenderer::Create(g_tokenizer.get());
  if (!r.ok()) std::abort();
  g_renderer.emplace(std::move(*r));
  ModelConfig config;
  config.vocab_size = g_tokenizer->vocab_size();
  config.max_position_embeddings = 4096;
  g_env.tokenizer = g_tokenizer.get();
  g_env.renderer = &*g_renderer;
  g_env.limits = InferenceService::DefaultLimits(config);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  grpc::Slice slice(data + 1, size - 1);
  const grpc::ByteBuffer wire(&slice, 1);
  if ((data[0] & 1) == 0) {
    v1::GenerateRequest request;
    absl::Status parsed = ParseRequest(wire, &request);
    Check(parsed.ok() || parsed.code() == absl::StatusCode::kInvalidArgument, "parse errors");
    if (parsed.ok()) CheckOutcome(GenerateCall::Prepare(g_env, request));
  } else {
    v1::ChatRequest request;
    absl::Status parsed = ParseRequest(wire, &request);
    Check(parsed.ok() || parsed.code() == absl::StatusCode::kInvalidArgument, "parse errors");
    if (parsed.ok()) CheckOutcome(ChatCall::Prepare(g_env, request));
  }
  return 0;
}
