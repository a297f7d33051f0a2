#include "coordinator/inference_service.h"

#include "coordinator/serving_metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "coordinator/chat_call.h"
#include "coordinator/generate_call.h"
#include "worker/common/status_mapping.h"
#include "coordinator/wire_messages.h"
#include "kernels/core/status.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "coordinator/tokenizer/utf8.h"

namespace gptoss {
namespace {

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
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
                                   const harmony::HarmonyRenderer* renderer, const WorkerPool* pool,
                                   ApiKeys keys, ServingMetrics* metrics)
    : config_(config),
      model_name_(std::move(model_name)),
      tokenizer_(tokenizer),
      renderer_(renderer),
      pool_(pool),
      metrics_(metrics),
      keys_(std::move(keys)),
      limits_(DefaultLimits(config)) {}

void InferenceService::SetEngine(std::shared_ptr<EngineLoop> engine, const ServingLimits& limits) {
  std::lock_guard<std::mutex> lock(mu_);
  engine_ = std::move(engine);
  limits_ = limits;
}

CallEnv InferenceService::Env() const {
  std::lock_guard<std::mutex> lock(mu_);
  return CallEnv{engine_, tokenizer_, renderer_, limits_, absl::OkStatus(), metrics_};
}

namespace {

// Counts a large call for as long as it lives; refuses beyond the limit.
class LargeCallSlot {
 public:
  LargeCallSlot(std::atomic<int>* in_flight, bool large) : in_flight_(large ? in_flight : nullptr) {
    if (in_flight_ && in_flight_->fetch_add(1) >= InferenceService::kMaxLargeCalls) {
      in_flight_->fetch_sub(1);
      in_flight_ = nullptr;
      refused_ = true;
    }
  }
  ~LargeCallSlot() {
    if (in_flight_) in_flight_->fetch_sub(1);
  }
  bool refused() const { return refused_; }

 private:
  std::atomic<int>* in_flight_;
  bool refused_ = false;
};

absl::Status LargeCallRefusal() {
  return absl::ResourceExhaustedError(absl::StrCat(
      "more than ", InferenceService::kMaxLargeCalls, " large requests in flight; retry later"));
}

// A unary call: authorize, bound, parse, run `body`, serialize; every error through Answer().
template <typename Request, typename Response, typename Body>
grpc::ServerUnaryReactor* Unary(const char* rpc, ServingMetrics* metrics,
                                grpc::CallbackServerContext* context, const ApiKeys& keys,
                                std::atomic<int>* large_calls, const grpc::ByteBuffer* raw_request,
                                grpc::ByteBuffer* raw_response, Body body) {
  absl::Status status = keys.Check(*context);
  const LargeCallSlot slot(large_calls,
                           raw_request->Length() > InferenceService::kLargeRequestBytes);
  if (status.ok() && slot.refused()) status = LargeCallRefusal();
  if (status.ok() && context->IsCancelled())
    status = absl::CancelledError("cancelled before the work started");
  Request request;
  Response response;
  if (status.ok()) status = ParseRequest(*raw_request, &request);
  if (status.ok()) status = body(request, &response);
  if (status.ok()) status = SerializeResponse(response, raw_response);
  if (metrics) metrics->RpcEnded(rpc, ToGrpcStatus(status));
  return Answer(context, status);
}

// The gate of a streaming call: the slot is held while Start() validates and builds the prompt
// (the tokenizing of a large prompt is the costly part; the engine bounds the rest).
template <typename Call, typename Request>
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartStream(grpc::CallbackServerContext* context,
                                                        const ApiKeys& keys, CallEnv env,
                                                        std::atomic<int>* large_calls,
                                                        const grpc::ByteBuffer* raw) {
  env.refusal = keys.Check(*context);
  const LargeCallSlot slot(large_calls, raw->Length() > InferenceService::kLargeRequestBytes);
  if (env.refusal.ok() && slot.refused()) env.refusal = LargeCallRefusal();
  if (env.refusal.ok() && context->IsCancelled())
    env.refusal = absl::CancelledError("cancelled before the work started");
  Request request;
  if (env.refusal.ok()) env.refusal = ParseRequest(*raw, &request);
  return Call::Start(env, request);
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw) {
  return StartStream<GenerateCall, v1::GenerateRequest>(context, keys_, Env(), &large_calls_,
                                                        raw);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InferenceService::Chat(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw) {
  return StartStream<ChatCall, v1::ChatRequest>(context, keys_, Env(), &large_calls_, raw);
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request,
                                                     grpc::ByteBuffer* response) {
  return Unary<v1::TokenizeRequest, v1::TokenizeResponse>(
      "Tokenize", metrics_, context, keys_, &large_calls_, request, response,
      [this](const v1::TokenizeRequest& r, v1::TokenizeResponse* out) {
        return DoTokenize(r, out);
      });
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  return Unary<v1::DetokenizeRequest, v1::DetokenizeResponse>(
      "Detokenize", metrics_, context, keys_, &large_calls_, request, response,
      [this](const v1::DetokenizeRequest& r, v1::DetokenizeResponse* out) {
        return DoDetokenize(r, out);
      });
}

grpc::ServerUnaryReactor* InferenceService::GetModelInfo(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* response) {
  const CallEnv env = Env();
  return Unary<v1::GetModelInfoRequest, v1::ModelInfo>(
      "GetModelInfo", metrics_, context, keys_, &large_calls_, request, response,
      [this, &env](const v1::GetModelInfoRequest&, v1::ModelInfo* out) {
        return DoGetModelInfo(env, out);
      });
}

absl::Status InferenceService::DoTokenize(const v1::TokenizeRequest& request,
                                          v1::TokenizeResponse* response) const {
  std::vector<int> ids = request.allow_special() ? EncodeWithSpecials(*tokenizer_, request.text())
                                                 : tokenizer_->Encode(request.text());
  response->mutable_token_ids()->Add(ids.begin(), ids.end());
  return absl::OkStatus();
}

absl::Status InferenceService::DoDetokenize(const v1::DetokenizeRequest& request,
                                            v1::DetokenizeResponse* response) const {
  const int vocab = std::min(config_.vocab_size, tokenizer_->vocab_size());
  GPTOSS_RETURN_IF_ERROR(ValidateTokenIds(request.token_ids(), "token_ids", vocab));
  // Sized before anything is built: a few MB of ids must not become hundreds of MB of text.
  size_t out_bytes = 0;
  for (int id : request.token_ids()) {
    absl::StatusOr<std::string_view> bytes = tokenizer_->TokenBytes(id);
    out_bytes += bytes.ok() ? bytes->size() : 0;
    if (out_bytes > kMaxDetokenizeBytes)
      return absl::ResourceExhaustedError(absl::StrCat("token_ids: the text would exceed ",
                                                       kMaxDetokenizeBytes,
                                                       " bytes; detokenize fewer ids per call"));
  }
  // A small request can still decode to a large text: such calls share the large-call slots.
  const LargeCallSlot slot(&large_calls_, out_bytes > kLargeRequestBytes);
  if (slot.refused()) return LargeCallRefusal();
  std::vector<int> ids(request.token_ids().begin(), request.token_ids().end());
  absl::StatusOr<std::string> raw = tokenizer_->Decode(ids);
  if (!raw.ok())
    return absl::InvalidArgumentError(absl::StrCat("token_ids: ", raw.status().message()));
  response->set_text(utf8::ToValid(*raw));
  response->set_raw_bytes(std::move(*raw));
  return absl::OkStatus();
}

absl::Status InferenceService::DoGetModelInfo(const CallEnv& env, v1::ModelInfo* info) const {
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
  return absl::OkStatus();
}

}  // namespace gptoss
