// The internal plane (coordinator ⇄ workers): who may talk on it and how its channels are made.
// Shared by both services (it sits below the coordinator in the layer map).
// Contract:
//  - Every internal rpc (Coordinator.Register/Store*, Worker.GetShardInfo/StepStream) carries the
//    cluster secret in the `x-gptoss-cluster-secret` metadata; servers compare it in constant
//    time and answer UNAUTHENTICATED ("missing or wrong cluster secret") otherwise, naming
//    nothing else. The secret never appears in a log line or an error message.
//  - The secret comes from a file (--cluster-secret-file; surrounding whitespace is trimmed) or
//    the GPTOSS_CLUSTER_SECRET environment variable; it is 16..1024 printable ASCII characters
//    (a gRPC metadata value). `gptoss serve` makes a random one for its own workers.
//  - Optional mutual TLS: with a certificate, its key and a CA bundle, servers require client
//    certificates signed by that CA and clients verify the server against it (the certificate's
//    SAN must name the host that peers dial). Without them the plane is plaintext: keep it on a
//    trusted cluster network.
//  - Channels never go through an HTTP proxy (gRPC honours $http_proxy, which must not capture
//    cluster-internal or loopback traffic).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace gptoss {

inline constexpr char kClusterSecretEnv[] = "GPTOSS_CLUSTER_SECRET";
inline constexpr char kClusterSecretMetadata[] = "x-gptoss-cluster-secret";

struct InternalPlaneFiles {
  std::string secret_file;  // empty: $GPTOSS_CLUSTER_SECRET
  std::string tls_cert;     // PEM; the three TLS files go together
  std::string tls_key;
  std::string tls_ca;
};

class InternalPlane {
 public:
  // Reads the secret and the optional TLS files; errors name the flag or variable at fault.
  static absl::StatusOr<InternalPlane> Load(const InternalPlaneFiles& files);
  // A plane with this secret and no TLS (tests, `gptoss serve`).
  static absl::StatusOr<InternalPlane> WithSecret(std::string secret);

  bool tls() const { return tls_; }

  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;
  std::shared_ptr<grpc::Channel> Channel(const std::string& address) const;
  // Adds the secret to an outgoing call.
  void Authorize(grpc::ClientContext* context) const;
  // OK when the call carries the secret; UNAUTHENTICATED otherwise.
  absl::Status Check(const grpc::ServerContextBase& context) const;

 private:
  std::string secret_;  // never empty in a loaded plane; an empty one refuses every call
  bool tls_ = false;
  std::string tls_cert_, tls_key_, tls_ca_;
};

// A plaintext channel that bypasses HTTP proxies (loopback clients and tests of the public API).
std::shared_ptr<grpc::Channel> CreatePlaintextChannel(const std::string& address);

// Constant-time equality (the time depends only on the lengths).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace gptoss
