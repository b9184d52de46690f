#!/usr/bin/env bash
# The soak test for longer than the suite's 2 minutes: scripts/soak.sh [MINUTES] [SEED]
# (default 30 minutes). Builds what it needs, then runs tests/integration/soak_test with
# VR_SOAK_SECONDS; it prints its seed, and VR_SOAK_SEED replays the workload's choices.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
scripts/build.sh release soak_test > /dev/null
scripts/build.sh release > /dev/null
export VR_SOAK_SECONDS=$((minutes * 60))
if [[ -n "${2:-}" ]]; then
  export VR_SOAK_SEED=$2
fi
exec build/tests/integration/soak_test
