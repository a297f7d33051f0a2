// `gptoss health`: one grpc.health.v1 check, for probes and scripts (Kubernetes' built-in gRPC
// probe speaks plaintext only; this one also speaks TLS).
//
//   gptoss health [--server 127.0.0.1:50051] [--service NAME] [--timeout-s 5]
//                 [--tls-ca FILE [--tls-server-name NAME]]
// Exit 0 when the server (or NAME, e.g. gptoss.v1.Inference) is SERVING, 1 when it answers
// anything else or cannot be reached, 2 for bad flags; one line on stdout says which.
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "kernels/core/files.h"
#include "kernels/core/flags.h"
#include "tools/cli/commands.h"
#include "tools/cli/health_client.h"
#include "worker/common/internal_plane.h"

namespace gptoss::cli {

int RunHealth(int argc, char** argv) {
  absl::StatusOr<Flags> flags = Flags::Parse(
      argc, argv, {"server", "service", "timeout-s", "tls-ca", "tls-server-name"});
  if (!flags.ok()) {
    std::fprintf(stderr, "gptoss health: %s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  if (flags->help()) {
    std::printf("usage: gptoss health [flags] (tools/cli/cmd_health.cc)\n%s",
                flags->Usage().c_str());
    return 0;
  }
  const std::string server = flags->GetOr("server", "127.0.0.1:50051");
  absl::StatusOr<int64_t> timeout = flags->GetInt("timeout-s", 5);
  if (!timeout.ok() || *timeout < 1 || *timeout > 3600) {
    std::fprintf(stderr, "gptoss health: --timeout-s must be in [1, 3600]\n");
    return 2;
  }
  std::shared_ptr<grpc::Channel> channel;
  if (auto ca = flags->Get("tls-ca")) {
    absl::StatusOr<std::string> pem = ReadFile(*ca);
    if (!pem.ok() || pem->empty()) {
      std::fprintf(stderr, "gptoss health: --tls-ca %s: %s\n", ca->c_str(),
                   pem.ok() ? "empty file" : std::string(pem.status().message()).c_str());
      return 2;
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *pem;
    grpc::ChannelArguments args;
    if (auto name = flags->Get("tls-server-name"))
      args.SetSslTargetNameOverride(*name);  // probes dial 127.0.0.1; the certificate names the service
    channel = grpc::CreateCustomChannel(server, grpc::SslCredentials(ssl), args);
  } else {
    channel = CreatePlaintextChannel(server);
  }
  absl::StatusOr<HealthStatus> status =
      CheckHealth(channel, flags->GetOr("service", ""), absl::Seconds(*timeout));
  if (!status.ok()) {
    std::printf("%s: unreachable (%s)\n", server.c_str(),
                std::string(status.status().message()).c_str());
    return 1;
  }
  const bool serving = *status == HealthStatus::kServing;
  std::printf("%s: %s\n", server.c_str(), serving ? "SERVING" : "NOT_SERVING");
  return serving ? 0 : 1;
}

}  // namespace gptoss::cli
