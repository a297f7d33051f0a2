#!/usr/bin/env bash
# Packs the GPU test binaries and gptoss-bench with the shared libraries a bare GPU machine may
# lack (abseil, Gloo and its dependencies, ...; libc and the CUDA toolkit's own libraries are
# expected there) into ${1:-out/gpu-bundle}, stripped, for `deploy/gpu/run.sh --prebuilt DIR` on a
# machine that cannot build (no Debian packages). Build first on a machine with nvcc:
#   cmake -S . -B build-gpu -G Ninja -DGPTOSS_GRPC=OFF -DGPTOSS_CUDA=ON
#   cmake --build build-gpu --target cuda_ops_test cuda_model_test cuda_comm_test gptoss-bench
#   cmake --build build-gpu --target cuda_parallel_test   # where Gloo is installed (optional)
# (GPTOSS_BUILD_DIR=build when the main build has the CUDA targets.)
#
# NCCL: copied into DIR/lib when the binaries link it from outside the CUDA toolkit directory.
# When it lives under the toolkit (as with a toolkit assembled from NVIDIA's wheels, where
# nvidia-nccl-cu13 sits beside cudart) it is left out, since it is large (about 220 MB against a
# 64 MiB transport limit); run.sh's preflight then resolves it on the GPU machine from the bundle,
# the toolkit or the NVIDIA wheels of its PyTorch, prints where from, and exits 3 within seconds
# if none has it. GPTOSS_BUNDLE_NCCL=1 copies it whatever its place, =0 never does.
#
# DIR also gets: bundled-libs.txt (library<TAB>binaries that need it: run.sh checks that each is
# in DIR/lib), expected-libs.txt (what the GPU machine must provide), manifest.txt, source_dir
# (the source path compiled into the tests: run.sh links it to its checkout when it is absent).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${GPTOSS_BUILD_DIR:-build-gpu}
DEST=${1:-out/gpu-bundle}
BUNDLE_NCCL=${GPTOSS_BUNDLE_NCCL:-auto}
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc 2> /dev/null || echo /usr/local/cuda/bin/nvcc)")")}
CUDA_REAL=$(readlink -f "$CUDA_HOME")

# A bundle holds one build's files only: stale libraries would mask missing ones.
rm -rf "${DEST:?}/lib"
rm -f "$DEST"/cuda_*_test "$DEST"/gptoss-bench "$DEST"/bundled-libs.txt "$DEST"/expected-libs.txt
mkdir -p "$DEST/lib"
declare -A NEEDED_BY=() EXPECTED=()
BINS=()
for b in tests/kernels/cuda_ops_test tests/worker/cuda_model_test tests/worker/cuda_comm_test \
         tests/worker/cuda_parallel_test tools/bench/gptoss-bench; do
  if [ ! -e "$BUILD/$b" ]; then  # cuda_parallel_test needs Gloo at build time
    echo "bundle: no $BUILD/$b, left out"
    continue
  fi
  name=$(basename "$b")
  BINS+=("$name")
  cp "$BUILD/$b" "$DEST/"
  strip --strip-debug "$DEST/$name"
  if ldd "$BUILD/$b" | grep -q "not found"; then
    ldd "$BUILD/$b" | grep "not found" >&2
    echo "bundle: $BUILD/$b has unresolved libraries here" >&2
    exit 1
  fi
  while read -r soname path; do
    real=$(readlink -f "$path")
    case "$soname" in
      libc.so*|libm.so*|libgcc_s.so*|libstdc++.so*|ld-linux*|libdl.so*|libpthread.so*|librt.so*|libcuda.so*)
        continue ;;  # the system's and the driver's
    esac
    under_toolkit=0
    case "$real" in "$CUDA_REAL"/*|/usr/local/cuda*) under_toolkit=1 ;; esac
    copy=$((1 - under_toolkit))
    case "$soname" in
      libnccl*)
        [ "$BUNDLE_NCCL" = 1 ] && copy=1
        [ "$BUNDLE_NCCL" = 0 ] && copy=0
        if [ "$copy" = 0 ] && [ -z "${EXPECTED[$soname]:-}" ]; then
          echo "bundle: $soname is under the CUDA toolkit ($real, $(du -m "$real" | cut -f1) MB): not bundled;" \
               "run.sh's preflight finds it on the GPU machine (toolkit or PyTorch's NVIDIA wheels) or fails fast." \
               "GPTOSS_BUNDLE_NCCL=1 copies it."
        fi ;;
    esac
    if [ "$copy" = 1 ]; then
      [ -e "$DEST/lib/$soname" ] || cp -L "$path" "$DEST/lib/$soname"
      NEEDED_BY[$soname]="${NEEDED_BY[$soname]:+${NEEDED_BY[$soname]},}$name"
    else
      EXPECTED[$soname]="${EXPECTED[$soname]:+${EXPECTED[$soname]},}$name"
    fi
  done < <(ldd "$BUILD/$b" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
done
[ "${#BINS[@]}" -gt 0 ] || { echo "bundle: no binaries in $BUILD" >&2; exit 1; }
for lib in "${!NEEDED_BY[@]}"; do printf "%s\t%s\n" "$lib" "${NEEDED_BY[$lib]}"; done | sort > "$DEST/bundled-libs.txt"
for lib in "${!EXPECTED[@]}"; do printf "%s\t%s\n" "$lib" "${EXPECTED[$lib]}"; done | sort > "$DEST/expected-libs.txt"
pwd > "$DEST/source_dir"
{
  echo "built from $(pwd) ($(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD 2> /dev/null || echo ', dirty')), build dir $BUILD, $(date -u +%FT%TZ)"
  echo "binaries: ${BINS[*]}"
  echo "bundled libraries: $(wc -l < "$DEST/bundled-libs.txt"); expected on the GPU machine: $(cut -f1 "$DEST/expected-libs.txt" | paste -sd' ')"
} > "$DEST/manifest.txt"
size=$(du -sm "$DEST" | cut -f1)
echo "bundle: $DEST, ${size} MB: ${BINS[*]} + $(wc -l < "$DEST/bundled-libs.txt") libraries"
[ "$size" -gt 60 ] && echo "bundle: WARNING: ${size} MB is over what a 64 MiB carry can take" >&2
exit 0
