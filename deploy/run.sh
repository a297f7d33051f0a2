#!/usr/bin/env bash
# Placeholder until the serving issue lands: builds and generates from the tiny checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)"
