#!/usr/bin/env bash
# The whole test suite: installs what is needed, builds, and runs every test kind.
#   unit        every module on its own (engine, wire, store, config, net, client, CLI)
#   integration real vremoted processes from `vremote cluster up`
#   sim       5,000 simulated seeds (2-8 nodes, crashes, partitions, link resets)
#   mutation  planted protocol bugs that the simulator must catch
#   model     exhaustive SPIN verification of the Promela model
# Then the core modules' unit tests (label asan: engine, wire, store, config, runtime, net, the
# client session) and a short simulator run again under AddressSanitizer + UBSan; that tree is
# built at nice 19 while the release tree's tests run.
# A developer can run one kind with: ctest --test-dir build -L unit   (or sim, mutation, model)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
# The sanitizer tree builds meanwhile, at the lowest CPU priority: the cluster tests spend much
# of their time waiting (leases, timeouts, sleeps of the workload's schedule), and the build
# takes only the CPU they leave. Its output is shown if it fails.
asan_log=$(mktemp /tmp/vremote-asan-build.XXXXXX)
nice -n 19 scripts/build.sh asan asan_tests > "$asan_log" 2>&1 &
asan_pid=$!
ctest_status=0
ctest --test-dir build --output-on-failure -j 2 --timeout 900 || ctest_status=$?
if ! wait "$asan_pid"; then
  cat "$asan_log"
  echo "scripts/test.sh: the sanitizer build failed" >&2
  exit 1
fi
rm -f "$asan_log"
if ((ctest_status != 0)); then
  exit "$ctest_status"
fi
ctest --test-dir build-asan --output-on-failure -j 2 -L asan --timeout 900
