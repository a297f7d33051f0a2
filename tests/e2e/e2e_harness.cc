#include "tests/e2e/e2e_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "worker/common/internal_plane.h"
#include "worker/common/status_mapping.h"
#include "gtest/gtest.h"

namespace gptoss::e2e {

absl::StatusOr<std::unique_ptr<Process>> Process::Start(const std::vector<std::string>& args,
                                                        const std::string& log_path) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path));
  const pid_t pid = fork();
  if (pid < 0) {
    close(fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fd);
  auto p = std::unique_ptr<Process>(new Process());
  p->pid_ = pid;
  p->log_path_ = log_path;
  return p;
}

Process::~Process() {
  if (running()) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
}

void Process::Signal(int sig) {
  if (!status_) kill(pid_, sig);
}

bool Process::running() {
  if (status_) return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
  return !status_;
}

std::optional<int> Process::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (running()) {
    if (absl::Now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

std::string Process::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::pair<int, int>> WaitForPorts(const std::string& port_file, Process& process,
                                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    std::ifstream in(port_file);
    int port = 0, internal = 0;
    if (in >> port >> internal && port > 0 && internal > 0) return std::make_pair(port, internal);
    if (!process.running()) return absl::InternalError("the server exited: " + process.Log());
    if (absl::Now() > deadline)
      return absl::DeadlineExceededError("no ports in " + port_file + ": " + process.Log());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}


const std::string& TinyCheckpoint() {
  static std::once_flag once;
  static std::string dir;
  std::call_once(once, [] {
    const std::string root = ScratchDir("tiny_checkpoint");
    dir = root + "/gpt-oss-tiny";
    auto p = Process::Start({GPTOSS_CLI_BIN, "make-checkpoint", "--preset", "tiny", "--out", dir},
                            root + "/make_checkpoint.log");
    std::optional<int> st = p.ok() ? (*p)->Wait(absl::Seconds(120)) : std::nullopt;
    if (!st || !WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
      ADD_FAILURE() << "gptoss make-checkpoint failed: " << (p.ok() ? (*p)->Log() : "");
      dir.clear();
    }
  });
  return dir;
}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Start(const std::string& name,
                                                        const ClusterOptions& options) {
  const std::string model = options.model.empty() ? TinyCheckpoint() : options.model;
  if (model.empty()) return absl::FailedPreconditionError("no tiny checkpoint");
  auto c = std::unique_ptr<Cluster>(new Cluster());
  c->name_ = name;
  c->model_ = model;
  c->options_ = options;
  c->dir_ = ScratchDir(name);
  const std::string port_file = c->dir_ + "/port";
  // The children inherit the cluster secret (the internal plane refuses calls without it).
  setenv(kClusterSecretEnv, kTestClusterSecret, 1);
  std::vector<std::string> args = {GPTOSS_COORDINATOR_BIN,
                                   "--model",
                                   model,
                                   "--host",
                                   "127.0.0.1",
                                   "--port",
                                   "0",
                                   "--port-file",
                                   port_file,
                                   "--internal-port",
                                   "0",
                                   "--world-size",
                                   absl::StrCat(options.workers),
                                   "--log-steps"};
  args.insert(args.end(), options.coordinator_flags.begin(), options.coordinator_flags.end());
  auto coordinator = Process::Start(args, c->dir_ + "/coordinator.log");
  if (!coordinator.ok()) return coordinator.status();
  c->coordinator_ = std::move(*coordinator);
  absl::StatusOr<std::pair<int, int>> ports = WaitForPorts(port_file, *c->coordinator_);
  if (!ports.ok()) return ports.status();
  std::tie(c->port_, c->internal_port_) = *ports;
  c->channel_ = CreatePlaintextChannel(c->address());
  c->stub_ = v1::Inference::NewStub(c->channel_);
  if (options.start_workers) {
    for (int i = 0; i < options.workers; ++i) {
      if (absl::Status st = c->StartWorker(); !st.ok()) return st;
    }
  }
  return c;
}

Cluster::~Cluster() {
  // SIGTERM first so that the processes get to close their sockets; SIGKILL if they hang.
  if (coordinator_) coordinator_->Signal(SIGTERM);
  for (auto& w : workers_) w->Signal(SIGTERM);
  if (coordinator_) coordinator_->Wait(absl::Seconds(15));
  for (auto& w : workers_) w->Wait(absl::Seconds(10));
}

std::string Cluster::address() const { return absl::StrCat("127.0.0.1:", port_); }
std::string Cluster::internal_address() const {
  return absl::StrCat("127.0.0.1:", internal_port_);
}

absl::Status Cluster::StartWorker() {
  const int i = static_cast<int>(workers_.size());
  std::vector<std::string> args = {GPTOSS_WORKER_BIN, "--coordinator", internal_address(),
                                   "--model", model_, "--listen", "127.0.0.1:0",
                                   "--kv-cache-mb", absl::StrCat(options_.kv_cache_mb)};
  args.insert(args.end(), options_.worker_flags.begin(), options_.worker_flags.end());
  auto w = Process::Start(args, absl::StrCat(dir_, "/worker", i, ".log"));
  if (!w.ok()) return w.status();
  workers_.push_back(std::move(*w));
  return absl::OkStatus();
}

absl::Status Cluster::WaitServing(absl::Duration timeout) {
  return cli::WaitForServing(channel_, "", timeout);
}

absl::StatusOr<cli::HealthStatus> Cluster::Health(const std::string& service) {
  return cli::CheckHealth(channel_, service, absl::Seconds(5));
}

std::vector<std::string> Cluster::CoordinatorLogLines() const {
  return absl::StrSplit(coordinator_->Log(), '\n', absl::SkipEmpty());
}

GenerateRun RunGenerate(v1::Inference::Stub& stub, const v1::GenerateRequest& request,
                        absl::Duration deadline) {
  GenerateRun run;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline));
  auto reader = stub.Generate(&ctx, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    if (run.final) run.final_was_last = false;
    if (response.has_chunk()) {
      ++run.num_chunks;
      for (int32_t id : response.chunk().token_ids()) run.token_ids.push_back(id);
      run.text += response.chunk().text();
      for (const auto& lp : response.chunk().logprobs()) run.logprobs.push_back(lp);
    } else if (response.has_final()) {
      run.final = response.final();
    }
  }
  run.status = reader->Finish();
  return run;
}

ChatRun RunChat(v1::Inference::Stub& stub, const v1::ChatRequest& request,
                absl::Duration deadline) {
  ChatRun run;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline));
  auto reader = stub.Chat(&ctx, request);
  v1::ChatResponse response;
  while (reader->Read(&response)) {
    if (run.final) run.final_was_last = false;
    if (response.has_final())
      run.final = response.final();
    else
      run.events.push_back(response);
  }
  run.status = reader->Finish();
  return run;
}

v1::GenerateRequest GreedyRequest(const std::string& text, int max_tokens) {
  v1::GenerateRequest r;
  r.set_text(text);
  r.mutable_sampling()->set_temperature(0.0f);
  r.mutable_stop()->set_max_tokens(static_cast<uint32_t>(max_tokens));
  return r;
}

bool WaitForHealth(Cluster& cluster, cli::HealthStatus want, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<cli::HealthStatus> h = cluster.Health();
    if (h.ok() && *h == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace gptoss::e2e
