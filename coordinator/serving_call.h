// ServingCall<Response>: what one Generate or Chat stream shares with the other — admission (the
// prepared request handed to the engine, racing the client's cancel), the final message, and
// how an end decided by the engine becomes the stream's status. The subclasses turn tokens into
// their own messages (generate_call.h, chat_call.h).
// Contract:
//  - Admit() submits once through an Admission (call_common.h): a cancel that arrived before it
//    cancels the sequence at once, one that arrives after reaches the engine.
//  - OnEnded(): a client's cancel or deadline ends the stream CANCELLED with no final message;
//    a server-side cancel (drain) sends final CANCELLED and OK; a failure sends final ERROR and
//    ends with FailureStatus() (UNAVAILABLE when the workers are gone).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "coordinator/call_common.h"
#include "coordinator/serving_metrics.h"
#include "coordinator/stream_reactor.h"
#include "kernels/core/status.h"

namespace gptoss {

template <typename Response>
class ServingCall : public StreamReactor<Response>, public RequestObserver {
 public:
  void OnEnded(FinishReason reason, const absl::Status& error) override {
    if (reason == FinishReason::kCancelled) {
      if (this->client_cancelled()) {
        this->End(ToGrpcStatus(absl::CancelledError("cancelled by the client")));
      } else {  // the server ended it (drain at shutdown)
        SendFinal(v1::FINISH_REASON_CANCELLED, "", "");
        this->End(grpc::Status::OK);
      }
      return;
    }
    SendFinal(v1::FINISH_REASON_ERROR, "", std::string(error.message()));
    this->End(FailureStatus(error));
  }

 protected:
  explicit ServingCall(const CallEnv& env) : env_(env) {
    this->SetStreamInterval(env.limits.stream_interval);
  }

  // Starts the stream (the subclass's Start, on a new call): `submit` runs unless the service
  // refuses calls now; a refusal or a bad request ends the stream at once.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Launch(const std::function<absl::Status()>& submit) {
    this->Retain();
    absl::Status st = env_.refusal.ok() ? submit() : env_.refusal;
    if (!st.ok()) this->End(ToGrpcStatus(st));
    return this;
  }

  // After a token's messages: a matched stop string, or the engine's finish, sends the final
  // message and ends the stream. True when a stop string ended it (the engine must stop the
  // sequence). `events` is the subclass's stream (FinishReasonOf).
  template <typename Events>
  bool EndIfFinished(const Events& events, const std::optional<std::string>& stop_string,
                     const SequenceUpdate& update) {
    if (stop_string) {
      SendFinal(v1::FINISH_REASON_STOP, *stop_string, "");
      this->End(grpc::Status::OK);
      return true;
    }
    if (update.finish != FinishReason::kNone) {
      std::string stop_reason;
      SendFinal(events.FinishReasonOf(update, &stop_reason), stop_reason, "");
      this->End(grpc::Status::OK);
    }
    return false;
  }

  // The rpc's name in the metrics ("Generate", "Chat").
  virtual const char* rpc() const = 0;
  void OnFinishing(const grpc::Status& status) override {
    if (env_.metrics) env_.metrics->RpcEnded(rpc(), status);
  }

  // Hands `request` to the engine (`params` are the request's validated parameters).
  absl::Status Admit(SequenceRequest request, const CommonParams& params) {
    prompt_tokens_ = static_cast<int>(request.prompt.size());
    seed_ = params.sampling.seed;
    request_id_ = params.request_id;
    // The engine holds the observer as long as the sequence lives (aliasing the reactor).
    std::shared_ptr<RequestObserver> self(this->shared_from_this(),
                                          static_cast<RequestObserver*>(this));
    return admission_.Submit(env_.engine, std::move(request), std::move(self));
  }

  void SendFinal(v1::FinishReason reason, const std::string& stop_reason,
                 const std::string& error_message) {
    Response response;
    v1::FinalInfo* final = response.mutable_final();
    tracker_.FillFinal(reason, prompt_tokens_, seed_, request_id_, final);
    final->set_stop_reason(stop_reason);
    final->set_error_message(error_message);
    this->Send(std::move(response));
  }

  void OnCancelled() override { admission_.Cancel(); }

  const CallEnv env_;
  RequestTracker tracker_;  // the engine's delivery thread

 private:
  int prompt_tokens_ = 0;
  uint64_t seed_ = 0;
  std::string request_id_;
  Admission admission_;
};

}  // namespace gptoss
