#!/usr/bin/env bash
# The main job. Until the node daemon exists (issue 3) this installs what is needed, builds, and
# runs the coherence core in the deterministic cluster simulator, printing what it checked.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
echo
echo "== 500 simulated clusters (2-8 nodes; crashes, partitions and link resets mixed in) =="
./build/tests/sim/vr_sim --seeds 0:500 --coverage | sed -n '1,6p'
echo
echo "== one 5-node run with every fault on =="
./build/tests/sim/vr_sim --seed 7 --nodes 5 --ops 60 --crashes --partitions --resets
echo
echo "== planted bugs: each must be caught =="
for m in skip-invalidation ack-before-kernel forget-writeback; do
  ./build/tests/sim/vr_sim --mutation "$m" --seeds 0:400 --expect-failure | head -1
done
