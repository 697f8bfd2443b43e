#!/usr/bin/env bash
# The device check, one prepared script for a short GPU window: build here (or carry the build),
# run there. Phases, each under its own timeout, appended to $OUT/report.json and $OUT/report.md:
#   1. device   nvidia-smi's name, memory and driver ("no device" where none is visible)
#   2. emulated the kernels' phase code under the CPU block emulator (runs everywhere)
#   3. gpu      the same kernel checks on the GPU, the runtime and shared-format tests
#               (on a machine without a GPU they report "no device"; with one, a skip fails)
# Usage: OUT=dir bash scripts/gpu-check.sh [build-dir]
#   build-dir defaults to build/release (configured with the release preset if absent); OUT to
#   build-dir/gpu-check. Exit status: 0 when no phase failed.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
out=${OUT:-$build/gpu-check}
mkdir -p "$out"
report_json="$out/report.json"
report_md="$out/report.md"
echo "[" > "$report_json"
printf '| phase | result | seconds | detail |\n|---|---|---|---|\n' > "$report_md"
first=1
failed=0

# record PHASE RESULT SECONDS DETAIL
record() {
  local detail=${4//\"/\'}
  [ "$first" -eq 1 ] || echo "," >> "$report_json"
  first=0
  printf '  {"phase": "%s", "result": "%s", "seconds": %s, "detail": "%s"}' "$1" "$2" "$3" "$detail" >> "$report_json"
  printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" >> "$report_md"
  echo "gpu-check: $1: $2 ($3 s) $4"
  [ "$2" != "failed" ] || failed=1
}

# run_phase NAME TIMEOUT COMMAND...: the command's output goes to $out/NAME.log
run_phase() {
  local name=$1 limit=$2
  shift 2
  local rc=0
  timeout "$limit" "$@" > "$out/$name.log" 2>&1 || rc=$?
  echo "$rc"
  return 0
}

# 1. device
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)
if [ -n "$gpu" ]; then record device ok 0 "$gpu"; else record device "no device" 0 "nvidia-smi sees no GPU"; fi

# build what the phases run
start=$SECONDS
[ -f "$build/CMakeCache.txt" ] || cmake --preset release > "$out/configure.log" 2>&1
targets="test_kernels_emulated"
grep -q "^KVC_ENABLE_CUDA:BOOL=ON" "$build/CMakeCache.txt" && targets="$targets test_shared_formats test_cuda_runtime test_kernels_gpu"
if timeout 1200 cmake --build "$build" --target $targets > "$out/build.log" 2>&1; then
  record build ok $((SECONDS - start)) "$targets"
else
  record build failed $((SECONDS - start)) "see build.log"
  echo "]" >> "$report_json"
  exit 1
fi

# 2. the kernels under the block emulator
start=$SECONDS
rc=$(run_phase emulated 300 "$build/tests/cuda/test_kernels_emulated")
summary=$(grep -E "All tests passed|test cases" "$out/emulated.log" | tail -1)
if [ "$rc" -eq 0 ]; then record emulated ok $((SECONDS - start)) "$summary"; else record emulated failed $((SECONDS - start)) "exit $rc: $summary"; fi

# 3. on the GPU
for t in test_kernels_gpu test_cuda_runtime test_shared_formats; do
  if [ ! -x "$build/tests/cuda/$t" ]; then record "$t" "not built" 0 "KVC_ENABLE_CUDA is off in $build"; continue; fi
  start=$SECONDS
  rc=$(run_phase "$t" 300 "$build/tests/cuda/$t")
  summary=$(grep -E "All tests passed|test cases|SKIPPED" "$out/$t.log" | tail -1)
  if [ "$rc" -eq 0 ]; then record "$t" ok $((SECONDS - start)) "$summary"
  elif [ "$rc" -eq 77 ] && [ -z "$gpu" ]; then record "$t" "no device" $((SECONDS - start)) "$summary"
  else record "$t" failed $((SECONDS - start)) "exit $rc: $summary"; fi
done

echo "" >> "$report_json"
echo "]" >> "$report_json"
echo "gpu-check: report in $report_md and $report_json"
exit "$failed"
