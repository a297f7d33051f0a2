#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages. Idempotent: packages already
# present are skipped, so running it twice is cheap.
#   deploy/setup.sh                 # build and test dependencies
#   deploy/setup.sh --test-extras   # only what some tests use when present: the Prometheus
#                                   # server and promtool (the metrics e2e test), python3-venv
#                                   # (the venv of the openai client for the HTTP API e2e test)
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config git python3
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev libgloo-dev libboost-dev
  libpcre2-dev zlib1g-dev nlohmann-json3-dev python3-grpcio python3-grpc-tools python3-protobuf
  python3-yaml curl
)
if [ "${1:-}" = "--test-extras" ]; then
  # Debian's prometheus package registers a systemd unit; nothing here starts it.
  pkgs=(prometheus python3-venv)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#pkgs[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
