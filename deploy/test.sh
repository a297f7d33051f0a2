#!/usr/bin/env bash
# Sets up (Debian packages), builds from scratch in build-test/ and runs the whole test suite.
# GPU tests skip with a printed reason when no GPU is present. Usage: deploy/test.sh [ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
# Test-only: a real Prometheus (and promtool) for the metrics e2e test. Best effort: without it
# that test skips with its reason.
bash deploy/setup.sh --test-extras || echo "test: the prometheus package is not installable here"
# Test-only: the official openai client (pinned, from PyPI) in an ignored venv for the HTTP API
# e2e test. Best effort: offline, that test skips with its reason.
if [ ! -x .venv-test/bin/python ] || ! .venv-test/bin/python -c "import openai" 2>/dev/null; then
  { python3 -m venv .venv-test &&
      .venv-test/bin/pip install -q -r tests/e2e/openai_requirements.txt; } ||
    echo "test: could not install the openai client; the HTTP API e2e test will skip"
fi
BUILD=${GPTOSS_BUILD_DIR:-build-test}
JOBS=${GPTOSS_JOBS:-$(nproc)}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD" -j "$JOBS"
cd "$BUILD"
ctest --output-on-failure -j "$JOBS" --timeout 900 "$@"
