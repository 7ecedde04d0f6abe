#!/usr/bin/env bash
# make demo: the main job. Starts diroute on a private instance (its own runtime directory
# from mktemp), runs zcp-demo (one DataBroadcaster and three DataSubscriber processes, a live
# line per second), then stops the daemon and checks that nothing is left behind: no process,
# no socket, no /dev/shm segment. Ctrl-C stops it early just as cleanly.
#
#   scripts/demo.sh [BUILD_DIR]      environment: DEMO_SECONDS (10), DEMO_RATE (ticks/s,
#                                    100000; 0 = as fast as possible), DEMO_SUBSCRIBERS (3),
#                                    DEMO_PRESET (high_performance), DEMO_BATCH (ticks/block, 1)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."

DIROUTE="$BUILD/bin/diroute"
DEMO="$BUILD/bin/zcp-demo"
# Only what the demo runs (an up-to-date build returns at once).
echo "demo: building diroute and zcp-demo in $BUILD"
[[ -f "$BUILD/CMakeCache.txt" ]] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" --target diroute zcp-demo

RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/zcp-demo.XXXXXX")
INSTANCE="demo-$$"
export ZCP_RUNTIME_DIR="$RUNDIR" ZCP_INSTANCE="$INSTANCE"
DAEMON_PID=""
DEMO_PID=""

STOP_RC=0
stop_pid() {  # stop_pid PID: SIGTERM, up to 5 s, then SIGKILL; the exit code goes to STOP_RC
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 500; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  kill -KILL "$pid" 2>/dev/null || true
  STOP_RC=0
  wait "$pid" 2>/dev/null || STOP_RC=$?
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  [[ -n "$DEMO_PID" ]] && stop_pid "$DEMO_PID"
  [[ -n "$DAEMON_PID" ]] && stop_pid "$DAEMON_PID"
  # The daemon removes its segment and socket itself; these only matter if it crashed.
  rm -f /dev/shm/zcp."$INSTANCE".* 2>/dev/null || true
  rm -rf "$RUNDIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, stopping"; exit 130' INT TERM HUP

# diroute runs in a session of its own, so a Ctrl-C in the terminal reaches zcp-demo (which
# stops its processes and reports) but not the daemon, which this script stops last, with
# SIGTERM, once every client is gone.
setsid "$DIROUTE" --instance "$INSTANCE" --idle hybrid --log-level warn 2>"$RUNDIR/diroute.log" &
DAEMON_PID=$!
for ((i = 0; i < 500; i++)); do
  [[ -S "$RUNDIR/$INSTANCE.sock" ]] && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { echo "demo: diroute exited at start-up:" >&2; cat "$RUNDIR/diroute.log" >&2; exit 1; }
  sleep 0.01
done
[[ -S "$RUNDIR/$INSTANCE.sock" ]] || { echo "demo: diroute did not open its socket" >&2; exit 1; }
echo "== zerocp demo: diroute pid $DAEMON_PID, instance $INSTANCE (private runtime dir $RUNDIR)"

"$DEMO" --seconds "${DEMO_SECONDS:-10}" --rate "${DEMO_RATE:-100000}" \
        --subscribers "${DEMO_SUBSCRIBERS:-3}" --preset "${DEMO_PRESET:-high_performance}" \
        --batch "${DEMO_BATCH:-1}" &
DEMO_PID=$!
demo_rc=0
wait "$DEMO_PID" || demo_rc=$?
DEMO_PID=""

stop_pid "$DAEMON_PID"
daemon_rc=$STOP_RC
DAEMON_PID=""
if [[ "$daemon_rc" != 0 ]]; then
  echo "demo: diroute exited with $daemon_rc:" >&2
  cat "$RUNDIR/diroute.log" >&2
  demo_rc=1
fi

leftover=""
[[ -e "$RUNDIR/$INSTANCE.sock" ]] && leftover+=" socket"
compgen -G "/dev/shm/zcp.$INSTANCE.*" >/dev/null && leftover+=" /dev/shm segment"
if [[ -n "$leftover" ]]; then
  echo "demo: left behind:$leftover" >&2
  demo_rc=1
else
  echo "== clean: daemon stopped (exit 0), no process, socket or /dev/shm segment left behind"
fi
exit "$demo_rc"
