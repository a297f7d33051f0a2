#include "coordinator/inference_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "coordinator/chat_call.h"
#include "coordinator/generate_call.h"
#include "coordinator/status_mapping.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "coordinator/tokenizer/utf8.h"

namespace gptoss {
namespace {

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Text with harmony special-token literals ("<|start|>") turned into their ids and everything
// else encoded as ordinary text.
std::vector<int> EncodeWithSpecials(const Tokenizer& tokenizer, std::string_view text) {
  std::vector<int> ids;
  size_t plain_start = 0, at = 0;
  while ((at = text.find("<|", at)) != std::string_view::npos) {
    const size_t end = text.find("|>", at + 2);
    if (end == std::string_view::npos) break;
    absl::StatusOr<int> special = tokenizer.SpecialTokenId(text.substr(at, end + 2 - at));
    if (!special.ok()) {
      at += 2;
      continue;
    }
    std::vector<int> plain = tokenizer.Encode(text.substr(plain_start, at - plain_start));
    ids.insert(ids.end(), plain.begin(), plain.end());
    ids.push_back(*special);
    plain_start = at = end + 2;
  }
  std::vector<int> plain = tokenizer.Encode(text.substr(plain_start));
  ids.insert(ids.end(), plain.begin(), plain.end());
  return ids;
}

}  // namespace

ServingLimits InferenceService::DefaultLimits(const ModelConfig& config) {
  ServingLimits limits;
  limits.vocab_size = config.vocab_size;
  limits.context_length = config.max_position_embeddings;
  auto add = [&](int id) {
    if (id >= 0 && id < config.vocab_size &&
        std::find(limits.eos_token_ids.begin(), limits.eos_token_ids.end(), id) ==
            limits.eos_token_ids.end())
      limits.eos_token_ids.push_back(id);
  };
  for (int id : harmony::kGenerationStopTokens) add(id);
  for (int id : config.eos_token_ids) add(id);
  return limits;
}

InferenceService::InferenceService(const ModelConfig& config, std::string model_name,
                                   const Tokenizer* tokenizer,
                                   const harmony::HarmonyRenderer* renderer, const WorkerPool* pool)
    : config_(config),
      model_name_(std::move(model_name)),
      tokenizer_(tokenizer),
      renderer_(renderer),
      pool_(pool),
      limits_(DefaultLimits(config)) {}

void InferenceService::SetEngine(std::shared_ptr<EngineLoop> engine, const ServingLimits& limits) {
  std::lock_guard<std::mutex> lock(mu_);
  engine_ = std::move(engine);
  limits_ = limits;
}

CallEnv InferenceService::Env() const {
  std::lock_guard<std::mutex> lock(mu_);
  return CallEnv{engine_, tokenizer_, renderer_, limits_};
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* /*context*/, const v1::GenerateRequest* request) {
  return GenerateCall::Start(Env(), *request);
}

grpc::ServerWriteReactor<v1::ChatResponse>* InferenceService::Chat(
    grpc::CallbackServerContext* /*context*/, const v1::ChatRequest* request) {
  return ChatCall::Start(Env(), *request);
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const v1::TokenizeRequest* request,
                                                     v1::TokenizeResponse* response) {
  std::vector<int> ids = request->allow_special() ? EncodeWithSpecials(*tokenizer_, request->text())
                                                  : tokenizer_->Encode(request->text());
  response->mutable_token_ids()->Add(ids.begin(), ids.end());
  return Answer(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* context,
                                                       const v1::DetokenizeRequest* request,
                                                       v1::DetokenizeResponse* response) {
  const int vocab = std::min(config_.vocab_size, tokenizer_->vocab_size());
  absl::Status status = ValidateTokenIds(request->token_ids(), "token_ids", vocab);
  if (!status.ok()) return Answer(context, status);
  std::vector<int> ids(request->token_ids().begin(), request->token_ids().end());
  absl::StatusOr<std::string> raw = tokenizer_->Decode(ids);
  if (!raw.ok())
    return Answer(context,
                  absl::InvalidArgumentError(absl::StrCat("token_ids: ", raw.status().message())));
  response->set_text(utf8::ToValid(*raw));
  response->set_raw_bytes(std::move(*raw));
  return Answer(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::GetModelInfo(grpc::CallbackServerContext* context,
                                                         const v1::GetModelInfoRequest* /*request*/,
                                                         v1::ModelInfo* info) {
  const CallEnv env = Env();
  info->set_model_name(model_name_);
  info->set_context_length(static_cast<uint32_t>(env.limits.context_length));
  info->set_vocab_size(static_cast<uint32_t>(config_.vocab_size));
  info->set_num_layers(static_cast<uint32_t>(config_.num_hidden_layers));
  info->set_hidden_size(static_cast<uint32_t>(config_.hidden_size));
  info->set_num_experts(static_cast<uint32_t>(config_.num_local_experts));
  info->set_experts_per_token(static_cast<uint32_t>(config_.num_experts_per_tok));
  info->set_sliding_window(static_cast<uint32_t>(config_.sliding_window));
  info->mutable_eos_token_ids()->Add(env.limits.eos_token_ids.begin(),
                                     env.limits.eos_token_ids.end());
  const std::string backend = pool_->backend();
  info->set_backend(backend.empty() ? "none" : backend);
  pool_->FillParallelInfo(info->mutable_parallel());
  if (std::optional<KvPoolSpec> kv = pool_->kv_spec()) {
    v1::KvCacheInfo* k = info->mutable_kv_cache();
    k->set_block_size(static_cast<uint32_t>(kv->block_size));
    k->set_num_full_blocks(static_cast<uint32_t>(kv->num_full_blocks));
    k->set_num_sliding_blocks(static_cast<uint32_t>(kv->num_sliding_blocks));
    if (env.engine) {
      k->set_max_num_seqs(static_cast<uint32_t>(env.engine->config().max_num_seqs));
      k->set_max_batch_tokens(static_cast<uint32_t>(env.engine->config().max_batch_tokens));
    }
  }
  return Answer(context, absl::OkStatus());
}

}  // namespace gptoss
