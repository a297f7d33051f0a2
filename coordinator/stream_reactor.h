// StreamReactor<Response>: a server-streaming gRPC reactor that any thread may feed.
// The engine (its delivery thread) calls Send()/End() and never blocks on a slow client: messages
// queue up in the reactor and are merged (MergeInto) while a write is in flight, so a slow reader
// gets fewer, larger chunks instead of stalling the engine or growing a queue per token.
// Contract:
//  - Send() after End() or after the call is done is ignored. End() sends what is queued, then
//    finishes the call with `status` (once; later End()s are ignored).
//  - Stream interval k (SetStreamInterval, the coordinator's --stream-interval): after the first
//    message, a write starts only once k more tokens (NoteToken) have queued, or at End(); the
//    tokens in between go out merged. k = 1 writes whenever the stream is free.
//  - OnCancelled() runs once if the client cancels or its deadline passes (gRPC's OnCancel);
//    subclasses forward it to the engine. It is never called with the reactor's lock held.
//  - Messages go out serialized (the service is registered with raw byte buffers so that it can
//    name a malformed request's field; wire_messages.h).
//  - Lifetime: the reactor owns itself through a shared_ptr (Retain()) until gRPC calls OnDone;
//    other holders (the engine's observer map) may keep it alive longer, safely.
#pragma once

#include <deque>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "worker/common/status_mapping.h"
#include "coordinator/wire_messages.h"
#include "grpcpp/grpcpp.h"

namespace gptoss {

template <typename Response>
class StreamReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                      public std::enable_shared_from_this<StreamReactor<Response>> {
 public:
  // Keeps the reactor alive until OnDone. Call once, right after construction.
  void Retain() { self_ = this->shared_from_this(); }

  void Send(Response response) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_ || done_) return;
    if (!queue_.empty() && MergeInto(queue_.back(), response)) return;
    queue_.push_back(std::move(response));
    MaybeWriteLocked();
  }

  void SetStreamInterval(int tokens) {
    std::lock_guard<std::mutex> lock(mu_);
    interval_ = tokens < 1 ? 1 : tokens;
  }
  // A token's messages are being sent (call before their Send()s).
  void NoteToken() {
    std::lock_guard<std::mutex> lock(mu_);
    ++unsent_tokens_;
  }

  void End(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_ || done_) return;
    ended_ = true;
    status_ = status;
    MaybeWriteLocked();
  }

  bool client_cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

 protected:
  // Appends `next` to `into` if both are pieces of the same kind that one message can carry.
  virtual bool MergeInto(Response& into, const Response& next) = 0;
  virtual void OnCancelled() = 0;
  // The stream finishes with `status` (called once, under the reactor's lock: must not call
  // back into the reactor). Metrics count the call here.
  virtual void OnFinishing(const grpc::Status& status) { (void)status; }

 private:
  void MaybeWriteLocked() {
    if (writing_ || finished_ || done_) return;
    const bool due = interval_ <= 1 || ended_ || writes_ == 0 || unsent_tokens_ >= interval_;
    if (!queue_.empty() && due) {
      ++writes_;
      unsent_tokens_ = 0;
      absl::Status serialized = SerializeResponse(queue_.front(), &in_flight_);
      queue_.pop_front();
      if (!serialized.ok()) {
        queue_.clear();
        ended_ = finished_ = true;
        OnFinishing(ToGrpcStatus(serialized));
        this->Finish(ToGrpcStatus(serialized));
        return;
      }
      writing_ = true;
      this->StartWrite(&in_flight_);
    } else if (ended_ && queue_.empty()) {
      finished_ = true;
      OnFinishing(status_);
      this->Finish(status_);
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {  // the client is gone; finish with what gRPC will report anyway
      queue_.clear();
      if (!finished_) {
        ended_ = finished_ = true;
        OnFinishing(ToGrpcStatus(absl::CancelledError("client went away")));
        this->Finish(ToGrpcStatus(absl::CancelledError("client went away")));
      }
      return;
    }
    MaybeWriteLocked();
  }

  void OnCancel() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cancelled_) return;
      cancelled_ = true;
    }
    OnCancelled();
  }

  void OnDone() override {
    std::shared_ptr<StreamReactor> self;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      queue_.clear();
      self.swap(self_);
    }
    // `self` may be the last reference: the reactor is destroyed when it goes out of scope.
  }

  mutable std::mutex mu_;
  std::deque<Response> queue_;
  grpc::ByteBuffer in_flight_;
  bool writing_ = false;
  int interval_ = 1;         // tokens per write after the first (SetStreamInterval)
  int unsent_tokens_ = 0;    // tokens queued since the last write started
  int64_t writes_ = 0;
  bool ended_ = false;     // End() was called
  bool finished_ = false;  // Finish() was called
  bool done_ = false;      // OnDone ran: gRPC no longer knows this reactor
  bool cancelled_ = false;
  grpc::Status status_;
  std::shared_ptr<StreamReactor> self_;
};

}  // namespace gptoss
