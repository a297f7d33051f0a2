// `gptoss serve` and `gptoss chat`.
//
//   gptoss serve [--model DIR] [--port 50051] [--host 127.0.0.1] [--workers 1]
//                [--device auto|cpu|cuda|null|null:US] [--kv-cache-mb MB] [--max-num-seqs 64]
//                [--max-batch-tokens 2048] [--max-waiting 256] [--stream-interval 1]
//                [--drain-grace-s 30]
//                [--port-file FILE] [--tls-cert F --tls-key F [--tls-client-ca F]]
//                [--api-key-file F] [--worker-timeout-s 5] [--step-timeout-s 300]
//                [--collective-timeout-s 30] [--metrics-port P] [--http-port 8000]
//                [--http-host H=--host] [--served-model-name NAME] [--log-steps] [--no-overlap]
//     Without --model it serves the embedded toy model (tools/toy/gptoss-toy: a trained
//     gpt-oss of the real architecture and vocabulary, or its installed copy under
//     <prefix>/share/gptoss/gptoss-toy), so a fresh build shows real harmony answers.
//     Runs the coordinator in this process and starts --workers worker processes (this binary's
//     `worker` command) that register with it on a loopback internal port, authenticated by a
//     fresh random cluster secret (handed to them in their environment, never on a command
//     line). --workers N > 1 shards the model over N ranks (tensor-parallel attention,
//     expert-parallel MoE; Gloo between CPU ranks, NCCL between GPUs). On GPUs worker i gets GPU
//     i (CUDA_VISIBLE_DEVICES=i, unless already set: then every worker sees that list). A worker that exits is
//     started again and the whole world re-forms (requests in flight end UNAVAILABLE; the other
//     ranks leave their world and exit cleanly, and are started again too); more than 5 crashes
//     (a signal or a non-zero exit) within a minute stop the server with exit code 1.
//     SIGINT/SIGTERM drain and stop everything. --metrics-port P serves Prometheus metrics: the
//     coordinator's on --host:P (the port file's third line), worker i's on --host:P+1+i (with
//     P = 0, free ports that each process logs). --http-port serves the OpenAI-compatible HTTP
//     API (/v1/chat/completions, /v1/completions, /v1/responses, /v1/models, /health, /metrics;
//     coordinator/openai/openai_api.h) on --http-host:P, default 8000 (if 8000 is taken, a free
//     port, logged); -1 turns it off, 0 takes a free port (the port file's fourth line).
//
//   gptoss chat [--server 127.0.0.1:50051] [--system TEXT] [--developer TEXT]
//               [--reasoning low|medium|high] [--max-tokens 512] [--temperature T] [--top-p P]
//               [--seed S] [--hide-analysis] [--wait-ready-s S] [--timeout-s 600]
//               [--tools FILE.json [--tool-result TEXT]]
//     An interactive harmony chat: each line of stdin is one user turn (a prompt "> " is shown
//     when stdin is a terminal); stdin may be piped. The reply streams as it is generated, the
//     reasoning ("analysis" channel) and the answer ("final") under separate headings, tool calls
//     as "[tool call]". The conversation (user turns and final answers) is kept across turns.
//     --tools declares functions (a JSON array of {"name", "description", "parameters"}, as in
//     OpenAI's API); with --tool-result every call gets TEXT back as the tool's output and the
//     model continues (a scripted tool: demos and tests).
//     $GPTOSS_API_KEY, when set, is sent as the bearer token.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/chat_prompt.h"
#include "coordinator/coordinator_server.h"
#include "worker/common/status_mapping.h"
#include "worker/common/termination_signals.h"
#include "proto/gptoss/v1/inference.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "kernels/core/files.h"
#include "tools/cli/commands.h"
#include "kernels/core/flags.h"
#include "tools/cli/health_client.h"
#include "worker/common/internal_plane.h"
#include "worker/worker_process.h"

namespace gptoss::cli {
namespace {

int Fail(const char* command, int code, absl::string_view message) {
  std::fprintf(stderr, "gptoss %s: %s\n", command, std::string(message).c_str());
  return code;
}

absl::StatusOr<int> IntIn(const Flags& flags, const std::string& name, int64_t fallback, int64_t lo,
                          int64_t hi) {
  absl::StatusOr<int64_t> v = flags.GetInt(name, fallback);
  if (!v.ok()) return v.status();
  if (*v < lo || *v > hi)
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": ", *v, " not in [", lo, ", ", hi, "]"));
  return static_cast<int>(*v);
}

// Starts `gptoss worker ...` (this executable) as a child that dies with us, with our
// environment plus `extra_env` ("NAME=value" entries, replacing ours of the same name).
absl::StatusOr<pid_t> SpawnWorker(const std::vector<std::string>& args,
                                  const std::vector<std::string>& extra_env = {}) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings(extra_env);
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const std::string& x : extra_env) replaced |= x.rfind(name + "=", 0) == 0;
    if (!replaced) env_strings.push_back(entry);
  }
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    execve("/proc/self/exe", argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

// The embedded toy model: an installed copy next to the binary, else the source tree's.
std::string DefaultModelDir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path installed =
        exe.parent_path().parent_path() / "share" / "gptoss" / "gptoss-toy";
    if (std::filesystem::exists(installed / "config.json", ec)) return installed.string();
  }
  return GPTOSS_TOY_MODEL_DIR;
}

// A fresh cluster secret for this server's own workers: 32 random bytes as hex.
absl::StatusOr<std::string> RandomSecret() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  unsigned char bytes[32];
  if (!in.read(reinterpret_cast<char*>(bytes), sizeof(bytes)))
    return absl::InternalError("cannot read /dev/urandom for the cluster secret");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string secret;
  for (unsigned char b : bytes) secret += {kHex[b >> 4], kHex[b & 15]};
  return secret;
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return "stopped";
}

}  // namespace

int RunCoordinator(int argc, char** argv) { return RunCoordinatorMain(argc, argv); }
int RunWorker(int argc, char** argv) { return RunWorkerMain(argc, argv); }

int RunServe(int argc, char** argv) {
  BlockTerminationSignals();
  absl::StatusOr<Flags> flags =
      Flags::Parse(argc, argv,
                   {"model", "port", "host", "workers", "device", "kv-cache-mb", "max-num-seqs",
                    "max-batch-tokens", "max-waiting", "stream-interval", "drain-grace-s", "port-file", "tokenizer",
                    "tls-cert", "tls-key", "tls-client-ca", "api-key-file", "worker-timeout-s",
                    "step-timeout-s", "collective-timeout-s", "metrics-port", "http-port",
                    "http-host", "served-model-name"},
                   {"log-steps", "no-overlap"});
  if (!flags.ok()) return Fail("serve", 2, flags.status().message());
  if (flags->help()) {
    std::printf("usage: gptoss serve [flags] (tools/cli/cmd_serve.cc)\n%s", flags->Usage().c_str());
    return 0;
  }
  CoordinatorOptions o;
  o.model_dir = flags->GetOr("model", DefaultModelDir());
  o.host = flags->GetOr("host", "127.0.0.1");
  o.port_file = flags->GetOr("port-file", "");
  o.tokenizer_path = flags->GetOr("tokenizer", "");
  o.log_steps = flags->Has("log-steps");
  o.overlap = !flags->Has("no-overlap");
  o.tls_cert = flags->GetOr("tls-cert", "");
  o.tls_key = flags->GetOr("tls-key", "");
  o.tls_client_ca = flags->GetOr("tls-client-ca", "");
  o.api_key_file = flags->GetOr("api-key-file", "");
  o.internal_host = "127.0.0.1";  // the workers are local
  o.internal_port = 0;
  absl::StatusOr<int> port = IntIn(*flags, "port", 50051, 0, 65535);
  absl::StatusOr<int> workers = IntIn(*flags, "workers", 1, 1, 1024);
  absl::StatusOr<int> kv_mb = IntIn(*flags, "kv-cache-mb", 0, 0, 1 << 30);  // 0: by device
  absl::StatusOr<int> seqs = IntIn(*flags, "max-num-seqs", o.max_num_seqs, 1, 1 << 16);
  absl::StatusOr<int> batch = IntIn(*flags, "max-batch-tokens", o.max_batch_tokens, 1, 1 << 24);
  absl::StatusOr<int> waiting = IntIn(*flags, "max-waiting", o.max_waiting, 0, 1 << 24);
  absl::StatusOr<int> interval = IntIn(*flags, "stream-interval", o.stream_interval, 1, 1024);
  absl::StatusOr<int> grace = IntIn(*flags, "drain-grace-s", 30, 0, 86400);
  absl::StatusOr<int> worker_timeout = IntIn(*flags, "worker-timeout-s", 5, 1, 3600);
  absl::StatusOr<int> step_timeout = IntIn(*flags, "step-timeout-s", 300, 1, 86400);
  absl::StatusOr<int> collective_timeout = IntIn(*flags, "collective-timeout-s", 30, 1, 3600);
  // Absent: no metrics endpoint (-1).
  absl::StatusOr<int> metrics_port =
      flags->Has("metrics-port") ? IntIn(*flags, "metrics-port", -1, 0, 65535) : -1;
  absl::StatusOr<int> http_port = IntIn(*flags, "http-port", 8000, -1, 65535);
  for (const absl::StatusOr<int>* v : {&port, &workers, &kv_mb, &seqs, &batch, &waiting, &interval, &grace,
                                       &worker_timeout, &step_timeout, &collective_timeout,
                                       &metrics_port, &http_port})
    if (!v->ok()) return Fail("serve", 2, v->status().message());
  o.worker_timeout = absl::Seconds(*worker_timeout);
  o.step_timeout = absl::Seconds(*step_timeout);
  const std::string device = flags->GetOr("device", "auto");
  o.port = *port;
  o.world_size = *workers;
  o.metrics_port = *metrics_port;
  o.metrics_host = o.host;  // scraped where the API is reached
  o.http_port = *http_port;
  o.http_port_fallback = !flags->Has("http-port");  // 8000 taken: a free port, not a failure
  o.http_host = flags->GetOr("http-host", o.host);
  o.served_model_name = flags->GetOr("served-model-name", "");
  o.max_num_seqs = *seqs;
  o.max_batch_tokens = *batch;
  o.max_waiting = *waiting;
  o.stream_interval = *interval;
  o.drain_grace = absl::Seconds(*grace);

  absl::StatusOr<std::string> secret = RandomSecret();
  if (!secret.ok()) return Fail("serve", 1, secret.status().message());
  absl::StatusOr<InternalPlane> plane = InternalPlane::WithSecret(*secret);
  if (!plane.ok()) return Fail("serve", 1, plane.status().message());
  o.plane = *plane;
  // The workers inherit it through the environment: command lines are visible to everyone.
  setenv(kClusterSecretEnv, secret->c_str(), 1);

  absl::StatusOr<std::unique_ptr<Coordinator>> coordinator = Coordinator::Start(o);
  if (!coordinator.ok()) return Fail("serve", 1, coordinator.status().message());
  const std::string address = (*coordinator)->local_address();
  const std::string internal = (*coordinator)->local_internal_address();

  auto spawn = [&](int i) {
    std::vector<std::string> args = {
        "gptoss", "worker", "--coordinator", internal, "--model", o.model_dir, "--device", device,
        "--listen", "127.0.0.1:0", "--rank-hint", absl::StrCat(i), "--collective-timeout-s",
        absl::StrCat(*collective_timeout), "--kv-cache-mb",
        absl::StrCat(*kv_mb)};  // 0 = the worker's default for its device
    if (*metrics_port >= 0) {  // worker i on P+1+i (any free port when P is 0)
      args.insert(args.end(), {"--metrics-host", o.host, "--metrics-port",
                               absl::StrCat(*metrics_port > 0 ? *metrics_port + 1 + i : 0)});
    }
    // One GPU per worker: worker i sees GPU i (unless the caller already chose the devices).
    std::vector<std::string> env;
    if (device != "cpu" && *workers > 1 && std::getenv("CUDA_VISIBLE_DEVICES") == nullptr)
      env.push_back(absl::StrCat("CUDA_VISIBLE_DEVICES=", i));
    return SpawnWorker(args, env);
  };
  std::vector<pid_t> pids;
  for (int i = 0; i < *workers; ++i) {
    absl::StatusOr<pid_t> pid = spawn(i);
    if (!pid.ok()) return Fail("serve", 1, pid.status().message());
    pids.push_back(*pid);
  }
  std::printf("gptoss serve: %s on %s with %d worker(s)%s; Ctrl-C stops\n", o.model_dir.c_str(),
              address.c_str(), *workers,
              (*coordinator)->http_port() >= 0
                  ? absl::StrCat(", OpenAI API on http://", o.http_host, ":",
                                 (*coordinator)->http_port(), "/v1")
                        .c_str()
                  : "");
  std::fflush(stdout);

  // Restarts of the last minute: a crash loop stops the server instead of spinning.
  constexpr int kMaxRestartsPerMinute = 5;
  std::deque<std::chrono::steady_clock::time_point> restarts;
  int exit_code = 0;
  while (exit_code == 0) {
    const int sig = WaitForSignal(/*include_sigchld=*/true);
    if (sig != SIGCHLD) {
      std::fprintf(stderr, "gptoss serve: signal %d, shutting down\n", sig);
      break;
    }
    int status = 0;
    pid_t pid;
    while (exit_code == 0 && (pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (size_t i = 0; i < pids.size() && exit_code == 0; ++i) {
        if (pids[i] != pid) continue;
        pids[i] = -1;
        (*coordinator)->WorkerExited(absl::StrCat("worker ", i, " ", DescribeExit(status)));
        const auto now = std::chrono::steady_clock::now();
        while (!restarts.empty() && now - restarts.front() > std::chrono::minutes(1))
          restarts.pop_front();
        // A clean exit is a rank leaving a world that ended (a peer failed): not a crash.
        const bool crashed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (crashed && static_cast<int>(restarts.size()) >= kMaxRestartsPerMinute) {
          std::fprintf(stderr, "gptoss serve: worker %zu %s; %d restarts within a minute, giving up\n",
                       i, DescribeExit(status).c_str(), kMaxRestartsPerMinute);
          exit_code = 1;
          break;
        }
        std::fprintf(stderr, "gptoss serve: worker %zu %s; starting it again\n", i,
                     DescribeExit(status).c_str());
        if (crashed) restarts.push_back(now);
        absl::StatusOr<pid_t> again = spawn(static_cast<int>(i));
        if (!again.ok()) {
          std::fprintf(stderr, "gptoss serve: %s\n", std::string(again.status().message()).c_str());
          exit_code = 1;
          break;
        }
        pids[i] = *again;
      }
    }
  }
  (*coordinator)->Shutdown();  // drains, then closes the step streams: workers exit
  for (pid_t& pid : pids) {
    if (pid <= 0) continue;
    for (int i = 0; i < 100 && waitpid(pid, nullptr, WNOHANG) == 0; ++i) usleep(100000);
    if (waitpid(pid, nullptr, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  return exit_code;
}

namespace {

const char* ChannelLabel(v1::Channel c) {
  const char* name = ChannelName(c);
  return name != nullptr ? name : "text";
}

const char* FinishLabel(v1::FinishReason r) {
  switch (r) {
    case v1::FINISH_REASON_STOP:
      return "stop";
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_CANCELLED:
      return "cancelled";
    case v1::FINISH_REASON_ERROR:
      return "error";
    case v1::FINISH_REASON_TOOL_CALLS:
      return "tool_calls";
    default:
      return "unspecified";
  }
}

struct ChatFlags {
  std::string server = "127.0.0.1:50051";
  v1::ChatRequest base;  // everything but the messages (tools included)
  std::optional<std::string> tool_result;  // the scripted output of every tool call
  bool show_analysis = true;
  int wait_ready_s = 0;
  int timeout_s = 600;
};

absl::StatusOr<ChatFlags> ParseChatFlags(int argc, char** argv) {
  absl::StatusOr<Flags> flags =
      Flags::Parse(argc, argv,
                   {"server", "system", "developer", "reasoning", "max-tokens", "temperature",
                    "top-p", "seed", "wait-ready-s", "timeout-s", "tools", "tool-result"},
                   {"hide-analysis"});
  if (!flags.ok()) return flags.status();
  ChatFlags c;
  if (auto path = flags->Get("tools")) {
    // OpenAI-style function definitions: [{"name", "description", "parameters"}, ...].
    absl::StatusOr<std::string> text = ReadFile(*path);
    if (!text.ok()) return text.status();
    const nlohmann::json tools = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!tools.is_array())
      return absl::InvalidArgumentError(absl::StrCat("--tools ", *path, ": not a JSON array"));
    for (const nlohmann::json& t : tools) {
      if (!t.is_object() || !t.contains("name") || !t["name"].is_string())
        return absl::InvalidArgumentError(
            absl::StrCat("--tools ", *path, ": every tool needs a string \"name\""));
      v1::FunctionTool* tool = c.base.add_tools();
      tool->set_name(t["name"].get<std::string>());
      if (t.contains("description") && t["description"].is_string())
        tool->set_description(t["description"].get<std::string>());
      if (t.contains("parameters")) tool->set_parameters_json(t["parameters"].dump());
    }
  }
  c.tool_result = flags->Get("tool-result");
  c.server = flags->GetOr("server", c.server);
  c.show_analysis = !flags->Has("hide-analysis");
  c.base.set_include_analysis(c.show_analysis);
  if (auto s = flags->Get("system")) {
    v1::ChatMessage* m = c.base.add_messages();
    m->set_role(v1::ROLE_SYSTEM);
    m->set_content(*s);
  }
  if (auto d = flags->Get("developer")) {
    v1::ChatMessage* m = c.base.add_messages();
    m->set_role(v1::ROLE_DEVELOPER);
    m->set_content(*d);
  }
  const std::string effort = flags->GetOr("reasoning", "medium");
  if (effort == "low")
    c.base.set_reasoning_effort(v1::REASONING_EFFORT_LOW);
  else if (effort == "medium")
    c.base.set_reasoning_effort(v1::REASONING_EFFORT_MEDIUM);
  else if (effort == "high")
    c.base.set_reasoning_effort(v1::REASONING_EFFORT_HIGH);
  else
    return absl::InvalidArgumentError(
        absl::StrCat("--reasoning: '", effort, "' is not low, medium or high"));
  absl::StatusOr<int> max_tokens = IntIn(*flags, "max-tokens", 512, 1, 1 << 24);
  if (!max_tokens.ok()) return max_tokens.status();
  c.base.mutable_stop()->set_max_tokens(*max_tokens);
  if (flags->Has("temperature")) {
    absl::StatusOr<double> t = flags->GetDouble("temperature", 1.0);
    if (!t.ok()) return t.status();
    c.base.mutable_sampling()->set_temperature(static_cast<float>(*t));
  }
  if (flags->Has("top-p")) {
    absl::StatusOr<double> p = flags->GetDouble("top-p", 1.0);
    if (!p.ok()) return p.status();
    c.base.mutable_sampling()->set_top_p(static_cast<float>(*p));
  }
  if (flags->Has("seed")) {
    absl::StatusOr<int64_t> s = flags->GetInt("seed", 0);
    if (!s.ok()) return s.status();
    if (*s < 0) return absl::InvalidArgumentError("--seed must be non-negative");
    c.base.mutable_sampling()->set_seed(static_cast<uint64_t>(*s));
  }
  absl::StatusOr<int> wait = IntIn(*flags, "wait-ready-s", 0, 0, 86400);
  if (!wait.ok()) return wait.status();
  c.wait_ready_s = *wait;
  absl::StatusOr<int> timeout = IntIn(*flags, "timeout-s", 600, 1, 86400);
  if (!timeout.ok()) return timeout.status();
  c.timeout_s = *timeout;
  return c;
}

// What one assistant turn produced.
struct TurnResult {
  std::string final_text;
  std::vector<v1::ToolCall> tool_calls;
};

// One assistant turn: streams it to stdout.
absl::StatusOr<TurnResult> ChatTurn(v1::Inference::Stub& stub, const v1::ChatRequest& request,
                                    const ChatFlags& flags) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(flags.timeout_s));
  if (const char* key = std::getenv("GPTOSS_API_KEY"); key != nullptr && *key)
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", key));
  std::unique_ptr<grpc::ClientReader<v1::ChatResponse>> reader = stub.Chat(&ctx, request);
  v1::ChatResponse response;
  TurnResult turn;
  std::string& final_text = turn.final_text;
  int channel = -1;
  bool printed_any = false;
  while (reader->Read(&response)) {
    if (response.has_delta()) {
      const v1::ChatDelta& d = response.delta();
      if (d.channel() != channel) {
        channel = d.channel();
        std::printf("%s[%s]%s ", printed_any ? "\n" : "", ChannelLabel(d.channel()),
                    d.recipient().empty() ? "" : absl::StrCat(" to=", d.recipient()).c_str());
      }
      std::fputs(d.text().c_str(), stdout);
      std::fflush(stdout);
      printed_any = true;
      if (d.channel() == v1::CHANNEL_FINAL) final_text += d.text();
    } else if (response.has_tool_call()) {
      const v1::ToolCall& t = response.tool_call();
      std::printf("%s[tool call] %s(%s)", printed_any ? "\n" : "", t.name().c_str(),
                  t.arguments_json().c_str());
      turn.tool_calls.push_back(t);
      printed_any = true;
      channel = -1;
    } else if (response.has_final()) {
      const v1::FinalInfo& f = response.final();
      // A model with random weights (the generated tiny checkpoint) emits no well-formed
      // harmony message, so there is nothing to show; say so rather than print nothing.
      if (!printed_any) std::printf("(no harmony message text in the reply)");
      std::printf("\n(finish: %s, %u prompt + %u completion tokens, %.2f s%s%s)\n",
                  FinishLabel(f.finish_reason()), f.usage().prompt_tokens(),
                  f.usage().completion_tokens(), f.total_time_s(),
                  f.error_message().empty() ? "" : ", error: ", f.error_message().c_str());
      std::fflush(stdout);
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    if (printed_any) std::printf("\n");
    return FromGrpcStatus(status, "chat");
  }
  return turn;
}

}  // namespace

int RunChat(int argc, char** argv) {
  absl::StatusOr<ChatFlags> flags = ParseChatFlags(argc, argv);
  if (!flags.ok()) return Fail("chat", 2, flags.status().message());
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(flags->server, grpc::InsecureChannelCredentials());
  if (flags->wait_ready_s > 0) {
    absl::Status ready = WaitForServing(channel, "", absl::Seconds(flags->wait_ready_s));
    if (!ready.ok()) return Fail("chat", 1, absl::StrCat(flags->server, ": ", ready.message()));
  }
  std::unique_ptr<v1::Inference::Stub> stub = v1::Inference::NewStub(channel);
  const bool interactive = isatty(STDIN_FILENO);
  v1::ChatRequest request = flags->base;
  std::string line;
  int failures = 0;
  while (true) {
    if (interactive) {
      std::printf("> ");
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    v1::ChatMessage* user = request.add_messages();
    user->set_role(v1::ROLE_USER);
    user->set_content(line);
    if (!interactive) std::printf("> %s\n", line.c_str());
    const int turn_start = request.messages_size() - 1;
    absl::StatusOr<TurnResult> answer = ChatTurn(*stub, request, *flags);
    // A scripted tool (--tool-result) answers every call, and the model goes on (a few rounds
    // at most): the call and its output join the conversation as harmony messages.
    for (int round = 0; answer.ok() && !answer->tool_calls.empty() && flags->tool_result &&
                        round < 4;
         ++round) {
      for (const v1::ToolCall& call : answer->tool_calls) {
        v1::ChatMessage* called = request.add_messages();
        called->set_role(v1::ROLE_ASSISTANT);
        called->set_channel(v1::CHANNEL_COMMENTARY);
        called->set_recipient(absl::StrCat("functions.", call.name()));
        called->set_content_type("<|constrain|>json");
        called->set_content(call.arguments_json());
        v1::ChatMessage* output = request.add_messages();
        output->set_role(v1::ROLE_TOOL);
        output->set_name(absl::StrCat("functions.", call.name()));
        output->set_channel(v1::CHANNEL_COMMENTARY);
        output->set_content(*flags->tool_result);
        std::printf("[tool result] %s\n", flags->tool_result->c_str());
      }
      answer = ChatTurn(*stub, request, *flags);
    }
    if (!answer.ok()) {
      std::fprintf(stderr, "gptoss chat: %s\n", std::string(answer.status().message()).c_str());
      while (request.messages_size() > turn_start) request.mutable_messages()->RemoveLast();
      ++failures;
      continue;
    }
    v1::ChatMessage* assistant = request.add_messages();
    assistant->set_role(v1::ROLE_ASSISTANT);
    assistant->set_channel(v1::CHANNEL_FINAL);
    assistant->set_content(answer->final_text);
  }
  if (interactive) std::printf("\n");
  return failures == 0 ? 0 : 1;
}

}  // namespace gptoss::cli
