// End-to-end test harness: real gptoss-coordinator / gptoss-worker processes on loopback.
//  - Process: fork/exec with stdout+stderr to a log file; killed (SIGKILL) if still running when
//    destroyed, so a failing test never leaks servers.
//  - TinyCheckpoint(): `gptoss make-checkpoint --preset tiny` once per test binary.
//  - Cluster: a coordinator on a free port (--port 0 --port-file) plus workers, with helpers to
//    wait for health, read the coordinator's --log-steps lines and call the API.
// Every wait is bounded; binaries come from the build tree (compile definitions).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/gptoss/v1/inference.grpc.pb.h"
#include "tools/cli/health_client.h"
#include "tests/scratch_dir.h"

namespace gptoss::e2e {

class Process {
 public:
  // Starts argv[0] with `args`; output goes to `log_path`.
  static absl::StatusOr<std::unique_ptr<Process>> Start(const std::vector<std::string>& args,
                                                        const std::string& log_path);
  ~Process();
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // The exit status (waitpid form) once it exited, or nullopt after `timeout`.
  std::optional<int> Wait(absl::Duration timeout);
  bool running();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// The cluster secret every test cluster uses (set in the environment of its processes).
inline constexpr char kTestClusterSecret[] = "e2e-test-cluster-secret-0123456789";

// The ports a server wrote to its --port-file ("<public>\n<internal>\n"), once both are there;
// an error with the process's log if it exits first or `timeout` passes.
absl::StatusOr<std::pair<int, int>> WaitForPorts(const std::string& port_file, Process& process,
                                                 absl::Duration timeout = absl::Seconds(60));

// A scratch directory for this test binary ($GPTOSS_TEST_TMPDIR or gtest's).
using ::gptoss::testing::ScratchDir;
// The tiny preset checkpoint (generated once, reused).
const std::string& TinyCheckpoint();

struct ClusterOptions {
  std::string model;                           // checkpoint directory; empty: TinyCheckpoint()
  std::vector<std::string> coordinator_flags;  // extra flags
  std::vector<std::string> worker_flags;       // extra flags of every worker
  int workers = 1;
  bool start_workers = true;
  int kv_cache_mb = 64;
};

class Cluster {
 public:
  // Starts the coordinator (and workers unless !start_workers) and waits for the port file.
  static absl::StatusOr<std::unique_ptr<Cluster>> Start(const std::string& name,
                                                        const ClusterOptions& options = {});
  ~Cluster();

  std::string address() const;           // the public API
  std::string internal_address() const;  // the internal plane (workers register here)
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  v1::Inference::Stub& stub() { return *stub_; }
  Process& coordinator() { return *coordinator_; }
  Process& worker(int i) { return *workers_.at(i); }
  absl::Status StartWorker();
  absl::Status WaitServing(absl::Duration timeout = absl::Seconds(60));
  absl::StatusOr<cli::HealthStatus> Health(const std::string& service = "");
  std::vector<std::string> CoordinatorLogLines() const;

 private:
  std::string name_;
  std::string dir_;
  std::string model_;
  ClusterOptions options_;
  int port_ = 0;
  int internal_port_ = 0;
  std::unique_ptr<Process> coordinator_;
  std::vector<std::unique_ptr<Process>> workers_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Inference::Stub> stub_;
};

// One finished Generate stream.
struct GenerateRun {
  grpc::Status status;
  std::vector<int32_t> token_ids;
  std::string text;
  int num_chunks = 0;
  std::optional<v1::FinalInfo> final;
  bool final_was_last = true;  // nothing came after the final message
  std::vector<v1::TokenLogprob> logprobs;
};
GenerateRun RunGenerate(v1::Inference::Stub& stub, const v1::GenerateRequest& request,
                        absl::Duration deadline = absl::Seconds(120));

// One finished Chat stream.
struct ChatRun {
  grpc::Status status;
  std::vector<v1::ChatResponse> events;  // deltas and tool calls
  std::optional<v1::FinalInfo> final;
  bool final_was_last = true;
};
ChatRun RunChat(v1::Inference::Stub& stub, const v1::ChatRequest& request,
                absl::Duration deadline = absl::Seconds(120));

// Greedy Generate request for a text prompt.
v1::GenerateRequest GreedyRequest(const std::string& text, int max_tokens);

// A Generate stream read in the background (counting chunks, keeping the final message);
// destroying it cancels the call.
class BackgroundStream {
 public:
  BackgroundStream(v1::Inference::Stub& stub, const v1::GenerateRequest& request) {
    reader_ = stub.Generate(&ctx_, request);
    thread_ = std::thread([this] {
      v1::GenerateResponse resp;
      while (reader_->Read(&resp)) {
        if (resp.has_chunk()) ++chunks_;
        if (resp.has_final()) final_ = resp.final();
      }
      status_ = reader_->Finish();
    });
  }
  ~BackgroundStream() {
    ctx_.TryCancel();
    if (!joined_) thread_.join();
  }
  bool WaitForChunks(int n, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (chunks_ < n && absl::Now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return chunks_ >= n;
  }
  void Join() { thread_.join(), joined_ = true; }
  const grpc::Status& status() const { return status_; }
  const std::optional<v1::FinalInfo>& final() const { return final_; }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader_;
  std::thread thread_;
  std::atomic<int> chunks_{0};
  std::optional<v1::FinalInfo> final_;
  grpc::Status status_;
  bool joined_ = false;
};

// Polls the cluster's overall health until it is `want` (true) or `timeout` passes (false).
bool WaitForHealth(Cluster& cluster, cli::HealthStatus want, absl::Duration timeout);

}  // namespace gptoss::e2e
