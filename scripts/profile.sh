#!/usr/bin/env bash
# Where the data path spends (docs/performance.md, "Profile"):
#   1. system calls and context switches per message, clients and daemon apart
#      (perf tracepoint raw_syscalls:sys_enter: an exact count, no sampling);
#   2. the router's batch: messages routed per busy worker pass (its stats counters);
#   3. instructions per message on each side (valgrind --tool=callgrind with collection
#      limited to the data-path functions: stable on a noisy VM, unlike times): the clients
#      in a zcp-perf run, and the router worker in zcp-bench-router (bench/router_bench.cpp),
#      which steps do_work() by hand because diroute's io_uring does not run under valgrind.
#
#   scripts/profile.sh [BUILD_DIR]     (default build; `make profile`)
#
# Environment: PROFILE_DURATION=2 (seconds per throughput run), PROFILE_NO_CALLGRIND=1,
# PROFILE_DAEMON_ARGS="" (more diroute flags, e.g. "--idle spin").
# Output: a table on stdout; raw numbers in BUILD_DIR/profile/ (profile.jsonl, perf and
# callgrind files).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ "$build" = /* ]] || build="$root/$build"
duration=${PROFILE_DURATION:-2}
out="$build/profile"
mkdir -p "$out"
: >"$out/profile.jsonl"
missing=()
for p in linux-perf valgrind jq; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})) && [[ $(id -u) -eq 0 ]]; then
  echo "profile: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
fi
for tool in perf jq; do
  command -v "$tool" >/dev/null || { echo "profile: '$tool' is missing (apt-get install linux-perf jq)" >&2; exit 2; }
done
[[ -x "$build/bin/zcp-perf" && -x "$build/bin/diroute" && -x "$build/bin/zcp-top" && -x "$build/bin/zcp-bench-router" ]] ||
  { echo "profile: build $build first (cmake --build $build -j2 --target zcp-perf zcp-top zcp-bench-router)" >&2; exit 2; }

instance="prof-$$"
rundir=$(mktemp -d /tmp/zcp-prof-XXXXXX)
export ZCP_RUNTIME_DIR="$rundir"
dpid=""
stop_daemon() {
  [[ -n "$dpid" ]] || return 0
  kill -TERM "$dpid" 2>/dev/null || true
  wait "$dpid" 2>/dev/null || true
  dpid=""
}
cleanup() {
  stop_daemon
  rm -f /dev/shm/zcp."$instance".* 2>/dev/null || true
  rm -rf "$rundir"
}
trap cleanup EXIT INT TERM

start_daemon() {  # [wrapper...]: start diroute (optionally under a wrapper) and wait for it
  # shellcheck disable=SC2086  # PROFILE_DAEMON_ARGS is a list of flags
  "$@" "$build/bin/diroute" --instance "$instance" --log-level warn ${PROFILE_DAEMON_ARGS:-} \
    2>"$out/diroute.log" &
  dpid=$!
  for _ in $(seq 1 300); do
    [[ -S "$rundir/$instance.sock" ]] && return 0
    sleep 0.05
  done
  echo "profile: diroute did not come up (see $out/diroute.log)" >&2
  exit 1
}

worker_counters() {  # prints "routed busy_passes passes" of worker 0
  "$build/bin/zcp-top" --instance "$instance" --once --json |
    jq -r '[.workers[0].routed, .workers[0].busy_passes, .workers[0].passes] | @tsv'
}

# perf stat -x, lines: value,unit,event,...
div() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.6f", b ? a / b : 0}'; }
perf_value() { awk -F, -v ev="$2" '$3 == ev {print $1}' "$1"; }

# id | messages counted from the JSON (jq) | zcp-perf arguments
scenarios=(
  "tp1-poll|.sent + 10000|throughput --payload 64 --subscribers 1 --mode poll --policy block_publisher --duration $duration --runs 1"
  "tp1-wait|.sent + 10000|throughput --payload 64 --subscribers 1 --mode wait --policy block_publisher --duration $duration --runs 1"
  "fan16-wait|.sent + 10000|throughput --payload 64 --subscribers 16 --mode wait --policy block_publisher --duration $duration --runs 1"
  "lat-poll|(.samples + 5000) * 2|latency --payload 64 --mode poll --count 50000 --warmup 5000"
  "lat-wait|(.samples + 5000) * 2|latency --payload 64 --mode wait --count 20000 --warmup 5000"
)

echo "profile: $(nproc) vCPU, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$root" rev-parse --short HEAD)"
echo
echo "1-2. System calls per message (perf raw_syscalls:sys_enter) and the router's batch"
printf '  %-11s %10s %14s %14s %12s %12s %10s\n' scenario messages "client sc/msg" "daemon sc/msg" \
  "client cs/msg" "daemon cs/msg" "batch"
start_daemon
for s in "${scenarios[@]}"; do
  IFS='|' read -r id count_expr args <<<"$s"
  read -r r0 b0 _ < <(worker_counters)
  perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$dpid" -o "$out/$id.daemon.perf" &
  dperf=$!
  sleep 0.2
  # shellcheck disable=SC2086  # $args is a list of options
  json=$(perf stat -x, -e raw_syscalls:sys_enter,context-switches -o "$out/$id.clients.perf" -- \
    "$build/bin/zcp-perf" $args --instance "$instance" --json 2>"$out/$id.log" | tail -n1)
  kill -INT "$dperf"
  wait "$dperf" 2>/dev/null || true
  read -r r1 b1 _ < <(worker_counters)
  msgs=$(jq "$count_expr" <<<"$json")
  csc=$(perf_value "$out/$id.clients.perf" raw_syscalls:sys_enter)
  ccs=$(perf_value "$out/$id.clients.perf" context-switches)
  dsc=$(perf_value "$out/$id.daemon.perf" raw_syscalls:sys_enter)
  dcs=$(perf_value "$out/$id.daemon.perf" context-switches)
  batch=$(awk -v r=$((r1 - r0)) -v b=$((b1 - b0)) 'BEGIN {printf "%.1f", b ? r / b : 0}')
  printf '  %-11s %10d %14.3f %14.3f %12.3f %12.3f %10s\n' "$id" "$msgs" \
    "$(div "$csc" "$msgs")" "$(div "$dsc" "$msgs")" \
    "$(div "$ccs" "$msgs")" "$(div "$dcs" "$msgs")" "$batch"
  jq -c --arg id "$id" --argjson msgs "$msgs" --argjson csc "$csc" --argjson dsc "$dsc" \
    --argjson ccs "$ccs" --argjson dcs "$dcs" --argjson routed $((r1 - r0)) --argjson busy $((b1 - b0)) \
    '{profile: $id, messages: $msgs, client_syscalls: $csc, daemon_syscalls: $dsc,
      client_context_switches: $ccs, daemon_context_switches: $dcs, routed: $routed,
      busy_passes: $busy, bench: .}' <<<"$json" >>"$out/profile.jsonl"
done
echo "  (client = every zcp-perf process, set-up included; messages include the warm-up.)"
echo "  (batch = messages routed per worker pass that found work.)"

# Idle (the target: under 1% CPU with 100 idle subscribers): 100 `zcp echo` processes, each with
# one subscriber sleeping in wait(), and the daemon's CPU time over 10 s from /proc.
echo
echo "4. Idle: diroute's CPU with 100 idle subscriber processes (10 s)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
idle_pids=()
for i in $(seq 1 100); do
  "$build/bin/zcp" echo --instance "$instance" "profile/idle/e$i" --count 1 >/dev/null 2>&1 &
  idle_pids+=($!)
done
sleep 3
subs=$("$build/bin/zcp-top" --instance "$instance" --once --json | jq '.subscribers | length')
t0=$(cpu_ticks "$dpid")
c0=$(cpu_ticks "${idle_pids[0]}")
sleep 10
t1=$(cpu_ticks "$dpid")
c1=$(cpu_ticks "${idle_pids[0]}")
kill "${idle_pids[@]}" 2>/dev/null || true
wait "${idle_pids[@]}" 2>/dev/null || true
hz=$(getconf CLK_TCK)
idle_pct=$(awk -v d=$((t1 - t0)) -v h="$hz" 'BEGIN {printf "%.2f", d / h / 10 * 100}')
client_pct=$(awk -v d=$((c1 - c0)) -v h="$hz" 'BEGIN {printf "%.2f", d / h / 10 * 100}')
echo "  $subs subscribers: diroute ${idle_pct}% of one CPU; one idle client process ${client_pct}%"
echo "  (CPU time has a resolution of 1/$hz s: 0.10% here is one tick in 10 s.)"
jq -cn --argjson subs "$subs" --argjson d "$idle_pct" --argjson c "$client_pct" \
  '{profile: "idle", subscribers: $subs, daemon_cpu_pct: $d, client_cpu_pct: $c}' >>"$out/profile.jsonl"
stop_daemon

[[ "${PROFILE_NO_CALLGRIND:-0}" == 1 ]] && exit 0
command -v valgrind >/dev/null || { echo "profile: valgrind is missing; skipping callgrind" >&2; exit 0; }
echo
echo "3. Instructions per message (callgrind: exact counts; locked instructions count as one)"
# Clients: zcp-perf under callgrind against a native daemon (diroute's io_uring does not run
# under valgrind), collecting only inside libzcp's publisher and subscriber ports. Wait mode:
# a polling subscriber would count its empty take() calls too, which measure its idle time.
rm -f "$out"/callgrind.*
start_daemon
json=$(valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$out/callgrind.client.%p" \
  --collect-atstart=no "--toggle-collect=zcp::detail::PublisherPort::*" \
  "--toggle-collect=zcp::detail::SubscriberPort::*" \
  "$build/bin/zcp-perf" throughput --payload 64 --subscribers 1 --mode wait --policy block_publisher \
  --duration 1 --warmup 1000 --runs 1 --instance "$instance" --json \
  2>"$out/callgrind.log" | tail -n1)
stop_daemon
[[ "$json" == "{"* ]] || { echo "profile: the callgrind client run failed (see $out/callgrind.log)" >&2; exit 1; }
sent=$(jq '.sent + 1000' <<<"$json")
total() { sed -n 's/^totals: \([0-9]*\).*/\1/p' "$1" | head -1; }
pub_ir=0
sub_ir=0
for f in "$out"/callgrind.client.*; do
  ir=$(total "$f")
  [[ -n "$ir" && "$ir" != 0 ]] || continue
  if callgrind_annotate "$f" 2>/dev/null | grep -q 'PublisherPort::publish'; then
    pub_ir=$((pub_ir + ir))
  else
    sub_ir=$((sub_ir + ir))
  fi
done
printf '  publisher  loan() + publish():      %6.0f per message (%d messages, 64 B)\n' \
  "$(div "$pub_ir" "$sent")" "$sent"
printf '  subscriber take(), release, wait():  %6.0f per message (wait mode)\n' "$(div "$sub_ir" "$sent")"
# The router: zcp-bench-router steps one worker by hand (no threads), so only do_work counts.
router_json="[]"
for subs in 1 16; do
  for batch in 1 16; do
    f="$out/callgrind.router.$subs.$batch"
    m=$(valgrind --tool=callgrind --callgrind-out-file="$f" --collect-atstart=no \
      "--toggle-collect=zcp::router::Worker::do_work*" "$build/bin/zcp-bench-router" \
      --subscribers "$subs" --batch "$batch" --messages 100000 2>/dev/null | jq .messages)
    ir=$(total "$f")
    printf '  router     do_work, 1->%-2d batch %-2d: %6.0f per message, %5.0f per delivery\n' "$subs" "$batch" \
      "$(div "$ir" "$m")" "$(div "$ir" $((m * subs)))"
    router_json=$(jq -c --argjson s "$subs" --argjson b "$batch" --argjson ir "$ir" --argjson m "$m" \
      '. + [{subscribers: $s, batch: $b, messages: $m, ir: $ir}]' <<<"$router_json")
  done
done
jq -cn --argjson sent "$sent" --argjson pub "$pub_ir" --argjson sub "$sub_ir" --argjson router "$router_json" \
  '{profile: "callgrind", messages: $sent, publisher_ir: $pub, subscriber_ir: $sub, router: $router}' \
  >>"$out/profile.jsonl"
echo "  (callgrind_annotate $out/callgrind.* shows where, by function.)"
