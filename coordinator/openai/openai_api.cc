#include "coordinator/openai/openai_api.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "coordinator/openai/chat_completions_call.h"
#include "coordinator/openai/completions_call.h"
#include "coordinator/openai/harmony_request.h"
#include "coordinator/openai/responses_call.h"
#include "kernels/core/status.h"
#include "worker/common/metrics.h"
#include "worker/common/status_mapping.h"
#include "coordinator/serving_metrics.h"

namespace gptoss::openai {
namespace {

namespace http = boost::beast::http;

HttpServer::Response JsonResponse(const HttpServer::Request& request, unsigned status,
                                  const Json& body) {
  return TextResponse(request, status, Dump(body), "application/json");
}

OpenAiApi::Answer ErrorResponse(const HttpServer::Request& request, const absl::Status& error,
                                unsigned status = 0) {
  return {JsonResponse(request, status ? status : HttpStatusOf(error), ErrorJson(error)), error};
}

OpenAiApi::Answer Ok(HttpServer::Response response) {
  return {std::move(response), absl::OkStatus()};
}

// The rpc label of an HTTP route in gptoss_requests_total (a small fixed set; "" for the
// routes that are not API calls).
std::string RpcName(boost::beast::string_view target) {
  const std::string path(target.substr(0, target.find('?')));
  if (path == "/v1/chat/completions") return "http:ChatCompletions";
  if (path == "/v1/completions") return "http:Completions";
  if (path == "/v1/responses" || path.starts_with("/v1/responses/")) return "http:Responses";
  if (path == "/v1/models" || path.starts_with("/v1/models/")) return "http:Models";
  if (path.starts_with("/v1/")) return "http:Other";
  return "";
}

}  // namespace

Json OpenAiApi::ModelJson() const {
  return Json{{"id", model_name_}, {"object", "model"}, {"created", created_},
              {"owned_by", "gptoss"}};
}

void OpenAiApi::Handle(HttpServer::Request request,
                       std::shared_ptr<HttpResponder> responder) const {
  std::optional<Answer> response;
  try {
    response = Route(request, responder);
  } catch (const std::exception& e) {  // a JSON value of an unexpected type deep in a request
    response = ErrorResponse(
        request, absl::InvalidArgumentError(absl::StrCat("request body: unexpected JSON (",
                                                         e.what(), ")")));
  }
  if (!response) return;  // a generation: its call answers, and counts itself
  // Answered at once: counted here, like the gRPC calls (/health and /metrics are not API calls).
  const std::string rpc = RpcName(request.target());
  ServingMetrics* metrics = service_->Env().metrics;
  if (metrics && !rpc.empty())
    metrics->RpcEnded(rpc, ToGrpcStatus(response->status));
  responder->Respond(std::move(response->response));
}

std::optional<OpenAiApi::Answer> OpenAiApi::Route(
    const HttpServer::Request& request, const std::shared_ptr<HttpResponder>& responder) const {
  const std::string target(request.target());
  const std::string path = target.substr(0, target.find('?'));
  const bool get = request.method() == http::verb::get || request.method() == http::verb::head;
  const bool post = request.method() == http::verb::post;
  if (path == "/health") {
    if (!get) return ErrorResponse(request, absl::InvalidArgumentError("use GET /health"), 405);
    return healthy_() ? Ok(TextResponse(request, 200, "ok\n"))
                      : Answer{TextResponse(request, 503, "not ready\n"),
                               absl::UnavailableError("not ready")};
  }
  if (path == "/metrics" && registry_) {
    if (!get) return ErrorResponse(request, absl::InvalidArgumentError("use GET /metrics"), 405);
    return Ok(metrics::MetricsResponse(request, *registry_));
  }
  if (!path.starts_with("/v1/"))
    return ErrorResponse(request, absl::NotFoundError(absl::StrCat("no route ", path)));
  const auto authorization = request.find(http::field::authorization);
  if (absl::Status auth = keys_.Check(authorization == request.end()
                                          ? absl::string_view()
                                          : absl::string_view(authorization->value().data(),
                                                              authorization->value().size()));
      !auth.ok()) {
    Answer answer = ErrorResponse(request, auth);
    answer.response.set(http::field::www_authenticate, "Bearer");
    return answer;
  }
  if (path == "/v1/models" || path.starts_with("/v1/models/")) {
    if (!get) return ErrorResponse(request, absl::InvalidArgumentError("use GET"), 405);
    if (path == "/v1/models")
      return Ok(JsonResponse(request, 200,
                             Json{{"object", "list"}, {"data", Json::array({ModelJson()})}}));
    if (path.substr(11) != model_name_)
      return ErrorResponse(request, absl::NotFoundError(absl::StrCat(
                                        "model '", path.substr(11), "' does not exist")));
    return Ok(JsonResponse(request, 200, ModelJson()));
  }
  if (path.starts_with("/v1/responses/"))
    return ErrorResponse(request, absl::NotFoundError("responses are not stored by this server"));
  if (path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/responses") {
    if (!post) return ErrorResponse(request, absl::InvalidArgumentError("use POST"), 405);
    absl::Status st = Generate(path, request, responder);
    if (st.ok()) return std::nullopt;
    return ErrorResponse(request, st);
  }
  return ErrorResponse(request, absl::NotFoundError(absl::StrCat("no route ", path)));
}

absl::Status OpenAiApi::Generate(const std::string& route, const HttpServer::Request& request,
                                 const std::shared_ptr<HttpResponder>& responder) const {
  GPTOSS_ASSIGN_OR_RETURN(Json body, ParseBody(request.body()));
  const CallEnv env = service_->Env();
  // The model first: a request for another model is answered 404 whatever else it says.
  GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> model, Fields(body).String("model"));
  if (model && !model->empty() && *model != model_name_)
    return absl::NotFoundError(absl::StrCat("model '", *model,
                                            "' does not exist; this server serves '", model_name_,
                                            "'"));
  if (route == "/v1/completions") {
    GPTOSS_ASSIGN_OR_RETURN(CompletionRequest parsed, ParseCompletionRequest(body));
    auto call = CompletionCall::Create(responder, parsed, model_name_, env.tokenizer);
    return call->Start(env, parsed);
  }
  const bool chat = route == "/v1/chat/completions";
  GPTOSS_ASSIGN_OR_RETURN(HarmonyRequest parsed,
                          chat ? ParseChatCompletionRequest(body) : ParseResponsesRequest(body));
  if (chat) {
    auto call = ChatCompletionCall::Create(responder, parsed, model_name_, env.tokenizer);
    const bool completion_name = body.contains("max_completion_tokens") &&
                                 !body["max_completion_tokens"].is_null();
    return call->Start(env, parsed, completion_name ? "max_completion_tokens" : "max_tokens");
  }
  auto call = ResponsesCall::Create(responder, parsed, body, model_name_, env.tokenizer);
  return call->Start(env, parsed, "max_output_tokens");
}

}  // namespace gptoss::openai
