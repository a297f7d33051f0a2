#!/usr/bin/env bash
# Packs the GPU test binaries and gptoss-bench with the shared libraries a bare GPU machine may
# lack (abseil etc.; the CUDA toolkit's own libraries and libc are expected there) into
# ${1:-out/gpu-bundle}, stripped, for `deploy/gpu/run.sh --prebuilt DIR` on a machine that cannot
# build (no Debian packages). Build first on a machine with nvcc:
#   cmake -S . -B build-gpu -G Ninja -DGPTOSS_GRPC=OFF -DGPTOSS_CUDA=ON
#   cmake --build build-gpu --target cuda_ops_test cuda_model_test cuda_comm_test gptoss-bench
#   cmake --build build-gpu --target cuda_parallel_test   # where Gloo is installed (optional)
# The tests read fixtures through the source path compiled into them (GPTOSS_SOURCE_DIR); it is
# recorded in DIR/source_dir and run.sh links it to the checkout it runs from when it is absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${GPTOSS_BUILD_DIR:-build-gpu}
DEST=${1:-out/gpu-bundle}
mkdir -p "$DEST/lib"
for b in tests/kernels/cuda_ops_test tests/worker/cuda_model_test tests/worker/cuda_comm_test \
         tests/worker/cuda_parallel_test tools/bench/gptoss-bench; do
  if [ ! -e "$BUILD/$b" ]; then  # cuda_parallel_test needs Gloo at build time
    echo "bundle: no $BUILD/$b, left out"
    continue
  fi
  cp "$BUILD/$b" "$DEST/"
  strip --strip-debug "$DEST/$(basename "$b")"
  ldd "$BUILD/$b" | awk '/=> \//{print $3}' | while read -r lib; do
    case "$lib" in
      /usr/local/cuda*|*/libc.so*|*/libm.so*|*/libgcc_s.so*|*/libstdc++.so*|*/ld-linux*|*/libdl.so*|*/libpthread.so*|*/librt.so*|*/libcuda.so*) ;;
      *) cp -L "$lib" "$DEST/lib/" ;;
    esac
  done
done
pwd > "$DEST/source_dir"
du -sh "$DEST"
