#!/usr/bin/env bash
# Dry run of the GPU validation script on a machine without a GPU, end to end:
#   1. deploy/gpu/bundle.sh packs the build's CUDA binaries; deploy/gpu/run.sh --prebuilt --quick
#      --dry-run-ok runs every step: the summary lists them all, the tests are "skipped (no GPU)",
#      the bench fails cleanly ("failed (no GPU)", no hang, no crash), exit 0;
#   2. the bundle's lib/ hidden, then a binary needing a library that exists nowhere: the
#      preflight fails in seconds with exit 3, names the library, and runs nothing;
#   3. stand-in binaries (shell scripts speaking gtest) for the failure paths: a failing suite is
#      re-run with CUDA_LAUNCH_BLOCKING=1 while the other suites still run, a crash and a hang are
#      reported (signal, TIMEOUT), a bench cut off keeps its measured rows, SIGTERM still prints
#      the summary and kills the step, the deadline stops starting steps;
#   4. a stand-in nvidia-smi/cuobjdump: a GPU of another architecture fails the preflight (exit 3),
#      and without --dry-run-ok a visible GPU whose tests skip fails the run.
# Usage: gpu_script_test.sh BUILD_DIR SOURCE_DIR. Exit 77 (skipped) when the build has no CUDA
# binaries or this machine has a GPU (there, run deploy/gpu/run.sh itself).
set -uo pipefail
BUILD=$(cd "${1:?usage: gpu_script_test.sh BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: gpu_script_test.sh BUILD_DIR SOURCE_DIR}" && pwd)
RUN="$SRC/deploy/gpu/run.sh"
for b in tests/kernels/cuda_ops_test tests/worker/cuda_model_test tests/worker/cuda_comm_test tools/bench/gptoss-bench; do
  [ -x "$BUILD/$b" ] || { echo "SKIPPED: $BUILD/$b not built (no CUDA in this build)"; exit 77; }
done
if command -v nvidia-smi > /dev/null && nvidia-smi -L 2> /dev/null | grep -q "^GPU "; then
  echo "SKIPPED: this machine has a GPU; the dry run is for machines without one"; exit 77
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok:   $1"; else echo "FAIL: $1"; FAILS=$((FAILS + 1)); fi
}
has() { grep -qE -- "$2" "$1"; }
row() { awk -F'\t' -v s="$2" '$1 == s' "$1/summary.tsv"; }  # row OUT STEP: step, result, secs, verdict
row_is() { row "$1" "$2" | awk -F'\t' -v r="$3" '{ exit !($2 ~ r) } END { if (NR == 0) exit 1 }'; }

# --- 1. the dry run --------------------------------------------------------------------------
GPTOSS_BUILD_DIR="$BUILD" "$SRC/deploy/gpu/bundle.sh" "$TMP/bundle" > "$TMP/bundle.log" 2>&1
check "bundle.sh packs the build" test $? = 0
cat "$TMP/bundle.log"
check "bundle lists the libraries it packed" test -s "$TMP/bundle/bundled-libs.txt"
if ldd "$BUILD/tests/kernels/cuda_ops_test" | grep -q libnccl; then
  nccl=$(ldd "$BUILD/tests/kernels/cuda_ops_test" | awk '/libnccl/ { print $1 }')
  check "NCCL ($nccl) is either bundled or listed as expected on the GPU machine" \
    grep -q "^$nccl" "$TMP/bundle/bundled-libs.txt" "$TMP/bundle/expected-libs.txt"
fi

O="$TMP/out"
t0=$SECONDS
timeout -k 5 120 "$RUN" --prebuilt "$TMP/bundle" --out "$O" --quick --dry-run-ok > "$TMP/run.log" 2>&1
rc=$?
secs=$((SECONDS - t0))
cat "$TMP/run.log"
check "dry run exits 0 (got $rc, ${secs} s)" test "$rc" = 0
check "dry run takes under 60 s" test "$secs" -lt 60
check "summary.txt written" test -s "$O/summary.txt"
check "summary printed on the console" has "$TMP/run.log" "^== result: OK"
check "preflight passed" row_is "$O" preflight "^passed"
nsuites=0
for b in cuda_ops_test cuda_model_test cuda_comm_test cuda_parallel_test; do
  [ -e "$TMP/bundle/$b" ] || { check "$b (absent) is listed as skipped" row_is "$O" "$b" "^skipped"; continue; }
  suites=$("$TMP/bundle/$b" --gtest_list_tests 2> /dev/null | awk '/^[^ ]/ && $1 ~ /\.$/ { sub(/\.$/, "", $1); print $1 }')
  for s in $suites; do
    nsuites=$((nsuites + 1))
    check "$b.$s listed as skipped (no GPU)" row_is "$O" "$b.$s" "^skipped \\(no GPU\\)$"
    check "$b.$s in summary.txt" has "$O/summary.txt" "^  $b\\.$s +skipped \\(no GPU\\)"
    check "$b.$s has its own log" test -s "$O/tests/$b.$(echo "$s" | tr / _).log"
  done
done
check "suites found ($nsuites)" test "$nsuites" -ge 4
for m in 120b 20b; do
  check "bench-$m failed cleanly (no GPU)" row_is "$O" "bench-$m" "^failed \\(no GPU\\)$"
  check "bench-$m took under 30 s" test "$(row "$O" "bench-$m" | cut -f3)" -lt 30
  check "bench-$m log written" test -s "$O/bench-$m.log"
  check "bench-$m log says why" has "$O/bench-$m.log" "no usable CUDA device|not available"
done
check "memcheck row present" test -n "$(row "$O" "memcheck cuda_ops_test")"
check "no step left 'not run'" test -z "$(awk -F'\t' '$2 ~ /^not run|running|interrupted/' "$O/summary.tsv")"
check "no crash trace" bash -c "! grep -rqiE 'segmentation fault|core dumped|terminate called|Aborted|stack trace|unbound variable|syntax error|command not found' '$TMP/run.log' '$O'"
check "steps in the quick order" bash -c "awk -F'\t' '{print \$1}' '$O/summary.tsv' | grep -nE '^(preflight|cuda_ops_test|cuda_model_test|bench-120b|bench-20b|memcheck|cuda_comm_test)' | awk -F: '{ split(\$2, a, \"[ .]\"); print a[1] }' | uniq | paste -sd' ' | grep -qx 'preflight cuda_ops_test cuda_model_test bench-120b bench-20b memcheck cuda_comm_test'"

# --- 2. preflight: a missing library fails fast -------------------------------------------
mv "$TMP/bundle/lib" "$TMP/bundle/lib.hidden"
O2="$TMP/out-nolib"
t0=$SECONDS
timeout -k 5 60 "$RUN" --prebuilt "$TMP/bundle" --out "$O2" --quick --dry-run-ok > "$TMP/nolib.log" 2>&1
rc=$?
secs=$((SECONDS - t0))
tail -5 "$TMP/nolib.log"
lib1=$(cut -f1 "$TMP/bundle/bundled-libs.txt" | head -1)
check "lib/ hidden: exit 3 (got $rc)" test "$rc" = 3
check "lib/ hidden: fails within 10 s (${secs} s)" test "$secs" -le 10
check "lib/ hidden: names the missing library ($lib1)" has "$TMP/nolib.log" "$lib1"
check "lib/ hidden: no test ran" test -z "$(ls "$O2/tests" 2> /dev/null)"
check "lib/ hidden: summary says the preflight failed" has "$O2/summary.txt" "PREFLIGHT FAILED"
mv "$TMP/bundle/lib.hidden" "$TMP/bundle/lib"

if command -v cc > /dev/null; then  # a library no directory has: ldd's "not found"
  mkdir -p "$TMP/probe"
  echo 'int gptoss_missing_probe(void) { return 0; }' > "$TMP/probe/m.c"
  echo 'int gptoss_missing_probe(void); int main(void) { return gptoss_missing_probe(); }' > "$TMP/probe/p.c"
  if cc -shared -fPIC -o "$TMP/probe/libgptoss_missing_probe.so" "$TMP/probe/m.c" &&
     cc -o "$TMP/bundle/zz-probe" "$TMP/probe/p.c" -L"$TMP/probe" -lgptoss_missing_probe; then
    rm "$TMP/probe/libgptoss_missing_probe.so"
    t0=$SECONDS
    timeout -k 5 60 "$RUN" --prebuilt "$TMP/bundle" --out "$TMP/out-probe" --quick --dry-run-ok > "$TMP/probe.log" 2>&1
    rc=$?
    secs=$((SECONDS - t0))
    check "unresolvable library: exit 3 (got $rc) within 10 s (${secs} s)" test "$rc" = 3 -a "$secs" -le 10
    check "unresolvable library: names binary and library" has "$TMP/probe.log" "zz-probe: libgptoss_missing_probe.so => not found"
    rm -f "$TMP/bundle/zz-probe"
  fi
fi

# --- 3. failure paths, with stand-in binaries ------------------------------------------------
F="$TMP/fake"
cp -r "$TMP/bundle" "$F"
cat > "$F/cuda_comm_test" << 'EOF'
#!/usr/bin/env bash
case "$*" in
  *--gtest_list_tests*) printf 'Running main()\nGood.\n  A\nBad.\n  B\nCrash/P.\n  C/0  # GetParam() = 1\nHang.\n  D\n' ;;
  *"=Good.*"*) printf '[ RUN      ] Good.A\n[       OK ] Good.A (0 ms)\n[  PASSED  ] 1 test.\n' ;;
  *"=Bad.*"*) printf '[ RUN      ] Bad.B\nx.cc:1: Failure\n[  FAILED  ] Bad.B (0 ms)\n[  PASSED  ] 0 tests.\n[  FAILED  ] 1 test, listed below:\n[  FAILED  ] Bad.B\n'
              echo "blocking=${CUDA_LAUNCH_BLOCKING:-0}"; exit 1 ;;
  *"=Crash/P.*"*) echo "[ RUN      ] Crash/P.C/0"; kill -SEGV $$ ;;
  *"=Hang.*"*) echo "[ RUN      ] Hang.D"; echo $$ > "$GPTOSS_TEST_TMPDIR/hang.pid"; exec sleep 300 ;;
esac
EOF
cat > "$F/gptoss-bench" << 'EOF'
#!/usr/bin/env bash
json=""; while [ $# -gt 0 ]; do [ "$1" = --json ] && json=$2; shift; done
echo "gptoss-bench: fake device, model x"
printf '{"device": "fake", "decode": [{"batch": 1, "tok_per_s": 123.0, "fraction_of_hbm": 0.5, "roofline_tok_per_s": 246, "step_ms": 8.1}]}\n' > "$json"
echo "  decode 1 ..."
echo $$ > "$GPTOSS_TEST_TMPDIR/bench.pid"
exec sleep 300
EOF
chmod +x "$F/cuda_comm_test" "$F/gptoss-bench"
O3="$TMP/out-fake"
t0=$SECONDS
GPTOSS_STEPS="bench nccl" GPTOSS_BENCH_MODELS=20b GPTOSS_T_NCCL=3 GPTOSS_T_BENCH=3 \
  timeout -k 5 60 "$RUN" --prebuilt "$F" --out "$O3" --quick --dry-run-ok > "$TMP/fake.log" 2>&1
rc=$?
secs=$((SECONDS - t0))
cat "$TMP/fake.log"
check "failures: exit 1 (got $rc)" test "$rc" = 1
check "failures: bounded time (${secs} s)" test "$secs" -lt 30
check "passing suite passes" row_is "$O3" cuda_comm_test.Good "^passed \\(1 tests\\)"
check "failing suite FAILED" row_is "$O3" cuda_comm_test.Bad "^FAILED \\(1 of 1\\)"
check "failing suite re-run with CUDA_LAUNCH_BLOCKING=1" row_is "$O3" "cuda_comm_test.Bad (CUDA_LAUNCH_BLOCKING=1)" "^FAILED"
check "re-run really blocking" has "$O3/tests/cuda_comm_test.Bad.blocking.log" "blocking=1"
check "crash reported with signal and test" row_is "$O3" cuda_comm_test.Crash/P "^FAILED \\(signal 11 in Crash/P.C/0\\)"
check "crash log in tests/cuda_comm_test.Crash_P.log" test -s "$O3/tests/cuda_comm_test.Crash_P.log"
check "hang reported as TIMEOUT" row_is "$O3" cuda_comm_test.Hang "^TIMEOUT \\(3 s, in Hang.D\\)"
check "hung test killed" bash -c "! kill -0 \$(cat '$O3/tmp/hang.pid') 2> /dev/null"
check "bench cut off: TIMEOUT keeps its rows" row_is "$O3" bench-20b "^TIMEOUT \\(3 s; measured b1 123 tok/s\\)"
check "bench streamed to the console" has "$TMP/fake.log" "^  \\| gptoss-bench: fake device"
check "bench killed" bash -c "! kill -0 \$(cat '$O3/tmp/bench.pid') 2> /dev/null"
check "unselected steps say so" row_is "$O3" cuda_ops_test.CudaOpsTest "^skipped \\(not in GPTOSS_STEPS\\)"

# SIGTERM (an outer timeout) in the middle of a step: summary printed, step killed, exit 143.
O4="$TMP/out-term"
GPTOSS_STEPS=bench GPTOSS_BENCH_MODELS="120b 20b" GPTOSS_T_BENCH=100 \
  "$RUN" --prebuilt "$F" --out "$O4" --quick --dry-run-ok > "$TMP/term.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -s "$O4/tmp/bench.pid" ] && break; sleep 0.1; done
sleep 0.5
t0=$SECONDS
kill -TERM "$pid"
wait "$pid"
rc=$?
secs=$((SECONDS - t0))
tail -8 "$TMP/term.log"
check "SIGTERM: exit 143 (got $rc) within 15 s (${secs} s)" test "$rc" = 143 -a "$secs" -le 15
check "SIGTERM: step marked interrupted" row_is "$O4" bench-120b "^interrupted \\(TERM\\)"
check "SIGTERM: later step not run" row_is "$O4" bench-20b "^not run$"
check "SIGTERM: summary printed" has "$TMP/term.log" "^== result: INTERRUPTED \\(TERM\\)"
check "SIGTERM: bench killed" bash -c "! kill -0 \$(cat '$O4/tmp/bench.pid') 2> /dev/null"

# The deadline: nothing starts once it is too close.
O5="$TMP/out-deadline"
GPTOSS_DEADLINE_S=1 timeout -k 5 60 "$RUN" --prebuilt "$TMP/bundle" --out "$O5" --quick --dry-run-ok > "$TMP/deadline.log" 2>&1
rc=$?
check "deadline: exit 1 (got $rc)" test "$rc" = 1
check "deadline: steps not run (deadline)" row_is "$O5" cuda_ops_test.CudaOpsTest "^not run \\(deadline"

# --- 4. a GPU is visible (stand-in tools) ----------------------------------------------------
# CUDA_HOME points at the stand-ins so that a real toolkit's cuobjdump/compute-sanitizer (run.sh
# puts $CUDA_HOME/bin first on PATH) cannot shadow them; the binaries find cudart by RUNPATH.
mkdir -p "$TMP/stub"
cat > "$TMP/stub/nvidia-smi" << 'EOF'
#!/bin/sh
case "$*" in
  *-L*) echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-stub)" ;;
  *compute_cap*) echo "${STUB_CC:-9.0}" ;;
  *query-compute-apps*) ;;
  *query-gpu*) echo "NVIDIA H100 80GB HBM3, 81559 MiB, 0 MiB, 580.00, 1980 MHz, 2619 MHz" ;;
  *) echo "stub nvidia-smi" ;;
esac
EOF
cat > "$TMP/stub/cuobjdump" << 'EOF'
#!/bin/sh
case "$1" in --list-elf) echo "ELF file    1: stub.1.sm_90a.cubin" ;; esac
EOF
cat > "$TMP/stub/compute-sanitizer" << 'EOF'
#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in --tool|--error-exitcode|--leak-check) shift 2 ;; --*) shift ;; *) break ;; esac
done
echo "========= COMPUTE-SANITIZER (stub)"
"$@"; rc=$?
echo "========= ERROR SUMMARY: 0 errors"
exit $rc
EOF
chmod +x "$TMP/stub/nvidia-smi" "$TMP/stub/cuobjdump" "$TMP/stub/compute-sanitizer"
CUDA_HOME="$TMP/stub" PATH="$TMP/stub:$PATH" STUB_CC=8.0 timeout -k 5 60 "$RUN" --prebuilt "$TMP/bundle" --out "$TMP/out-arch" --quick > "$TMP/arch.log" 2>&1
rc=$?
check "sm_80 GPU, sm_90a binaries: exit 3 (got $rc)" test "$rc" = 3
check "sm_80 GPU: says which code is missing" has "$TMP/arch.log" "no code for sm_80"
CUDA_HOME="$TMP/stub" PATH="$TMP/stub:$PATH" STUB_CC=9.0 GPTOSS_STEPS=ops timeout -k 5 60 "$RUN" --prebuilt "$TMP/bundle" --out "$TMP/out-gpu" --quick > "$TMP/gpu.log" 2>&1
rc=$?
check "visible GPU whose tests skip, no --dry-run-ok: exit 1 (got $rc)" test "$rc" = 1
check "visible GPU: compute capability printed" has "$TMP/gpu.log" "compute capability 9.0"
check "visible GPU: skipped (no GPU) counts as a failure" \
  bash -c "awk -F'\t' '\$1 == \"cuda_ops_test.CudaOpsTest\" && \$4 == \"FAIL\"' '$TMP/out-gpu/summary.tsv' | grep -q ."
CUDA_HOME="$TMP/stub" PATH="$TMP/stub:$PATH" STUB_CC=9.0 timeout -k 5 60 "$RUN" --prebuilt "$TMP/bundle" --out "$TMP/out-gpu2" --quick --dry-run-ok > "$TMP/gpu2.log" 2>&1
rc=$?
check "visible GPU with --dry-run-ok: exit 0 (got $rc)" test "$rc" = 0
check "memcheck under compute-sanitizer: skipped (no GPU)" row_is "$TMP/out-gpu2" "memcheck cuda_ops_test" "^skipped \\(no GPU\\)$"
check "memcheck got the filter" has "$TMP/out-gpu2/memcheck.log" "Note: Google Test filter = -"

echo
if [ "$FAILS" -gt 0 ]; then echo "gpu_script_test: $FAILS check(s) failed"; exit 1; fi
echo "gpu_script_test: all checks passed"
