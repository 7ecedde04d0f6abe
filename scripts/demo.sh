#!/usr/bin/env bash
# make demo: the main job. Today it runs the shared-memory core across real processes
# (zcp-shm-demo); it becomes the diroute end-to-end demo when the data plane lands.
set -euo pipefail
BUILD=${1:-build}
BIN="$BUILD/bin/zcp-shm-demo"
[[ -x "$BIN" ]] || { echo "demo: $BIN is missing; run 'make build'" >&2; exit 1; }

echo "== zerocp demo: one publisher, a router and three subscribers, all in separate processes,"
echo "== moving 32-byte chunk references through shared memory; payloads are written once."
"$BIN" --seconds "${DEMO_SECONDS:-5}"

leftover=$(ls /dev/shm | grep -c '^zcp\.shmdemo-' || true)
if [[ "$leftover" != 0 ]]; then
  echo "demo: shared-memory segments left behind in /dev/shm" >&2
  exit 1
fi
