#include "worker/comm/gloo_communicator.h"

#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gloo/allgather.h"
#include "gloo/alltoall.h"
#include "gloo/alltoallv.h"
#include "gloo/common/error.h"
#include "gloo/rendezvous/context.h"
#include "gloo/rendezvous/store.h"
#include "gloo/transport/tcp/device.h"
#include "kernels/core/dtype.h"
#include "kernels/core/status.h"
#include "worker/comm/collective_checks.h"

namespace gptoss {
namespace {

// Gloo's rendezvous talks to a gloo::rendezvous::Store and reports failures by exceptions;
// this adapter turns RendezvousKv errors into the IoException that Create catches.
class KvStore final : public gloo::rendezvous::Store {
 public:
  KvStore(RendezvousKv& kv, std::chrono::milliseconds timeout) : kv_(kv), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override {
    Throw(kv_.Set(key, std::string(data.begin(), data.end())));
  }
  std::vector<char> get(const std::string& key) override {
    absl::StatusOr<std::string> value = kv_.Get(key, timeout_);
    Throw(value.status());
    return std::vector<char>(value->begin(), value->end());
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    for (const std::string& key : keys) Throw(kv_.Get(key, timeout).status());
  }

 private:
  static void Throw(const absl::Status& status) {
    if (!status.ok()) throw gloo::IoException(absl::StrCat("rendezvous store: ", status.message()));
  }
  RendezvousKv& kv_;
  const std::chrono::milliseconds timeout_;
};

// Gloo wants a non-null pointer even for empty buffers.
char empty_buffer[1];
void* NonNull(void* p) { return p != nullptr ? p : empty_buffer; }
void* NonNull(const void* p) { return NonNull(const_cast<void*>(p)); }

}  // namespace

absl::Status InMemoryRendezvous::Set(const std::string& key, const std::string& value) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    values_[key] = value;
  }
  changed_.notify_all();
  return absl::OkStatus();
}

absl::StatusOr<std::string> InMemoryRendezvous::Get(const std::string& key,
                                                    std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!changed_.wait_for(lock, timeout, [&] { return values_.count(key) > 0; }))
    return absl::DeadlineExceededError(
        absl::StrCat("rendezvous key '", key, "' not set within ", timeout.count(), " ms"));
  return values_.at(key);
}

absl::StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Create(
    int rank, int world_size, RendezvousKv& store, const GlooOptions& options) {
  GPTOSS_CHECK_ARG(world_size >= 1 && rank >= 0 && rank < world_size, "GlooCommunicator: rank ",
                   rank, " out of world size ", world_size);
  GPTOSS_CHECK_ARG(options.timeout.count() > 0, "GlooCommunicator: the timeout must be positive");
  GPTOSS_CHECK_ARG(!options.hostname.empty(), "GlooCommunicator: empty hostname");
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = options.hostname;
    std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(rank, world_size);
    context->setTimeout(options.timeout);
    KvStore kv(store, options.timeout);
    context->connectFullMesh(kv, device);
    return std::unique_ptr<GlooCommunicator>(new GlooCommunicator(rank, world_size, context));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("forming the Gloo world (rank ", rank, " of ",
                                               world_size, " on ", options.hostname,
                                               "): ", e.what()));
  }
}

GlooCommunicator::~GlooCommunicator() = default;

template <typename Fn>
absl::Status GlooCommunicator::Run(const char* what, uint64_t bytes_sent, Fn&& fn) {
  GPTOSS_RETURN_IF_ERROR(broken_);
  const absl::Time start = absl::Now();
  try {
    fn();
  } catch (const std::exception& e) {
    // A Gloo context that threw is unusable (pairs closed or out of sync): so is this world.
    broken_ = absl::UnavailableError(absl::StrCat(what, " on rank ", rank_, " of ", world_,
                                                  " failed (a peer died, hung or left): ",
                                                  e.what()));
    return broken_;
  }
  stats_.calls++;
  stats_.bytes_sent += bytes_sent;
  stats_.seconds += absl::ToDoubleSeconds(absl::Now() - start);
  return absl::OkStatus();
}

absl::Status GlooCommunicator::GatherBytes(const char* what, const void* in, void* out,
                                           size_t bytes) {
  // In place: this rank's block already sits at its offset of `out`.
  char* mine = static_cast<char*>(out) + static_cast<size_t>(rank_) * bytes;
  if (bytes > 0 && in != mine) std::memmove(mine, in, bytes);
  if (world_ == 1) return absl::OkStatus();
  return Run(what, bytes * (world_ - 1), [&] {
    gloo::AllgatherOptions opts(context_);
    opts.setOutput(static_cast<char*>(NonNull(out)), bytes * world_);
    gloo::allgather(opts);
  });
}

absl::Status GlooCommunicator::AllToAllBytes(const char* what, const void* send,
                                             std::vector<int64_t> send_bytes, void* recv,
                                             std::vector<int64_t> recv_bytes) {
  uint64_t sent = 0;
  for (int r = 0; r < world_; ++r)
    if (r != rank_) sent += static_cast<uint64_t>(send_bytes[r]);
  return Run(what, sent, [&] {
    gloo::AlltoallvOptions opts(context_);
    opts.setInput(static_cast<char*>(NonNull(send)), std::move(send_bytes));
    opts.setOutput(static_cast<char*>(NonNull(recv)), std::move(recv_bytes));
    gloo::alltoallv(opts);
  });
}

absl::Status GlooCommunicator::AllReduceSum(TensorView inout) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckBuffer(inout, "AllReduce inout", Device::kCpu));
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckReducible(inout, "AllReduce inout"));
  const size_t bytes = inout.bytes();
  // Gather every rank's values, then sum them in rank order: identical on every rank.
  scratch_.resize(std::max<size_t>(bytes * world_, 1));
  GPTOSS_RETURN_IF_ERROR(GatherBytes("AllReduce", inout.data, scratch_.data(), bytes));
  comm_internal::SumInRankOrder(scratch_.data(), world_, inout.numel(), inout.dtype, inout.data);
  return absl::OkStatus();
}

absl::Status GlooCommunicator::AllGather(const TensorView& in, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckAllGather(in, out, world_, Device::kCpu));
  return GatherBytes("AllGather", in.data, out.data, in.bytes());
}

absl::Status GlooCommunicator::ReduceScatterSum(const TensorView& in, TensorView out) {
  GPTOSS_RETURN_IF_ERROR(comm_internal::CheckReduceScatter(in, out, world_, Device::kCpu));
  // Block r of `in` goes to rank r; each rank sums the blocks it receives in rank order.
  const int64_t block = static_cast<int64_t>(out.bytes());
  scratch_.resize(std::max<size_t>(static_cast<size_t>(block) * world_, 1));
  GPTOSS_RETURN_IF_ERROR(AllToAllBytes("ReduceScatter", in.data,
                                       std::vector<int64_t>(world_, block), scratch_.data(),
                                       std::vector<int64_t>(world_, block)));
  comm_internal::SumInRankOrder(scratch_.data(), world_, out.numel(), out.dtype, out.data);
  return absl::OkStatus();
}

absl::Status GlooCommunicator::AllToAllV(const TensorView& send,
                                         const std::vector<int64_t>& send_counts, TensorView recv,
                                         const std::vector<int64_t>& recv_counts) {
  GPTOSS_ASSIGN_OR_RETURN(
      const auto geometry,
      comm_internal::CheckAllToAllV(send, send_counts, recv, recv_counts, world_, Device::kCpu));
  std::vector<int64_t> send_bytes(world_), recv_bytes(world_);
  for (int r = 0; r < world_; ++r) {
    send_bytes[r] = send_counts[r] * geometry.row_bytes;
    recv_bytes[r] = recv_counts[r] * geometry.row_bytes;
  }
  return AllToAllBytes("AllToAllV", send.data, std::move(send_bytes), recv.data,
                       std::move(recv_bytes));
}

absl::StatusOr<std::vector<int64_t>> GlooCommunicator::ExchangeCounts(
    const std::vector<int64_t>& send_counts) {
  GPTOSS_CHECK_ARG(static_cast<int>(send_counts.size()) == world_, "ExchangeCounts: ",
                   send_counts.size(), " counts for world size ", world_);
  for (int64_t c : send_counts)
    GPTOSS_CHECK_ARG(c >= 0, "ExchangeCounts: negative count ", c);
  std::vector<int64_t> got(world_, 0);
  const std::vector<int64_t> one(world_, static_cast<int64_t>(sizeof(int64_t)));
  GPTOSS_RETURN_IF_ERROR(
      AllToAllBytes("ExchangeCounts", send_counts.data(), one, got.data(), one));
  for (int r = 0; r < world_; ++r)
    if (got[r] < 0)
      return absl::DataLossError(
          absl::StrCat("ExchangeCounts: rank ", r, " sent a negative count ", got[r]));
  return got;
}

}  // namespace gptoss
