#!/usr/bin/env bash
# test.sh: installs the test dependencies, builds, and runs every test under
# ctest twice: a normal build and an AddressSanitizer + UndefinedBehavior-
# Sanitizer build (UB_SANITIZE=OFF in the environment skips the second).
# Every test runs once: a failure is a failure, never retried. A skipped
# test fails the run too: this script installs every tool the tests need, so
# a skip here means an install step is broken.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --test

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_ctest DIR [ENV...]: ctest in DIR; fails when a test failed or was skipped.
run_ctest() {
  local dir=$1
  shift
  env "$@" ctest --test-dir "$dir" --output-on-failure -j2 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  [ "$status" -eq 0 ] || exit "$status"
  if grep -q '(Skipped)' "$log"; then
    echo "test.sh: tests were skipped in $dir (see 'did not run' above): install what they need" >&2
    exit 1
  fi
}

run_ctest build
if [ "${UB_SANITIZE:-ON}" != "OFF" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DUB_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
  # LeakSanitizer is on: a leak fails the test that caused it.
  run_ctest build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
# libFuzzer smoke runs of every decoder (fixtures and past crashes as seeds).
# setup.sh --test installs clang: without it the fuzz runs fail, never vanish.
if [ "${UB_FUZZ:-ON}" != "OFF" ]; then
  command -v clang >/dev/null || { echo "test.sh: clang missing (setup.sh --test installs it)" >&2; exit 1; }
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUB_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$(nproc)" --target fuzz_json fuzz_dt_metrics fuzz_dt_timeseries fuzz_yaml fuzz_recorder
  (cd build-fuzz && ctest -R '^fuzz\.' --output-on-failure -j2)
fi
