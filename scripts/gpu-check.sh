#!/usr/bin/env bash
# The device check, for a machine with a GPU: build the CUDA tests and run them; a skip is a failure here.
# Usage: bash scripts/gpu-check.sh [build-dir]   (default build/release; configured with the release preset if absent)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || { echo "gpu-check: no GPU visible" >&2; exit 1; }
[ -f "$build/CMakeCache.txt" ] || cmake --preset release
cmake --build "$build" --target test_shared_formats test_cuda_runtime -j "$(nproc)"
status=0
for t in tests/cuda/test_shared_formats tests/cuda/test_cuda_runtime; do
  rc=0
  "$build/$t" || rc=$?
  echo "gpu-check: $t exit $rc"
  [ "$rc" -eq 0 ] || status=1   # 77 (skipped: no device) fails the device check
done
exit "$status"
