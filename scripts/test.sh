#!/usr/bin/env bash
# The whole test suite: installs what is needed, builds, and runs every test kind.
#   unit        every module on its own (engine, wire, store, config, net, client, CLI)
#   integration real vremoted processes from `vremote cluster up`
#   sim       5,000 simulated seeds (2-8 nodes, crashes, partitions, link resets)
#   mutation  planted protocol bugs that the simulator must catch
#   model     exhaustive SPIN verification of the Promela model
# Then the core modules' unit tests (label asan: engine, wire, store, config, runtime, net, the
# client session) and a short simulator run again under AddressSanitizer + UBSan.
# A developer can run one kind with: ctest --test-dir build -L unit   (or sim, mutation, model)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
ctest --test-dir build --output-on-failure -j 2 --timeout 900
scripts/build.sh asan asan_tests
ctest --test-dir build-asan --output-on-failure -j 2 -L asan --timeout 900
