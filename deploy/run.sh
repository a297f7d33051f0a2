#!/usr/bin/env bash
# Sets up (Debian packages), builds, serves a gpt-oss checkpoint with `gptoss serve`, runs a
# sample chat against it (the reply streams to stdout), then stops the server.
#
#   deploy/run.sh                    # serves the embedded toy model (tools/toy/gptoss-toy) on CPU,
#                                    # sharded over 2 worker processes
#   deploy/run.sh CHECKPOINT_DIR     # serves that directory (config.json + safetensors, HF layout,
#                                    # e.g. a download of openai/gpt-oss-20b); GPU when available
#
# Environment: GPTOSS_BUILD_DIR (default build), GPTOSS_PORT (gRPC, default 50051),
# GPTOSS_HTTP_PORT (the OpenAI-compatible HTTP API, default 8000),
# GPTOSS_DEVICE (auto|cpu|cuda; default cpu for the toy model, else auto: the GPU if this build
# has CUDA and one is usable), GPTOSS_WORKERS (ranks; default 2 for the toy model, else the
# number of GPUs nvidia-smi lists, or 1),
# GPTOSS_PROMPT (the sample question; default: two questions the toy model was trained on),
# GPTOSS_MAX_TOKENS (default 160).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
BUILD=${GPTOSS_BUILD_DIR:-build}
PORT=${GPTOSS_PORT:-50051}
# The HTTP API's port: GPTOSS_HTTP_PORT, else serve's default (8000, or a free port when 8000 is
# taken); the port file says which.
HTTP_FLAGS=()
[ -n "${GPTOSS_HTTP_PORT:-}" ] && HTTP_FLAGS=(--http-port "$GPTOSS_HTTP_PORT")
MAX_TOKENS=${GPTOSS_MAX_TOKENS:-160}

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD" -j "$(nproc)" --target gptoss gptoss-coordinator gptoss-worker
GPTOSS="$BUILD/tools/cli/gptoss"

MODEL=${1:-tools/toy/gptoss-toy}
if [ ! -f "$MODEL/config.json" ]; then
  echo "run: $MODEL has no config.json" >&2
  exit 1
fi
if [ -z "${1:-}" ]; then
  DEVICE=${GPTOSS_DEVICE:-cpu}
  WORKERS=${GPTOSS_WORKERS:-2}
else
  DEVICE=${GPTOSS_DEVICE:-auto}
  GPUS=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)
  WORKERS=${GPTOSS_WORKERS:-$([ "${GPUS:-0}" -gt 0 ] && echo "$GPUS" || echo 1)}
fi
if [ -n "${GPTOSS_PROMPT:-}" ]; then
  PROMPTS=("$GPTOSS_PROMPT")
elif [ -z "${1:-}" ]; then
  echo "run: serving the embedded toy model (tools/toy/README.md says what it knows)"
  PROMPTS=("What is 58 + 17?" "What is the capital of Japan?")
else
  PROMPTS=("What is the capital of France? Answer in one sentence.")
fi

LOG="$BUILD/serve.log"
PORTS="$BUILD/serve.ports"
rm -f "$PORTS"
"$GPTOSS" serve --model "$MODEL" --port "$PORT" "${HTTP_FLAGS[@]}" --port-file "$PORTS" \
  --device "$DEVICE" --workers "$WORKERS" >"$LOG" 2>&1 &
SERVER=$!
stop_server() {
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER"
    wait "$SERVER" || true
  fi
}
trap stop_server EXIT
echo "run: gptoss serve (pid $SERVER) on 127.0.0.1:$PORT (gRPC) with $WORKERS worker(s), log in $LOG"

# Waits for health SERVING (loading a real checkpoint can take minutes), then one chat per
# question (each a fresh conversation).
ask() {  # one fresh conversation; extra chat flags after the question
  local prompt=$1
  shift
  if ! echo "$prompt" | "$GPTOSS" chat --server "127.0.0.1:$PORT" --wait-ready-s 1800 \
      --max-tokens "$MAX_TOKENS" --reasoning low --temperature 0 "$@"; then
    echo "run: the sample chat failed; server log:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
}
for PROMPT in "${PROMPTS[@]}"; do ask "$PROMPT"; done
if [ -z "${1:-}" ] && [ -z "${GPTOSS_PROMPT:-}" ]; then
  # A tool round trip: get_weather is declared, the model calls it, a scripted tool answers
  # (--tool-result) and the model reports the temperature. (The toy copies one-word made-up city
  # names like this one reliably; real city names it gets wrong: README.md, tools/toy/README.md.)
  ask "What's the weather in Borford?" --tools tools/toy/weather_tool.json \
    --tool-result '{"temperature_c": 21}'
fi
# The same server over its OpenAI-compatible HTTP API (what the openai SDK, LangChain, ... call).
HTTP_PORT=$(sed -n 4p "$PORTS" 2>/dev/null || true)
if command -v curl >/dev/null 2>&1 && [ -n "$HTTP_PORT" ] && [ "$HTTP_PORT" != -1 ]; then
  echo "> curl http://127.0.0.1:$HTTP_PORT/v1/chat/completions (OpenAI API): ${PROMPTS[0]}"
  BODY=$(python3 -c 'import json, sys; print(json.dumps({"messages": [{"role": "user",
    "content": sys.argv[1]}], "temperature": 0, "max_tokens": int(sys.argv[2]),
    "reasoning_effort": "low"}))' "${PROMPTS[0]}" "$MAX_TOKENS")
  curl -sS "http://127.0.0.1:$HTTP_PORT/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "$BODY" ||
    echo "run: the HTTP request failed (see $LOG)" >&2
  echo
fi
stop_server
trap - EXIT
echo "run: server stopped"
