#!/usr/bin/env bash
# test.sh: installs the test dependencies, builds, and runs every test under
# ctest twice: a normal build and an AddressSanitizer + UndefinedBehavior-
# Sanitizer build (UB_SANITIZE=OFF in the environment skips the second).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --test
# A test is run a second time only if it failed (it must then pass): one
# end-to-end test failed once in about 40 runs under heavy parallel load
# and could not be reproduced; the output of the failed try stays in the log.
ctest --test-dir build --output-on-failure -j2 --repeat until-pass:2
if [ "${UB_SANITIZE:-ON}" != "OFF" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DUB_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
  # LeakSanitizer is on: a leak fails the test that caused it.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2 --repeat until-pass:2
fi
# libFuzzer smoke runs of every decoder (fixtures and past crashes as seeds).
if [ "${UB_FUZZ:-ON}" != "OFF" ] && command -v clang >/dev/null; then
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUB_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$(nproc)" --target fuzz_json fuzz_dt_metrics fuzz_dt_timeseries fuzz_yaml fuzz_recorder
  (cd build-fuzz && ctest -R '^fuzz\.' --output-on-failure -j2)
fi
