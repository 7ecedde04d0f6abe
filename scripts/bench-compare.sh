#!/usr/bin/env bash
# zerocp side by side with iceoryx 2.0.3 and Unix domain sockets, in one run on this host
# (issue 8 §2-3; docs/performance.md, "Side by side with iceoryx and Unix sockets").
#
#   scripts/bench-compare.sh [BUILD_DIR]        (default build-bench; `make bench-compare`)
#
# Installs the iceoryx Debian packages if missing (as root), builds zcp-perf (with diroute)
# and the peers (bench/peers: iox-perf, uds-perf) in Release, then runs every scenario with
# zerocp, iceoryx and UDS back to back, BENCH_REPS times, and prints one table of medians.
#
# Environment:
#   BENCH_REPS=3        repetitions; the table shows the median of each
#   BENCH_DURATION=3    seconds per throughput run
#   BENCH_QUICK=1       smoke run: 1 repetition, 0.5 s, short latency runs
#   BENCH_IMPLS="zerocp iceoryx uds"   which implementations to run
#   BENCH_NO_BUILD=1    use the binaries already in BUILD_DIR
#   BENCH_ZCP_POLL_YIELD=100  zerocp's --poll-yield in the poll rows (0: spin only)
#   BENCH_ZCP_ARGS=""   more zcp-perf options for every zerocp run (e.g. "--idle spin")
#   JOBS=2              build parallelism
# Raw results: BUILD_DIR/compare.jsonl (one JSON object per run, zcp-perf's fields plus
# "compare", "impl" and "rep"), BUILD_DIR/compare.md (the table in Markdown),
# BUILD_DIR/compare-logs/ (each run's stderr). A failed run shows as n/a and is listed; the
# script then exits 1 after printing the table.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-bench}
[[ "$build" = /* ]] || build="$root/$build"
jobs=${JOBS:-2}
reps=${BENCH_REPS:-3}
duration=${BENCH_DURATION:-3}
lat_wait_count=20000
lat_poll_count=50000
lat_warmup=5000
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
  reps=${BENCH_REPS:-1}
  duration=${BENCH_DURATION:-0.5}
  lat_wait_count=2000
  lat_poll_count=5000
  lat_warmup=500
fi
impls=(${BENCH_IMPLS:-zerocp iceoryx uds})

# ---- packages and builds ---------------------------------------------------------------
iox_pkgs=(iceoryx libiceoryx-posh-dev libiceoryx-hoofs-dev)
missing=()
for p in "${iox_pkgs[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "bench-compare: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
  else
    echo "bench-compare: not root; iceoryx is skipped unless you install: ${missing[*]}" >&2
  fi
fi

if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DZCP_BUILD_TESTS=OFF -DZCP_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j"$jobs" --target zcp-perf ||
    echo "bench-compare: zcp-perf did not build; zerocp is n/a in this run" >&2
  cmake -S "$root/bench/peers" -B "$build/peers" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build/peers" -j"$jobs" || echo "bench-compare: the peers did not all build" >&2
fi
declare -A bin=([zerocp]="$build/bin/zcp-perf" [iceoryx]="$build/peers/bin/iox-perf" [uds]="$build/peers/bin/uds-perf")

# ---- scenarios (the same options for all three binaries) -------------------------------
# zerocp's poll-mode clients get --poll-yield (BENCH_ZCP_POLL_YIELD, default 100; 0 = spin
# only): with ping, pong and the router worker all spinning, 2 vCPUs run three busy threads
# and spin-only rounds take a scheduler tick (docs/performance.md, "--poll-yield"). The peers
# have no router thread and spin strictly.
zcp_poll_yield=${BENCH_ZCP_POLL_YIELD:-100}
zpoll="--poll-yield $zcp_poll_yield"
# id | metric fields | extra zcp-perf options | the benchmark's arguments
scenarios=(
  "tp1|msgs_per_s|$zpoll|throughput --payload 64 --subscribers 1 --mode poll --policy block_publisher --duration $duration --runs 1"
  "tp1w|msgs_per_s||throughput --payload 64 --subscribers 1 --mode wait --policy block_publisher --duration $duration --runs 1"
  "fan16|msgs_per_s||throughput --payload 64 --subscribers 16 --mode wait --policy block_publisher --duration $duration --runs 1"
  "blk8k|msgs_per_s|$zpoll|throughput --payload 8192 --touch --subscribers 1 --mode poll --policy block_publisher --duration $duration --runs 1"
  "blk8kw|msgs_per_s||throughput --payload 8192 --touch --subscribers 1 --mode wait --policy block_publisher --duration $duration --runs 1"
  "latw|p50_ns p99_ns||latency --payload 64 --mode wait --count $lat_wait_count --warmup $lat_warmup --timeout 120"
  "latp|p50_ns|$zpoll|latency --payload 64 --mode poll --count $lat_poll_count --warmup $lat_warmup --timeout 120"
  # zerocp only, with direct delivery (publishers push into subscriber queues themselves); the
  # table compares them with the peers' numbers of the routed row of the same scenario.
  "tp1d|msgs_per_s|$zpoll --delivery direct|throughput --payload 64 --subscribers 1 --mode poll --policy block_publisher --duration $duration --runs 1"
  "latwd|p50_ns p99_ns|--delivery direct|latency --payload 64 --mode wait --count $lat_wait_count --warmup $lat_warmup --timeout 120"
  "latpd|p50_ns|$zpoll --delivery direct|latency --payload 64 --mode poll --count $lat_poll_count --warmup $lat_warmup --timeout 120"
)
zerocp_only=" tp1d latwd latpd "

out="$build/compare.jsonl"
logs="$build/compare-logs"
mkdir -p "$logs"
: >"$out"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
machine="$(nproc) vCPU, ${cpu_model:-unknown CPU}, Linux $(uname -r), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]] || commit="$commit+local changes"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)
echo "bench-compare: $machine; load $load_before; $reps rep(s), ${duration} s per throughput run; ${impls[*]}"

failures=()
for ((rep = 1; rep <= reps; ++rep)); do
  for s in "${scenarios[@]}"; do
    IFS='|' read -r id _ zextra args <<<"$s"
    for impl in "${impls[@]}"; do
      [[ "$impl" != zerocp && "$zerocp_only" == *" $id "* ]] && continue
      log="$logs/$id.$impl.$rep.log"
      if [[ ! -x "${bin[$impl]}" ]]; then
        failures+=("$id $impl rep $rep: ${bin[$impl]} not built")
        continue
      fi
      printf '  rep %d %-6s %-8s ' "$rep" "$id" "$impl"
      extra=""
      [[ "$impl" == zerocp ]] && extra="$zextra ${BENCH_ZCP_ARGS:-}"
      # shellcheck disable=SC2086  # $args and $extra are lists of options
      if line=$(timeout 300 "${bin[$impl]}" $args $extra --json 2>"$log") && [[ "$line" == "{"* ]]; then
        line=$(tail -n1 <<<"$line")
        echo "{\"compare\":\"$id\",\"impl\":\"$impl\",\"rep\":$rep,${line#\{}" >>"$out"
        grep -o '"\(msgs_per_s\|p50_ns\|p99_ns\|dropped\)":[0-9.e+]*' <<<"$line" | tr '\n' ' '
        echo
      else
        echo "FAILED (see $log)"
        failures+=("$id $impl rep $rep: $(tail -n1 "$log" 2>/dev/null)")
      fi
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - started))
for p in iox-roudi diroute iox-perf uds-perf zcp-perf; do
  if pgrep -x "$p" >/dev/null; then echo "bench-compare: WARNING: a $p process is still running" >&2; fi
done
if [[ -e /dev/shm/iceoryx_mgmt ]]; then echo "bench-compare: WARNING: /dev/shm/iceoryx_mgmt is still there" >&2; fi

# ---- the table ---------------------------------------------------------------------------
header="zerocp vs iceoryx 2.0.3 vs Unix domain sockets: median of $reps rep(s), ${duration} s per throughput run"
md="$build/compare.md"
awk -v header="$header" -v machine="$machine" -v lb="$load_before" -v la="$load_after" -v commit="$commit" \
    -v elapsed="$elapsed" -v md="$md" -v zy="$zcp_poll_yield" -v zargs="${BENCH_ZCP_ARGS:-}" '
  function num(line, f,   m) {  # the number of field f in a flat JSON line, or ""
    if (!match(line, "\"" f "\":[-0-9.e+]+")) return ""
    m = substr(line, RSTART, RLENGTH); sub(/^[^:]*:/, "", m); return m + 0
  }
  function str(line, f,   m) {
    if (!match(line, "\"" f "\":\"[^\"]*\"")) return ""
    m = substr(line, RSTART, RLENGTH); sub(/^[^:]*:"/, "", m); sub(/"$/, "", m); return m
  }
  function median(key,   n, i, j, v, a) {
    n = cnt[key]; if (n == 0) return ""
    for (i = 1; i <= n; ++i) a[i] = val[key, i]
    for (i = 2; i <= n; ++i) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; --j) a[j + 1] = a[j]; a[j + 1] = v }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function fmt(v, lat) {
    if (v == "") return "n/a"
    if (lat) return sprintf("%.2f us", v / 1000)
    return v >= 1e6 ? sprintf("%.2f M/s", v / 1e6) : sprintf("%.0f k/s", v / 1e3)
  }
  function ratio(z, p, lat) {  # > 1: zerocp better
    if (z == "" || p == "" || z == 0 || p == 0) return "n/a"
    return sprintf("%.2fx", lat ? p / z : z / p)
  }
  {
    id = str($0, "compare"); impl = str($0, "impl")
    for (k = 1; k <= 3; ++k) {
      f = (k == 1) ? "msgs_per_s" : (k == 2) ? "p50_ns" : "p99_ns"
      v = num($0, f); if (v == "") continue
      key = id SUBSEP impl SUBSEP f; val[key, ++cnt[key]] = v
    }
    if (str($0, "policy") == "block_publisher" && (num($0, "dropped") > 0 || num($0, "lost") > 0))
      lossy[id SUBSEP impl] += num($0, "dropped") + num($0, "lost")
  }
  END {
    rows[1] = "tp1|msgs_per_s|lossless 1->1, 64 B, poll (msgs/s)"
    rows[2] = "tp1w|msgs_per_s|lossless 1->1, 64 B, wait (msgs/s)"
    rows[3] = "fan16|msgs_per_s|lossless 1->16, 64 B, wait (deliveries/s)"
    rows[4] = "blk8k|msgs_per_s|8 KiB --touch 1->1, poll (blocks/s)"
    rows[5] = "blk8kw|msgs_per_s|8 KiB --touch 1->1, wait (blocks/s)"
    rows[6] = "latw|p50_ns|latency wait 64 B, P50 one-way"
    rows[7] = "latw|p99_ns|latency wait 64 B, P99 one-way"
    rows[8] = "latp|p50_ns|latency poll 64 B, P50 one-way"
    # direct delivery: zerocp only; the peers columns repeat the routed row named last
    rows[9] = "tp1d|msgs_per_s|lossless 1->1, 64 B, poll, direct (msgs/s)|tp1"
    rows[10] = "latwd|p50_ns|latency wait 64 B, P50, direct|latw"
    rows[11] = "latwd|p99_ns|latency wait 64 B, P99, direct|latw"
    rows[12] = "latpd|p50_ns|latency poll 64 B, P50, direct|latp"
    nrows = 12
    printf "\n== %s ==\n", header
    printf "machine: %s; commit %s\n", machine, commit
    printf "load average %s before, %s after; %s s in all\n", lb, la, elapsed
    printf "ratios: > 1 means zerocp is better (throughput: zerocp/peer; latency: peer/zerocp)\n"
    printf "zerocp poll rows: --poll-yield %s (0: spin only); the peers spin only\n", zy
    printf "zerocp options: %s\n\n", (zargs == "" ? "defaults (private diroute)" : zargs)
    printf "%-44s %11s %11s %11s %10s %10s\n", "scenario", "zerocp", "iceoryx", "uds", "zcp/iox", "zcp/uds"
    print "| scenario | zerocp | iceoryx | uds | zerocp/iceoryx | zerocp/uds |" > md
    print "| --- | ---: | ---: | ---: | ---: | ---: |" > md
    for (r = 1; r <= nrows; ++r) {
      split(rows[r], p, "|"); lat = (p[2] != "msgs_per_s")
      z = median(p[1] SUBSEP "zerocp" SUBSEP p[2])
      peer = (p[4] != "") ? p[4] : p[1]
      i = median(peer SUBSEP "iceoryx" SUBSEP p[2])
      u = median(peer SUBSEP "uds" SUBSEP p[2])
      printf "%-44s %11s %11s %11s %10s %10s\n", p[3], fmt(z, lat), fmt(i, lat), fmt(u, lat),
             ratio(z, i, lat), ratio(z, u, lat)
      printf "| %s | %s | %s | %s | %s | %s |\n", p[3], fmt(z, lat), fmt(i, lat), fmt(u, lat),
             ratio(z, i, lat), ratio(z, u, lat) > md
    }
    for (k in lossy) {
      split(k, q, SUBSEP)
      printf "WARNING: %s %s lost %d deliveries in lossless runs\n", q[2], q[1], lossy[k]
    }
    printf "\n_%s. Ratios > 1: zerocp is better (throughput zerocp/peer, latency peer/zerocp). zerocp poll rows: --poll-yield %s; zerocp options: %s. Machine: %s; commit %s; load average %s before, %s after._\n", header, zy, (zargs == "" ? "defaults" : zargs), machine, commit, lb, la > md
  }
' "$out"
echo
echo "bench-compare: raw results in $out, Markdown table in $md, logs in $logs"
if ((${#failures[@]})); then
  echo "bench-compare: ${#failures[@]} run(s) failed:" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
