#include "worker/common/internal_plane.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "kernels/core/files.h"
#include "kernels/core/status.h"

namespace gptoss {
namespace {

constexpr size_t kMinSecretBytes = 16;
constexpr size_t kMaxSecretBytes = 1024;
constexpr size_t kMaxPemBytes = 1 << 20;

// A secret or PEM file; errors name the flag.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, const std::string& what) {
  absl::StatusOr<std::string> data = ReadFile(path, kMaxPemBytes);
  if (!data.ok()) return absl::Status(data.status().code(), absl::StrCat(what, ": ", data.status().message()));
  return data;
}

absl::Status CheckSecret(const std::string& secret, const std::string& source) {
  if (secret.size() < kMinSecretBytes || secret.size() > kMaxSecretBytes)
    return absl::InvalidArgumentError(absl::StrCat(source, ": the cluster secret must be ",
                                                   kMinSecretBytes, "..", kMaxSecretBytes,
                                                   " characters, got ", secret.size()));
  for (unsigned char c : secret)
    if (c < 0x21 || c > 0x7e)
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": the cluster secret must be printable ASCII without spaces"));
  return absl::OkStatus();
}

}  // namespace

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Every byte of the longer string is visited; a length mismatch is folded into the result.
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

absl::StatusOr<InternalPlane> InternalPlane::Load(const InternalPlaneFiles& files) {
  std::string secret, source;
  if (!files.secret_file.empty()) {
    source = "--cluster-secret-file";
    GPTOSS_ASSIGN_OR_RETURN(secret, ReadSmallFile(files.secret_file, source));
    secret = std::string(absl::StripAsciiWhitespace(secret));
  } else if (const char* env = std::getenv(kClusterSecretEnv); env != nullptr && *env) {
    source = kClusterSecretEnv;
    secret = env;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "the internal plane needs a cluster secret: pass --cluster-secret-file FILE or set ",
        kClusterSecretEnv, " (the same on the coordinator and every worker)"));
  }
  GPTOSS_RETURN_IF_ERROR(CheckSecret(secret, source));
  InternalPlane plane;
  plane.secret_ = std::move(secret);
  const int given = !files.tls_cert.empty() + !files.tls_key.empty() + !files.tls_ca.empty();
  if (given != 0 && given != 3)
    return absl::InvalidArgumentError(
        "--internal-tls-cert, --internal-tls-key and --internal-tls-ca go together");
  if (given == 3) {
    GPTOSS_ASSIGN_OR_RETURN(plane.tls_cert_, ReadSmallFile(files.tls_cert, "--internal-tls-cert"));
    GPTOSS_ASSIGN_OR_RETURN(plane.tls_key_, ReadSmallFile(files.tls_key, "--internal-tls-key"));
    GPTOSS_ASSIGN_OR_RETURN(plane.tls_ca_, ReadSmallFile(files.tls_ca, "--internal-tls-ca"));
    // An empty file (an unfilled secret mount) must not quietly mean plaintext.
    if (plane.tls_cert_.empty() || plane.tls_key_.empty() || plane.tls_ca_.empty())
      return absl::InvalidArgumentError(
          "--internal-tls-cert, --internal-tls-key and --internal-tls-ca must not be empty");
    plane.tls_ = true;
  }
  return plane;
}

absl::StatusOr<InternalPlane> InternalPlane::WithSecret(std::string secret) {
  GPTOSS_RETURN_IF_ERROR(CheckSecret(secret, "cluster secret"));
  InternalPlane plane;
  plane.secret_ = std::move(secret);
  return plane;
}

std::shared_ptr<grpc::ServerCredentials> InternalPlane::ServerCredentials() const {
  if (!tls()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls_ca_;
  options.pem_key_cert_pairs.push_back({tls_key_, tls_cert_});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::Channel> InternalPlane::Channel(const std::string& address) const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  if (!tls()) return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls_ca_;
  options.pem_private_key = tls_key_;
  options.pem_cert_chain = tls_cert_;
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

void InternalPlane::Authorize(grpc::ClientContext* context) const {
  context->AddMetadata(kClusterSecretMetadata, secret_);
}

absl::Status InternalPlane::Check(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(kClusterSecretMetadata);
  bool ok = false;
  if (!secret_.empty() && it != metadata.end() && metadata.count(kClusterSecretMetadata) == 1)
    ok = ConstantTimeEquals(std::string_view(it->second.data(), it->second.size()), secret_);
  if (!ok) return absl::UnauthenticatedError("missing or wrong cluster secret");
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> CreatePlaintextChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace gptoss
