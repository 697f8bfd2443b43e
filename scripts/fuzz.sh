#!/usr/bin/env bash
# Bounded libFuzzer runs of the parsers (clang builds); seconds per target from KVC_FUZZ_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ >/dev/null; then
  echo "clang++ not found: libFuzzer runs skipped (the replay drivers still run under ctest)"
  exit 0
fi
cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DKVC_ENABLE_CUDA=OFF -DKVC_BUILD_BENCHMARKS=OFF -DKVC_BUILD_EXAMPLES=OFF \
      -DKVC_TEST_AREAS=fuzz >/dev/null
cmake --build build/fuzz -j2
ctest --test-dir build/fuzz -L fuzz --output-on-failure
