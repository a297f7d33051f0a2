#!/usr/bin/env bash
# One-shot GPU validation of the CUDA backend on a machine with one NVIDIA Hopper GPU (H100/H200),
# written for a machine lent for a few minutes: nothing may hang, nothing may be lost.
#
# Usage: deploy/gpu/run.sh [--prebuilt DIR] [--out DIR] [--quick] [--dry-run-ok]
#   --prebuilt DIR  binaries made elsewhere by `deploy/gpu/bundle.sh DIR` (the usual way: the GPU
#                   machine has no absl/nlohmann/GTest/Debian NCCL/gRPC). Without it the CUDA
#                   targets are built here first (-DGPTOSS_GRPC=OFF, into ${GPTOSS_BUILD_DIR:-build-gpu}).
#   --out DIR       every output lands in DIR (default ${GPTOSS_OUT:-out/gpu}): preflight.txt,
#                   tests/<binary>.<suite>.log, bench-<model>.log/.json, memcheck.log, summary.txt
#                   (the table), summary.tsv (step, result, seconds, verdict).
#   --quick         a first look that fits in about 5 minutes (table below).
#   --dry-run-ok    for a machine without a GPU (how this script is tested, tests/deploy/
#                   gpu_script_test.sh): tests that print GPTOSS_NO_GPU count as "skipped (no GPU)",
#                   a bench that finds no device as "failed (no GPU)", and neither fails the run.
#                   Without it a missing GPU fails the preflight (exit 3) before anything runs.
#
# Order (quick and full): preflight -> ops tests -> model tests (golden fixtures, synthetic) ->
# bench 120b, 20b -> compute-sanitizer memcheck of the op tests -> NCCL (cuda_comm_test,
# cuda_parallel_test where the bundle has it). Each gtest SUITE runs in its own process
# (--gtest_filter='Suite.*'), so one sticky CUDA fault cannot hide the other suites; a suite that
# fails (not one that timed out) is run again at once with CUDA_LAUNCH_BLOCKING=1 to localize
# the fault. Every step runs under its own `timeout`; a step cut off is reported as TIMEOUT.
#
# Time budget, quick mode on one H100 (expected / hard cap per process; caps via env):
#   preflight   ldd of every binary, nvidia-smi, cuobjdump arch check       ~3 s  /  ~30 s
#   ops tests   3 suites                            ~30 s  / GPTOSS_T_OPS=120 s each
#   model tests 2 suites (golden 4 cases, synthetic graphs-vs-eager)  ~30 s / GPTOSS_T_MODEL=180 s each
#   bench 120b  weights fill + HBM/GEMM probes + decode b1,b64 x 8 steps  ~60 s / GPTOSS_T_BENCH=120 s
#   bench 20b   same                                ~30 s  / GPTOSS_T_BENCH=120 s (240 s full mode)
#   memcheck    op tests minus the large cases      ~90 s  / GPTOSS_T_MEMCHECK=150 s
#   NCCL        comm (world 1) + parallel (2 ranks) ~20 s  / GPTOSS_T_NCCL=60 s each
#   total expected ~4.5 min; the whole run also stops starting steps at GPTOSS_DEADLINE_S
#   (quick 420 s, full 570 s; 0 = none) and clamps each cap to what is left, so the run ends
#   (summary written) inside a 10-minute device call. Remaining steps show "not run (deadline)".
# Full mode: the bench's default sweep (prefill 1024,8192; decode 1,8,64,256 x 16 steps).
# Both modes measure the decode rows once per CUDA kernel set (baseline = the ops as first
# written, fused = the decode path written for the roofline) and add the per-op breakdown.
#
# Environment: GPTOSS_BENCH_MODELS ("120b 20b"), GPTOSS_BENCH_ARGS (replaces the bench shape
# flags; quick default "--prefill 0 --batches 1,64 --steps 8 --warmup 2 --kernels baseline,fused
# --breakdown --breakdown-steps 2"), GPTOSS_SANITIZE=0
# (no memcheck), GPTOSS_MEMCHECK_FILTER, GPTOSS_STEPS (subset of "ops model bench memcheck nccl"),
# GPTOSS_T_* and GPTOSS_DEADLINE_S (above), GPTOSS_SKIP_ARCH_CHECK=1, GPTOSS_ARCHIVE=FILE.tgz (the
# output folder packed into one file at exit, for a transport that returns few files),
# GPTOSS_BUILD_DIR and GPTOSS_NO_BUILD=1 (without --prebuilt: use that build dir as it is).
#
# The summary table (every step: passed / failed / skipped (reason) / TIMEOUT / not run) is
# printed on exit whatever happens (errors, Ctrl-C, SIGTERM from an outer timeout) and rewritten
# into OUT/summary.txt after every step, so even a SIGKILL leaves it up to the last step.
# Exit status: 0 when nothing failed, 1 when something failed, 3 when the preflight failed
# (missing library, no GPU, wrong architecture: nothing ran), 2 bad usage, 130/143 interrupted.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
ulimit -c 0 2> /dev/null || true  # a crashing test must not fill the disk with cores

usage() { echo "usage: deploy/gpu/run.sh [--prebuilt DIR] [--out DIR] [--quick] [--dry-run-ok]" >&2; exit 2; }
PREBUILT=""
OUT=${GPTOSS_OUT:-out/gpu}
QUICK=0
DRY_OK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prebuilt) [ $# -ge 2 ] || usage; PREBUILT="$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; OUT="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --dry-run-ok) DRY_OK=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) usage ;;
  esac
done
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
case "$PREBUILT" in ""|/*) ;; *) PREBUILT="$ROOT/$PREBUILT" ;; esac
mkdir -p "$OUT/tests" || { echo "run.sh: cannot create $OUT" >&2; exit 2; }
# Outputs of an earlier run in the same folder would be mistaken for this one's.
rm -f "$OUT"/tests/*.log "$OUT"/tests/*.list "$OUT"/bench-*.log "$OUT"/bench-*.json "$OUT"/bench-*.json.tmp \
  "$OUT"/memcheck.log "$OUT"/summary.txt "$OUT"/summary.tsv "$OUT"/preflight.txt "$OUT"/device.txt

if [ "$QUICK" = 1 ]; then
  T_BENCH=${GPTOSS_T_BENCH:-120}; DEADLINE=${GPTOSS_DEADLINE_S:-420}
  BENCH_ARGS=${GPTOSS_BENCH_ARGS-"--prefill 0 --batches 1,64 --steps 8 --warmup 2 --kernels baseline,fused --breakdown --breakdown-steps 2"}
  MEMCHECK_FILTER=${GPTOSS_MEMCHECK_FILTER:-"-*gptoss_width*:*long_decode*:*long_prefill*:*BandwidthProbes*"}
else
  T_BENCH=${GPTOSS_T_BENCH:-240}; DEADLINE=${GPTOSS_DEADLINE_S:-570}
  BENCH_ARGS=${GPTOSS_BENCH_ARGS-"--kernels baseline,fused --breakdown"}
  MEMCHECK_FILTER=${GPTOSS_MEMCHECK_FILTER:-"-*gptoss_width*:*long_decode*"}
fi
T_OPS=${GPTOSS_T_OPS:-120}
T_MODEL=${GPTOSS_T_MODEL:-180}
T_MEMCHECK=${GPTOSS_T_MEMCHECK:-150}
T_NCCL=${GPTOSS_T_NCCL:-60}
T_LIST=${GPTOSS_T_LIST:-20}
T_BUILD=${GPTOSS_T_BUILD:-1800}
KILL_GRACE=10  # seconds between a timeout's SIGTERM and its SIGKILL
MODELS=${GPTOSS_BENCH_MODELS:-"120b 20b"}
SELECTED=" ${GPTOSS_STEPS:-ops model bench memcheck nccl} "
MODE=$([ "$QUICK" = 1 ] && echo quick || echo full)
START=$SECONDS
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH="$CUDA_HOME/bin:$PATH"

# ------------------------------------------------------------------------------------------------
# Steps and their results. A verdict per step: ok, bad (fails the run), nogpu (fails the run unless
# --dry-run-ok), info (a diagnostic re-run: never counts). A step still "not run" at exit is bad.
STEPS=()
declare -A RES=() SECS=() VERDICT=() DETAIL=()
EXIT_OVERRIDE=""
INTERRUPTED=""
CURRENT=""
CHILD=""
STREAMER=""
STEP_T0=$SECONDS
NORMAL_END=0

add_step() {  # add_step NAME [AFTER]: registers NAME as "not run" (after AFTER when given)
  local name=$1 after=${2:-} i out=()
  [ -n "${RES[$name]+x}" ] && return
  RES[$name]="not run"; VERDICT[$name]=bad; SECS[$name]=""
  if [ -z "$after" ]; then STEPS+=("$name"); return; fi
  for i in "${STEPS[@]}"; do
    out+=("$i")
    [ "$i" = "$after" ] && out+=("$name")
  done
  STEPS=("${out[@]}")
}
set_result() {  # set_result NAME RESULT VERDICT [SECONDS]
  RES[$1]=$2; VERDICT[$1]=$3; SECS[$1]=${4:-${SECS[$1]:-}}
  write_summary > "$OUT/summary.txt.tmp" 2>/dev/null && mv -f "$OUT/summary.txt.tmp" "$OUT/summary.txt"
}
counts_as_failure() {  # counts_as_failure NAME
  case "${VERDICT[$1]}" in
    bad) return 0 ;;
    nogpu) [ "$DRY_OK" = 1 ] && return 1 || return 0 ;;
    *) return 1 ;;
  esac
}
elapsed() { echo $((SECONDS - START)); }

write_summary() {
  local s n=0 state
  for s in "${STEPS[@]}"; do counts_as_failure "$s" && n=$((n + 1)); done
  if [ -n "$EXIT_OVERRIDE" ]; then state="PREFLIGHT FAILED (exit 3): nothing ran"
  elif [ -n "$INTERRUPTED" ]; then state="INTERRUPTED ($INTERRUPTED) with $n step(s) failed or not run"
  elif [ "$n" -gt 0 ]; then state="FAILED: $n step(s) failed or not run"
  elif [ "$DRY_OK" = 1 ] && grep -q "no GPU" <(printf '%s\n' "${RES[@]}"); then state="OK (dry run: no GPU)"
  else state="OK"; fi
  echo "== summary: $MODE mode, $(elapsed) s, out $OUT"
  printf "  %-52s %-44s %6s\n" "step" "result" "time"
  for s in "${STEPS[@]}"; do
    printf "  %-52s %-44s %6s\n" "$s" "${RES[$s]}" "${SECS[$s]:+${SECS[$s]}s}"
  done
  for s in "${STEPS[@]}"; do
    [ -n "${DETAIL[$s]:-}" ] && printf "  -- %s:\n%s\n" "$s" "${DETAIL[$s]}"
  done
  for m in $MODELS; do bench_figures "$m"; done
  echo "== result: $state"
  {
    for s in "${STEPS[@]}"; do
      local v=ok; counts_as_failure "$s" && v=FAIL
      printf "%s\t%s\t%s\t%s\n" "$s" "${RES[$s]}" "${SECS[$s]:-}" "$v"
    done
  } > "$OUT/summary.tsv"
}

# The measured figures of one bench JSON (complete or cut short), for the summary.
bench_figures() {
  local f="$OUT/bench-$1.json"
  [ -s "$f" ] && command -v python3 > /dev/null || return 0
  timeout 20 python3 - "$f" "$1" <<'PY' 2> /dev/null || true
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"  bench {sys.argv[2]}: unreadable JSON ({e})"); sys.exit(0)
m = sys.argv[2]
print(f"  bench {m}: {r.get('device', '?')}, HBM read {r.get('hbm_read_gbps', 0):.0f} GB/s, "
      f"GEMM {r.get('bf16_gemm_tflops', 0):.0f} TFLOP/s, b1 roofline {r.get('batch1_roofline_tok_per_s', 0):.0f} tok/s"
      + (f", ERROR {r['error']}" if 'error' in r else ""))
for p in r.get("prefill", []):
    if "error" in p: print(f"    prefill {p['tokens']:>6}: {p['error']}"); continue
    print(f"    prefill {p['tokens']:>6}: {p['tok_per_s']:>10.0f} tok/s  {100*p['fraction_of_gemm']:5.1f}% of GEMM")
for d in r.get("decode", []):
    if "error" in d: print(f"    decode  b{d['batch']:>5}: {d['error']}"); continue
    print(f"    decode  b{d['batch']:>5}: {d['tok_per_s']:>10.1f} tok/s  {100*d['fraction_of_hbm']:5.1f}% of HBM"
          f"  (roofline {d['roofline_tok_per_s']:.0f} tok/s, {d['step_ms']:.2f} ms/step)")
PY
}

kill_child() {
  local pid=$CHILD i
  if [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null; then
    kill -TERM "$pid" 2> /dev/null  # timeout(1) passes it on to the step's process group
    for i in $(seq 1 $((KILL_GRACE * 5 + 10))); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2> /dev/null
  fi
  [ -n "$STREAMER" ] && kill "$STREAMER" 2> /dev/null
  CHILD=""; STREAMER=""
}

on_exit() {
  local rc=$? s
  trap '' INT TERM HUP  # a second Ctrl-C must not cut the summary short
  trap - EXIT
  kill_child
  if [ -n "$CURRENT" ] && [ "${RES[$CURRENT]:-}" = "running" ]; then
    set_result "$CURRENT" "interrupted${INTERRUPTED:+ ($INTERRUPTED)}" bad $(( SECONDS - STEP_T0 ))
  fi
  for s in "${STEPS[@]}"; do [ "${RES[$s]}" = "running" ] && RES[$s]="not run"; done
  if [ -z "$INTERRUPTED" ] && [ -z "$EXIT_OVERRIDE" ] && [ "$rc" != 0 ] && [ "$NORMAL_END" != 1 ]; then
    INTERRUPTED="script error, status $rc"
  fi
  echo
  write_summary | tee "$OUT/summary.txt"
  if [ -n "${GPTOSS_ARCHIVE:-}" ]; then
    timeout 60 tar czf "$GPTOSS_ARCHIVE" -C "$(dirname "$OUT")" "$(basename "$OUT")" 2> /dev/null &&
      echo "== outputs packed into $GPTOSS_ARCHIVE"
  fi
  local final=0
  for s in "${STEPS[@]}"; do counts_as_failure "$s" && final=1; done
  if [ -n "$EXIT_OVERRIDE" ]; then final=$EXIT_OVERRIDE
  elif [ "$INTERRUPTED" = INT ]; then final=130
  elif [ "$INTERRUPTED" = TERM ] || [ "$INTERRUPTED" = HUP ]; then final=143
  elif [ -n "$INTERRUPTED" ]; then final=1; fi
  exit "$final"
}
trap on_exit EXIT
trap 'INTERRUPTED=INT; exit 130' INT
trap 'INTERRUPTED=TERM; exit 143' TERM
trap 'INTERRUPTED=HUP; exit 143' HUP

# run_cmd LOG TIMEOUT STREAM CMD...: runs CMD under timeout(1), output into LOG (and, with
# STREAM=1, line by line to the console as well, the trailing JSON dump left out). Sets RC,
# STEP_SECS and TIMED_OUT. The command runs in the background so that a signal reaches the trap
# at once rather than after the step.
run_cmd() {
  local log=$1 t=$2 stream=$3; shift 3
  STEP_T0=$SECONDS
  timeout -k "$KILL_GRACE" "$t" "$@" > "$log" 2>&1 < /dev/null &
  CHILD=$!
  if [ "$stream" = 1 ]; then
    tail -n +1 -s 0.2 -f --pid="$CHILD" "$log" 2> /dev/null | sed -u -n '/^{$/q; s/^/  | /p' &
    STREAMER=$!
  fi
  wait "$CHILD" 2> /dev/null; RC=$?  # (bash's "Segmentation fault ... timeout" notice: the summary says it)
  CHILD=""
  if [ -n "$STREAMER" ]; then wait "$STREAMER" 2> /dev/null; STREAMER=""; fi
  STEP_SECS=$((SECONDS - STEP_T0))
  TIMED_OUT=0
  if [ "$RC" = 124 ] || { [ "$RC" = 137 ] && [ "$STEP_SECS" -ge "$t" ]; }; then TIMED_OUT=1; fi
}

# step_budget CAP: the timeout for the next step, CAP clamped to the deadline; empty when the
# deadline leaves no room (the caller records "not run (deadline)").
step_budget() {
  local cap=$1 left
  if [ "$DEADLINE" -le 0 ]; then echo "$cap"; return; fi
  left=$((DEADLINE - $(elapsed) - KILL_GRACE - 5))
  if [ "$left" -lt 10 ]; then echo ""; elif [ "$left" -lt "$cap" ]; then echo "$left"; else echo "$cap"; fi
}

selected() { case "$SELECTED" in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
safe() { echo "$1" | tr '/' '_'; }

# ------------------------------------------------------------------------------------------------
# Binaries
declare -A BIN=()
TEST_BINS=(cuda_ops_test cuda_model_test cuda_comm_test cuda_parallel_test)
if [ -n "$PREBUILT" ]; then
  for b in "${TEST_BINS[@]}" gptoss-bench; do [ -e "$PREBUILT/$b" ] && BIN[$b]="$PREBUILT/$b"; done
else
  BUILD=${GPTOSS_BUILD_DIR:-build-gpu}
  add_step build
  if [ "${GPTOSS_NO_BUILD:-0}" = 1 ] && [ -x "$BUILD/tools/bench/gptoss-bench" ]; then
    set_result build "skipped (GPTOSS_NO_BUILD=1: $BUILD as it is)" ok
  else
    echo "== build ($BUILD, GPTOSS_GRPC=OFF)"
    CURRENT=build; RES[build]=running
    run_cmd "$OUT/build.log" "$T_BUILD" 0 bash -c "
      cmake -S . -B '$BUILD' -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPTOSS_GRPC=OFF -DGPTOSS_CUDA=ON &&
      cmake --build '$BUILD' -j $(nproc) --target cuda_ops_test cuda_model_test cuda_comm_test gptoss-bench &&
      { cmake --build '$BUILD' --target cuda_parallel_test || echo 'cuda_parallel_test not built (needs Gloo)'; }"
    if [ "$TIMED_OUT" = 1 ]; then
      set_result build "TIMEOUT (${T_BUILD} s)" bad "$STEP_SECS"; CURRENT=""; NORMAL_END=1; exit 1
    elif [ "$RC" != 0 ]; then
      grep -E -A5 "error|FAILED" "$OUT/build.log" | head -60
      set_result build "FAILED (rc $RC, see build.log)" bad "$STEP_SECS"; CURRENT=""; NORMAL_END=1; exit 1
    fi
    set_result build passed ok "$STEP_SECS"
  fi
  CURRENT=""
  for p in tests/kernels/cuda_ops_test tests/worker/cuda_model_test tests/worker/cuda_comm_test \
           tests/worker/cuda_parallel_test tools/bench/gptoss-bench; do
    [ -e "$BUILD/$p" ] && BIN[$(basename "$p")]="$BUILD/$p"
  done
fi

# ------------------------------------------------------------------------------------------------
# Preflight: everything that can be known in seconds, before any test.
add_step preflight
CURRENT=preflight; RES[preflight]=running; STEP_T0=$SECONDS
PF="$OUT/preflight.txt"
: > "$PF"
pf() { echo "$*" | tee -a "$PF"; }
preflight_fail() {  # preflight_fail REASON (details already printed)
  pf "preflight: FAILED: $1"
  set_result preflight "FAILED ($1)" bad $((SECONDS - STEP_T0))
  CURRENT=""
  EXIT_OVERRIDE=3
  exit 3
}
pf "== preflight ($(date -u +%FT%TZ), $(hostname 2> /dev/null), $MODE mode${PREBUILT:+, bundle $PREBUILT})"
[ -n "$PREBUILT" ] && [ -f "$PREBUILT/manifest.txt" ] && sed 's/^/  bundle: /' "$PREBUILT/manifest.txt" | tee -a "$PF"

# 1. Shared libraries. The bundle's lib/ first, then the CUDA toolkit.
LIBDIRS=""
[ -n "$PREBUILT" ] && LIBDIRS="$PREBUILT/lib"
for d in "$CUDA_HOME/lib64" "$CUDA_HOME/lib" "$CUDA_HOME/targets/x86_64-linux/lib"; do
  [ -d "$d" ] && LIBDIRS="${LIBDIRS:+$LIBDIRS:}$d"
done
export LD_LIBRARY_PATH="${LIBDIRS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

[ -n "$PREBUILT" ] && [ ! -d "$PREBUILT" ] && preflight_fail "no bundle at $PREBUILT (deploy/gpu/bundle.sh DIR makes one)"
for b in cuda_ops_test cuda_model_test cuda_comm_test gptoss-bench; do
  [ -n "${BIN[$b]:-}" ] || { pf "preflight: the binary $b is missing${PREBUILT:+ from $PREBUILT}"; preflight_fail "missing binary $b"; }
done
# Every ELF executable of the bundle (a bundle may hold more than the known ones).
ELFS=()
if [ -n "$PREBUILT" ]; then
  for f in "$PREBUILT"/*; do
    [ -f "$f" ] && [ "$(head -c 4 "$f" 2> /dev/null | od -An -c | tr -d ' \n')" = '177ELF' ] && ELFS+=("$f")
  done
else
  for b in "${!BIN[@]}"; do ELFS+=("${BIN[$b]}"); done
fi

# The libraries bundle.sh packed must be in the bundle (not merely somewhere on this machine).
if [ -n "$PREBUILT" ] && [ -f "$PREBUILT/bundled-libs.txt" ]; then
  missing=""
  while IFS=$'\t' read -r lib users; do
    [ -z "$lib" ] && continue
    if [ ! -e "$PREBUILT/lib/$lib" ]; then
      [ "$(echo "$missing" | wc -w)" -lt 8 ] && pf "preflight: $lib is missing from $PREBUILT/lib (needed by: $users)"
      missing="${missing:+$missing }$lib"
    fi
  done < "$PREBUILT/bundled-libs.txt"
  if [ -n "$missing" ]; then
    n=$(echo "$missing" | wc -w)
    [ "$n" -gt 8 ] && pf "preflight: ... $((n - 8)) more missing${PREBUILT:+; $PREBUILT/lib $([ -d "$PREBUILT/lib" ] && echo exists || echo 'does not exist')}"
    preflight_fail "missing library: $(echo "$missing" | cut -d' ' -f1-3)$([ "$n" -gt 3 ] && echo " and $((n - 3)) more")"
  fi
fi

# ldd_missing BIN: the sonames BIN cannot resolve.
ldd_missing() { timeout 20 ldd "$1" 2>&1 | awk '/=> not found/ { print $1 }' | sort -u; }
# NVIDIA libraries that neither the bundle nor the toolkit holds (NCCL, typically) can come from
# the NVIDIA wheels of the machine's PyTorch (nvidia-nccl-cu13 etc.); the resolution is printed.
nvidia_wheel_dirs() {
  local py d
  for py in python3 /opt/torch/.venv/bin/python3; do
    command -v "$py" > /dev/null 2>&1 || continue
    timeout 15 "$py" -c 'import nvidia, os
for p in nvidia.__path__: print(p)' 2> /dev/null
  done | sort -u | while read -r d; do
    ls -d "$d"/*/lib "$d"/cu*/lib 2> /dev/null
  done | sort -u
  ls -d /opt/torch/.venv/lib/python3*/site-packages/nvidia/*/lib 2> /dev/null
}
declare -A NEEDS=()
for f in "${ELFS[@]}"; do
  for lib in $(ldd_missing "$f"); do NEEDS[$lib]="${NEEDS[$lib]:+${NEEDS[$lib]}, }$(basename "$f")"; done
done
if [ "${#NEEDS[@]}" -gt 0 ]; then
  WHEEL_DIRS=$(nvidia_wheel_dirs | sort -u)
  for lib in "${!NEEDS[@]}"; do
    case "$lib" in libnccl*|libcudart*|libcublas*|libnvJitLink*|libcusparse*|libcurand*) ;; *) continue ;; esac
    for d in $WHEEL_DIRS; do
      if [ -e "$d/$lib" ]; then
        pf "preflight: $lib (needed by ${NEEDS[$lib]}) taken from $d"
        export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"
        break
      fi
    done
  done
  NEEDS=()
  for f in "${ELFS[@]}"; do
    for lib in $(ldd_missing "$f"); do NEEDS[$lib]="${NEEDS[$lib]:+${NEEDS[$lib]}, }$(basename "$f")"; done
  done
  if [ "${#NEEDS[@]}" -gt 0 ]; then
    for lib in "${!NEEDS[@]}"; do pf "preflight: ${NEEDS[$lib]}: $lib => not found"; done
    pf "preflight: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    preflight_fail "missing library: $(printf '%s\n' "${!NEEDS[@]}" | sort | paste -sd' ')"
  fi
fi
for f in "${ELFS[@]}"; do
  nccl=$(timeout 20 ldd "$f" 2> /dev/null | awk '/libnccl/ { print $3 }')
  [ -n "$nccl" ] && { pf "preflight: libraries resolve (NCCL: $nccl)"; break; }
done
[ -z "${nccl:-}" ] && pf "preflight: libraries resolve"

# 2. The device.
GPU=unknown
CC=""
DEVICE_INFO=""
if command -v nvidia-smi > /dev/null; then
  timeout 20 nvidia-smi > "$OUT/device.txt" 2>&1
  smi_rc=$?
  cat "$OUT/device.txt" | tee -a "$PF"
  if [ "$smi_rc" = 0 ] && timeout 20 nvidia-smi -L 2> /dev/null | grep -q "^GPU "; then
    GPU=present
    DEVICE_INFO=$(timeout 20 nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.max.sm,clocks.max.memory --format=csv,noheader 2> /dev/null | head -1)
    CC=$(timeout 20 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -1 | tr -d ' ')
    apps=$(timeout 20 nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader 2> /dev/null)
    [ -n "$apps" ] && pf "preflight: WARNING: other processes hold the GPU: $apps"
  else
    GPU=absent
  fi
else
  pf "preflight: nvidia-smi: not found"
fi
if [ -z "$CC" ]; then  # nvcc's own probe prints e.g. "90"
  q=$(command -v __nvcc_device_query || true)
  if [ -n "$q" ]; then
    qout=$(timeout 20 "$q" 2> /dev/null); q_rc=$?
    if [ "$q_rc" = 0 ] && [[ "$qout" =~ ^[0-9]+ ]]; then
      first=${qout%%,*}; CC="${first%?}.${first: -1}"; GPU=present
    elif [ "$GPU" = unknown ]; then GPU=absent; fi
  fi
fi
pf "preflight: GPU $GPU${DEVICE_INFO:+: $DEVICE_INFO}; compute capability ${CC:-unknown}"
if [ "$GPU" = absent ] && [ "$DRY_OK" != 1 ]; then
  preflight_fail "no usable GPU visible (nvidia-smi/__nvcc_device_query); --dry-run-ok runs anyway"
fi

# 3. Device code for this GPU in the binaries (sm_90a code runs on compute capability 9.0 only).
if [ -n "$CC" ] && [ "${GPTOSS_SKIP_ARCH_CHECK:-0}" != 1 ] && command -v cuobjdump > /dev/null; then
  want="sm_${CC/./}"
  for b in cuda_ops_test gptoss-bench; do
    elfs=$(timeout 30 cuobjdump --list-elf "${BIN[$b]}" 2> /dev/null | grep -oE 'sm_[0-9]+a?' | sort -u | paste -sd' ')
    ptx=$(timeout 30 cuobjdump --list-ptx "${BIN[$b]}" 2> /dev/null | grep -oE 'sm_[0-9]+a?' | sort -u | paste -sd' ')
    [ -z "$elfs$ptx" ] && { pf "preflight: cuobjdump lists no device code in $b (check skipped)"; continue; }
    ok=0
    for a in $elfs; do [ "$a" = "$want" ] || [ "$a" = "${want}a" ] && ok=1; done
    for a in $ptx; do case "$a" in *a) ;; *) [ "${a#sm_}" -le "${want#sm_}" ] && ok=1 ;; esac; done
    pf "preflight: $b device code: ${elfs:-none}${ptx:+, PTX $ptx} (GPU $want)"
    [ "$ok" = 1 ] || preflight_fail "$b has no code for $want (has: ${elfs:-none} ${ptx})"
  done
fi

# 4. The golden fixtures, found through the source path compiled into the tests.
if [ -n "$PREBUILT" ]; then
  SRC=$(cat "$PREBUILT/source_dir" 2> /dev/null || true)
  if [ -n "$SRC" ] && [ ! -e "$SRC" ]; then
    if mkdir -p "$(dirname "$SRC")" 2> /dev/null && ln -s "$ROOT" "$SRC" 2> /dev/null; then
      pf "preflight: linked $SRC -> $ROOT (source path compiled into the tests)"
    else
      pf "preflight: WARNING: cannot link $SRC to $ROOT: the golden fixtures will not be found"
    fi
  fi
  [ -n "$SRC" ] && [ ! -d "$SRC/tests/data/golden" ] && pf "preflight: WARNING: no $SRC/tests/data/golden (model tests will fail)"
fi
command -v compute-sanitizer > /dev/null && pf "preflight: compute-sanitizer: $(command -v compute-sanitizer)"
set_result preflight "passed (GPU ${GPU}${CC:+, sm ${CC}})" ok $((SECONDS - STEP_T0))
CURRENT=""

export GPTOSS_TEST_TMPDIR="$OUT/tmp"
mkdir -p "$GPTOSS_TEST_TMPDIR"

# ------------------------------------------------------------------------------------------------
# The plan: every step registered up front, so that the summary lists what never ran.
declare -A SUITES=()
list_suites() {  # list_suites NAME: the gtest suites of a binary, one a line
  local b=$1 list="$OUT/tests/$1.list"
  timeout -k 5 "$T_LIST" "${BIN[$b]}" --gtest_list_tests > "$list" 2>&1 || return 1
  awk '/^[^ ]/ && $1 ~ /\.$/ { sub(/\.$/, "", $1); print $1 }' "$list"
}
# The test binaries of each group (read through ${!var}).
# shellcheck disable=SC2034
{
GROUP_ops=cuda_ops_test
GROUP_model=cuda_model_test
GROUP_nccl="cuda_comm_test cuda_parallel_test"
}
plan_group() {  # plan_group GROUP
  local g=$1 b s var="GROUP_$1"
  for b in ${!var}; do
    if [ -z "${BIN[$b]:-}" ]; then
      add_step "$b"
      set_result "$b" "skipped (not in the bundle: built only where Gloo is installed)" ok
      continue
    fi
    if ! s=$(list_suites "$b") || [ -z "$s" ]; then
      add_step "$b"
      set_result "$b" "FAILED (--gtest_list_tests failed, see tests/$b.list)" bad
      continue
    fi
    SUITES[$b]=$s
    for s in ${SUITES[$b]}; do
      add_step "$b.$s"
      selected "$g" || set_result "$b.$s" "skipped (not in GPTOSS_STEPS)" ok
    done
  done
}
plan_group ops
plan_group model
for m in $MODELS; do
  add_step "bench-$m"
  selected bench || set_result "bench-$m" "skipped (not in GPTOSS_STEPS)" ok
done
add_step "memcheck cuda_ops_test"
selected memcheck || set_result "memcheck cuda_ops_test" "skipped (not in GPTOSS_STEPS)" ok
plan_group nccl

# ------------------------------------------------------------------------------------------------
# gtest suites, one process each.
classify_gtest() {  # classify_gtest LOG RC TIMED_OUT T -> RESULT_TEXT, RESULT_VERDICT
  local log=$1 rc=$2 to=$3 t=$4 passed skipped failed last
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  failed=$(grep -E '^\[  FAILED  \] [A-Za-z_]' "$log" | sed 's/^\[  FAILED  \] //; s/ .*//' | sort -u)
  last=$(awk '/^\[ RUN      \]/ { t = $4 } /^\[       OK \]|^\[  FAILED  \]|^\[  SKIPPED \]/ { if ($4 == t) t = "" } END { print t }' "$log")
  if [ "$to" = 1 ]; then
    RESULT_TEXT="TIMEOUT (${t} s${last:+, in $last})"; RESULT_VERDICT=bad
  elif [ "$rc" = 0 ] && grep -q GPTOSS_NO_GPU "$log"; then
    if [ "${passed:-0}" = 0 ]; then RESULT_TEXT="skipped (no GPU)"
    else RESULT_TEXT="passed ${passed}, ${skipped:-?} skipped (no GPU)"; fi
    RESULT_VERDICT=nogpu
  elif [ "$rc" = 0 ]; then
    RESULT_TEXT="passed (${passed:-0} tests${skipped:+, $skipped skipped})"; RESULT_VERDICT=ok
  elif [ "$rc" -gt 128 ]; then
    RESULT_TEXT="FAILED (signal $((rc - 128))${last:+ in $last})"; RESULT_VERDICT=bad
  elif [ -n "$failed" ]; then
    RESULT_TEXT="FAILED ($(echo "$failed" | wc -l) of $(( ${passed:-0} + $(echo "$failed" | wc -l) )))"; RESULT_VERDICT=bad
  else
    RESULT_TEXT="FAILED (rc $rc${last:+, in $last})"; RESULT_VERDICT=bad
  fi
  RESULT_FAILED=$failed
}

run_suite() {  # run_suite BINARY SUITE CAP [blocking]
  local b=$1 s=$2 cap=$3 blocking=${4:-} name t log
  name="$b.$s"; log="$OUT/tests/$b.$(safe "$s")"
  [ -n "$blocking" ] && { name="$name (CUDA_LAUNCH_BLOCKING=1)"; log="$log.blocking"; }
  log="$log.log"
  t=$(step_budget "$cap")
  if [ -z "$t" ]; then set_result "$name" "not run (deadline ${DEADLINE} s)" "$([ -n "$blocking" ] && echo info || echo bad)"; return 1; fi
  CURRENT=$name; RES[$name]=running
  if [ -n "$blocking" ]; then
    run_cmd "$log" "$t" 0 env CUDA_LAUNCH_BLOCKING=1 "${BIN[$b]}" --gtest_filter="$s.*" --gtest_color=no
  else
    run_cmd "$log" "$t" 0 "${BIN[$b]}" --gtest_filter="$s.*" --gtest_color=no
  fi
  classify_gtest "$log" "$RC" "$TIMED_OUT" "$t"
  [ -n "$blocking" ] && RESULT_VERDICT=info
  set_result "$name" "$RESULT_TEXT" "$RESULT_VERDICT" "$STEP_SECS"
  CURRENT=""
  printf "  [%4ss] %-58s %s\n" "$STEP_SECS" "$name" "$RESULT_TEXT"
  if [ "$RESULT_VERDICT" = bad ] || { [ -n "$blocking" ] && [ "$RC" != 0 ]; }; then
    grep -E "^\[  FAILED  \] [A-Za-z_]|Failure|error|CUDA|GPTOSS|what\(\)|terminate|Segmentation|Abort" "$log" | head -25 | sed 's/^/      /'
    DETAIL[$name]=$( { echo "      log: ${log#"$OUT"/}"; [ -n "$RESULT_FAILED" ] && echo "$RESULT_FAILED" | sed 's/^/      failed: /'; } )
  fi
  [ "$RESULT_VERDICT" = bad ] && [ "$TIMED_OUT" = 0 ] && return 2
  return 0
}

run_group() {  # run_group GROUP CAP
  local g=$1 cap=$2 b s var="GROUP_$1" again
  selected "$g" || return 0
  for b in ${!var}; do
    [ -n "${SUITES[$b]:-}" ] || continue
    echo "== $b (one process per suite, ${cap} s each)"
    again=()
    for s in ${SUITES[$b]}; do
      run_suite "$b" "$s" "$cap"
      [ $? = 2 ] && again+=("$s")
    done
    # Second pass: the failed suites with synchronous launches, so that an asynchronous fault is
    # reported at the launch that caused it.
    for s in "${again[@]}"; do
      add_step "$b.$s (CUDA_LAUNCH_BLOCKING=1)" "$b.$s"
      run_suite "$b" "$s" "$cap" blocking
    done
  done
}

# ------------------------------------------------------------------------------------------------
# The benchmark: streamed line by line to the console and OUT/bench-MODEL.log; gptoss-bench
# rewrites OUT/bench-MODEL.json after every measured row, so a run cut short keeps its rows.
run_bench() {  # run_bench MODEL
  local m=$1 name="bench-$1" t log="$OUT/bench-$1.log" json="$OUT/bench-$1.json" err rows=""
  t=$(step_budget "$T_BENCH")
  if [ -z "$t" ]; then set_result "$name" "not run (deadline ${DEADLINE} s)" bad; return; fi
  local sb=()
  command -v stdbuf > /dev/null && sb=(stdbuf -oL -eL)
  echo "== gptoss-bench --synthetic $m ${BENCH_ARGS} (timeout ${t} s)"
  CURRENT=$name; RES[$name]=running
  # shellcheck disable=SC2086
  run_cmd "$log" "$t" 1 "${sb[@]}" "${BIN[gptoss-bench]}" --synthetic "$m" --json "$json" $BENCH_ARGS
  if [ -s "$json" ] && command -v python3 > /dev/null; then
    rows=$(timeout 20 python3 -c 'import json,sys
r=json.load(open(sys.argv[1])); d=[x for x in r.get("decode",[]) if "error" not in x]
print(", ".join("b%d%s %.0f tok/s" % (x["batch"], " " + x["kernels"] if x.get("kernels") else "", x["tok_per_s"]) for x in d))' "$json" 2> /dev/null)
  fi
  err=$(grep -vE '^\s*$' "$log" | sed '/^{$/,$d' | tail -3 | cut -c1-200 | sed 's/^/      /')
  if [ "$TIMED_OUT" = 1 ]; then
    set_result "$name" "TIMEOUT (${t} s${rows:+; measured $rows})" bad "$STEP_SECS"
  elif [ "$RC" = 0 ]; then
    set_result "$name" "passed${rows:+ ($rows)}" ok "$STEP_SECS"
  elif grep -qE "no usable CUDA device|backend 'cuda' is not available" "$log"; then
    set_result "$name" "failed (no GPU)" nogpu "$STEP_SECS"
  elif [ "$RC" -gt 128 ]; then
    set_result "$name" "FAILED (signal $((RC - 128)))" bad "$STEP_SECS"
  else
    set_result "$name" "FAILED (rc $RC)" bad "$STEP_SECS"
  fi
  [ "${VERDICT[$name]}" != ok ] && [ -n "$err" ] && DETAIL[$name]="$err"
  CURRENT=""
  printf "  [%4ss] %-58s %s\n" "$STEP_SECS" "$name" "${RES[$name]}"
}

# ------------------------------------------------------------------------------------------------
# compute-sanitizer memcheck on the op tests (the large cases filtered out: memcheck is slow).
run_memcheck() {
  local name="memcheck cuda_ops_test" t log="$OUT/memcheck.log" n
  if [ "${GPTOSS_SANITIZE:-1}" = 0 ]; then set_result "$name" "skipped (GPTOSS_SANITIZE=0)" ok; return; fi
  if ! command -v compute-sanitizer > /dev/null; then set_result "$name" "skipped (compute-sanitizer not found)" ok; return; fi
  t=$(step_budget "$T_MEMCHECK")
  if [ -z "$t" ]; then set_result "$name" "not run (deadline ${DEADLINE} s)" bad; return; fi
  echo "== compute-sanitizer memcheck cuda_ops_test --gtest_filter='$MEMCHECK_FILTER' (timeout ${t} s)"
  CURRENT=$name; RES[$name]=running
  run_cmd "$log" "$t" 0 compute-sanitizer --tool memcheck --error-exitcode 99 --leak-check no \
    "${BIN[cuda_ops_test]}" --gtest_filter="$MEMCHECK_FILTER" --gtest_color=no
  n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) error.*/\1/p' "$log" | tail -1)
  if [ "$TIMED_OUT" = 1 ]; then set_result "$name" "TIMEOUT (${t} s)" bad "$STEP_SECS"
  elif grep -qi "device not supported" "$log"; then  # seen under gVisor: not the code's fault
    set_result "$name" "skipped (compute-sanitizer: device not supported here)" ok "$STEP_SECS"
  elif [ "$RC" = 0 ] && grep -q GPTOSS_NO_GPU "$log"; then set_result "$name" "skipped (no GPU)" nogpu "$STEP_SECS"
  elif [ "$RC" = 0 ]; then set_result "$name" "clean (${n:-0} errors)" ok "$STEP_SECS"
  elif [ "$RC" = 99 ]; then set_result "$name" "ERRORS (${n:-?} memcheck errors)" bad "$STEP_SECS"
  else
    classify_gtest "$log" "$RC" 0 "$t"
    set_result "$name" "$RESULT_TEXT" bad "$STEP_SECS"
  fi
  CURRENT=""
  printf "  [%4ss] %-58s %s\n" "$STEP_SECS" "$name" "${RES[$name]}"
  [ "${VERDICT[$name]}" = bad ] && grep -E "=========|FAILED" "$log" | head -30 | sed 's/^/      /'
}

# ------------------------------------------------------------------------------------------------
echo "== plan: ${#STEPS[@]} steps, deadline ${DEADLINE} s, out $OUT"
run_group ops "$T_OPS"
run_group model "$T_MODEL"
if selected bench; then for m in $MODELS; do run_bench "$m"; done; fi
selected memcheck && run_memcheck
run_group nccl "$T_NCCL"
NORMAL_END=1
exit 0  # the EXIT trap prints the summary and sets the status
