#!/usr/bin/env bash
# One-shot GPU validation of the CUDA backend on a machine with an NVIDIA Hopper GPU:
#   1. build the CUDA targets with -DGPTOSS_GRPC=OFF (the GPU machine has no Debian gRPC), or use
#      binaries built elsewhere (--prebuilt DIR, made by deploy/gpu/bundle.sh);
#   2. run the gpu-labelled tests (per-op GPU vs CpuOps, full model vs CPU engine and the golden
#      fixtures, NCCL at world size 1, and two ranks sharing the GPU where Gloo was available);
#   3. run the op tests under compute-sanitizer memcheck (skip with GPTOSS_SANITIZE=0);
#   4. run gptoss-bench on the synthetic 20b and 120b shapes (GPTOSS_BENCH_MODELS="20b 120b");
#   5. print a short table. Outputs land in ${GPTOSS_OUT:-out/gpu}/ (JSON + logs).
# Usage: deploy/gpu/run.sh [--prebuilt DIR] [--quick]
#   --quick: bench with fewer shapes (prefill 1024, decode batches 1,64) for a first look.
set -uo pipefail
cd "$(dirname "$0")/../.."

PREBUILT=""
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prebuilt) PREBUILT="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "usage: deploy/gpu/run.sh [--prebuilt DIR] [--quick]" >&2; exit 2 ;;
  esac
done
OUT=${GPTOSS_OUT:-out/gpu}
mkdir -p "$OUT"
MODELS=${GPTOSS_BENCH_MODELS:-"20b 120b"}
export PATH="/usr/local/cuda/bin:$PATH"

echo "== device"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv 2>&1 | tee "$OUT/device.txt"

# --- 1. binaries
TESTS=(cuda_ops_test cuda_model_test cuda_comm_test)
if [ -n "$PREBUILT" ]; then
  BIN="$PREBUILT"
  export LD_LIBRARY_PATH="$PREBUILT/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
  declare -A PATHS=([cuda_ops_test]="$BIN/cuda_ops_test" [cuda_model_test]="$BIN/cuda_model_test"
                    [cuda_comm_test]="$BIN/cuda_comm_test" [gptoss-bench]="$BIN/gptoss-bench")
  # The tests find fixtures through the source path compiled in at build time: if this checkout
  # lives elsewhere, link that path here.
  SRC=$(cat "$PREBUILT/source_dir" 2>/dev/null || true)
  if [ -n "$SRC" ] && [ ! -e "$SRC" ]; then
    mkdir -p "$(dirname "$SRC")" && ln -s "$PWD" "$SRC" ||
      echo "warning: cannot link $SRC to $PWD; golden fixtures will not be found" >&2
  fi
else
  BUILD=${GPTOSS_BUILD_DIR:-build-gpu}
  echo "== build ($BUILD, GPTOSS_GRPC=OFF)"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPTOSS_GRPC=OFF -DGPTOSS_CUDA=ON \
    > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
  cmake --build "$BUILD" -j "$(nproc)" --target "${TESTS[@]}" gptoss-bench > "$OUT/build.log" 2>&1 ||
    { grep -E -A5 "error|FAILED" "$OUT/build.log" | head -60; exit 1; }
  declare -A PATHS=([cuda_ops_test]="$BUILD/tests/kernels/cuda_ops_test"
                    [cuda_model_test]="$BUILD/tests/worker/cuda_model_test"
                    [cuda_comm_test]="$BUILD/tests/worker/cuda_comm_test"
                    [gptoss-bench]="$BUILD/tools/bench/gptoss-bench")
fi
# Two ranks on one GPU (StagedCommunicator over Gloo): built only where Gloo is installed.
PARALLEL="${BIN:-${BUILD:-}/tests/worker}/cuda_parallel_test"
if [ -z "$PREBUILT" ]; then
  cmake --build "$BUILD" --target cuda_parallel_test >> "$OUT/build.log" 2>&1 || true
fi
if [ -x "$PARALLEL" ]; then
  TESTS+=(cuda_parallel_test)
  PATHS[cuda_parallel_test]="$PARALLEL"
else
  echo "== cuda_parallel_test not built (no Gloo here): skipped"
fi
export GPTOSS_TEST_TMPDIR="$PWD/$OUT/tmp"
[ "${OUT#/}" != "$OUT" ] && export GPTOSS_TEST_TMPDIR="$OUT/tmp"
mkdir -p "$GPTOSS_TEST_TMPDIR"

# --- 2. gpu tests
declare -A RESULT
for t in "${TESTS[@]}"; do
  echo "== test $t"
  "${PATHS[$t]}" > "$OUT/$t.log" 2>&1
  rc=$?
  if grep -q GPTOSS_NO_GPU "$OUT/$t.log"; then RESULT[$t]="SKIPPED (no GPU)";
  elif [ $rc -eq 0 ]; then RESULT[$t]="passed";
  else RESULT[$t]="FAILED (rc $rc)"; grep -E "FAILED|Failure|error" "$OUT/$t.log" | head -20; fi
  grep -E "^\[(gpu|attention|moe|linear|rms|rope|router|logprobs)" "$OUT/$t.log" | head -40
done

# --- 3. compute-sanitizer memcheck on the op tests (slow: the big cases are filtered out).
SANITIZE=${GPTOSS_SANITIZE:-1}
if [ "$SANITIZE" = 1 ] && command -v compute-sanitizer > /dev/null; then
  echo "== compute-sanitizer memcheck cuda_ops_test"
  compute-sanitizer --tool memcheck --error-exitcode 99 --leak-check no \
    "${PATHS[cuda_ops_test]}" --gtest_filter='-*gptoss_width*:*long_decode*' > "$OUT/memcheck.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then RESULT[memcheck]="clean"; else RESULT[memcheck]="ERRORS (rc $rc, see $OUT/memcheck.log)"; fi
  tail -5 "$OUT/memcheck.log"
else
  RESULT[memcheck]="not run"
fi

# --- 4. bench
BENCH_ARGS=()
[ "$QUICK" = 1 ] && BENCH_ARGS=(--prefill 1024 --batches 1,64 --steps 8)
for m in $MODELS; do
  echo "== gptoss-bench --synthetic $m"
  "${PATHS[gptoss-bench]}" --synthetic "$m" --json "$OUT/bench-$m.json" "${BENCH_ARGS[@]}" \
    > "$OUT/bench-$m.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    sed -n '1,/^{/p' "$OUT/bench-$m.log" | sed '$d'  # the table, without the JSON
    RESULT[bench-$m]="ok"
  else
    tail -5 "$OUT/bench-$m.log"
    RESULT[bench-$m]="FAILED (rc $rc)"
  fi
done

# --- 5. summary
echo
echo "== summary"
printf "  %-22s %s\n" "check" "result"
for k in "${TESTS[@]}" memcheck; do printf "  %-22s %s\n" "$k" "${RESULT[$k]}"; done
for m in $MODELS; do
  f="$OUT/bench-$m.json"
  if [ -f "$f" ] && command -v python3 > /dev/null; then
    python3 - "$f" "$m" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); m = sys.argv[2]
print(f"  bench {m:<16} HBM {r.get('hbm_read_gbps', 0):.0f} GB/s, GEMM {r.get('bf16_gemm_tflops', 0):.0f} TFLOP/s, "
      f"b1 roofline {r.get('batch1_roofline_tok_per_s', 0):.0f} tok/s")
for p in r.get("prefill", []):
    if "error" in p: print(f"    prefill {p['tokens']:>6}: {p['error']}"); continue
    print(f"    prefill {p['tokens']:>6}: {p['tok_per_s']:>10.0f} tok/s  {100*p['fraction_of_gemm']:5.1f}% of GEMM")
for d in r.get("decode", []):
    if "error" in d: print(f"    decode  b{d['batch']:>5}: {d['error']}"); continue
    print(f"    decode  b{d['batch']:>5}: {d['tok_per_s']:>10.1f} tok/s  {100*d['fraction_of_hbm']:5.1f}% of HBM"
          f"  (roofline {d['roofline_tok_per_s']:.0f} tok/s)")
PY
  else
    printf "  %-22s %s\n" "bench-$m" "${RESULT[bench-$m]:-not run}"
  fi
done
status=0
for k in "${!RESULT[@]}"; do case "${RESULT[$k]}" in FAILED*|ERRORS*) status=1 ;; esac; done
exit $status
