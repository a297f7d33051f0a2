// OpenAiApi: the OpenAI-compatible HTTP API of the coordinator (--http-port), served by
// HttpServer (worker/common/http_server.h: Boost.Beast, asynchronous, bounded) and calling the
// same request path as the gRPC service (InferenceService's engine, limits, tokenizer and
// renderer; ChatCall/GenerateCall validation): there is no loopback gRPC hop.
// Routes:
//   GET  /v1/models, /v1/models/{id}     the served model
//   POST /v1/chat/completions            chat_completions_call.h
//   POST /v1/completions                 completions_call.h
//   POST /v1/responses                   responses_call.h (GET /v1/responses/{id}: 404, nothing
//                                        is stored)
//   GET  /health                         200 when the workers are ready, else 503 (open)
//   GET  /metrics                        the coordinator's Prometheus metrics (open)
// Contract:
//  - With API keys (--api-key-file, the same keys as the gRPC API) every /v1 route needs
//    "Authorization: Bearer <key>": 401 otherwise.
//  - Every error is OpenAI's shape {"error": {"message", "type", "param", "code"}} with the
//    status of openai_json.h's mapping (400 naming the parameter, 401, 404 for another model or
//    route, 405, 413 from the server's body limit, 429 queue full, 503 no workers/draining).
//  - The request's "model" must be the served model's id (absent is accepted).
//  - A client that disconnects cancels its request; its KV cache is freed at the next step.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "coordinator/api_keys.h"
#include "coordinator/inference_service.h"
#include "coordinator/openai/openai_json.h"
#include "prometheus/registry.h"
#include "worker/common/http_server.h"

namespace gptoss::openai {

class OpenAiApi {
 public:
  // Everything passed must outlive the API's server. `registry` may be null (no /metrics).
  OpenAiApi(const InferenceService* service, std::string model_name, ApiKeys keys,
            std::shared_ptr<prometheus::Registry> registry, std::function<bool()> healthy)
      : service_(service),
        model_name_(std::move(model_name)),
        keys_(std::move(keys)),
        registry_(std::move(registry)),
        healthy_(std::move(healthy)),
        created_(std::time(nullptr)) {}

  void Handle(HttpServer::Request request, std::shared_ptr<HttpResponder> responder) const;

  // An answer given at once, with the status it reports (counted in the metrics).
  struct Answer {
    HttpServer::Response response;
    absl::Status status;
  };

 private:
  // The answer to a request that is not a generation (or its error); a generation answers
  // through its call and returns nullopt.
  std::optional<Answer> Route(const HttpServer::Request& request,
                              const std::shared_ptr<HttpResponder>& responder) const;
  absl::Status Generate(const std::string& route, const HttpServer::Request& request,
                        const std::shared_ptr<HttpResponder>& responder) const;
  Json ModelJson() const;

  const InferenceService* const service_;
  const std::string model_name_;
  const ApiKeys keys_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const std::function<bool()> healthy_;
  const int64_t created_;
};

}  // namespace gptoss::openai
