#!/usr/bin/env bash
# zerocp side by side with iceoryx 2.0.3, Unix domain sockets and the hardware's one-way floor,
# in one run on this host (docs/performance.md, "Side by side").
#
#   scripts/bench-compare.sh [BUILD_DIR]        (default build-bench; `make bench-compare`)
#
# Installs the iceoryx Debian packages if missing (as root), builds zcp-perf (with diroute)
# and the peers (bench/peers: iox-perf, uds-perf, floor-perf) in Release, then runs every
# scenario with each implementation back to back, BENCH_REPS times, and prints one table of
# medians. Every implementation runs with its default settings. On a host with 8 or more CPUs
# every process (and diroute's router worker) is pinned to a CPU of its own, the same CPUs for
# every implementation; on a smaller host nothing is pinned.
#
# Environment:
#   BENCH_REPS=3        repetitions; the table shows the median of each
#   BENCH_DURATION=3    seconds per throughput run
#   BENCH_QUICK=1       smoke run: 1 repetition, 0.5 s, short latency runs
#   BENCH_IMPLS="zerocp iceoryx uds floor"   which implementations to run
#   BENCH_NO_BUILD=1    use the binaries already in BUILD_DIR
#   BENCH_BUILD_ONLY=1  build (and install iceoryx), run nothing
#   BENCH_ZCP_ARGS=""   more zcp-perf options for every zerocp run (e.g. "--idle spin")
#   BENCH_PIN=auto      auto (pin with 8+ CPUs), 1 (always), 0 (never)
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
impls=(${BENCH_IMPLS:-zerocp iceoryx uds floor})

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
[[ "${BENCH_BUILD_ONLY:-0}" == 1 ]] && exit 0
declare -A bin=([zerocp]="$build/bin/zcp-perf" [iceoryx]="$build/peers/bin/iox-perf" [uds]="$build/peers/bin/uds-perf"
                [floor]="$build/peers/bin/floor-perf")

# ---- pinning ------------------------------------------------------------------------------
# With 8+ CPUs: CPU 0 is left to the system, the router worker gets CPU 1, the latency ping and
# pong CPUs 2 and 3, the throughput publisher CPU 2 and its subscribers CPUs 3.. (round-robin).
ncpu=$(nproc)
pin=${BENCH_PIN:-auto}
[[ "$pin" == auto ]] && { ((ncpu >= 8)) && pin=1 || pin=0; }
lat_pins=""
tp_pins=""
zcp_pins=""
pinning="none ($ncpu CPUs: every process is left to the scheduler)"
if [[ "$pin" == 1 ]]; then
  subs_cpus=$(seq -s, 3 $((ncpu - 1)))
  lat_pins="--cpu-ping 2 --cpu-pong 3"
  tp_pins="--cpu-pub 2 --cpu-subs $subs_cpus"
  zcp_pins="--router-cpu 1"
  pinning="router worker CPU 1; latency ping CPU 2, pong CPU 3; throughput publisher CPU 2, subscribers CPUs $subs_cpus round-robin (every implementation alike)"
fi

# ---- scenarios (the same options for every binary) ----------------------------------------
# Every implementation with its defaults: the peers spin only in poll mode, and so does zerocp.
# id | metric fields | extra zcp-perf options | the benchmark's arguments
scenarios=(
  "tp1|msgs_per_s||throughput --payload 64 --subscribers 1 --mode poll --policy block_publisher --duration $duration --runs 1 $tp_pins"
  "tp1w|msgs_per_s||throughput --payload 64 --subscribers 1 --mode wait --policy block_publisher --duration $duration --runs 1 $tp_pins"
  "fan16|msgs_per_s||throughput --payload 64 --subscribers 16 --mode wait --policy block_publisher --duration $duration --runs 1 $tp_pins"
  "blk8k|msgs_per_s||throughput --payload 8192 --touch --subscribers 1 --mode poll --policy block_publisher --duration $duration --runs 1 $tp_pins"
  "blk8kw|msgs_per_s||throughput --payload 8192 --touch --subscribers 1 --mode wait --policy block_publisher --duration $duration --runs 1 $tp_pins"
  "latw|p50_ns p99_ns||latency --payload 64 --mode wait --count $lat_wait_count --warmup $lat_warmup --timeout 120 $lat_pins"
  "latp|p50_ns p99_ns||latency --payload 64 --mode poll --count $lat_poll_count --warmup $lat_warmup --timeout 120 $lat_pins"
  # zerocp only, with routed delivery (every message through the router worker, as before
  # direct delivery became the default): what taking the router off the critical path bought.
  "latwr|p50_ns p99_ns|--delivery routed|latency --payload 64 --mode wait --count $lat_wait_count --warmup $lat_warmup --timeout 120 $lat_pins"
  "latpr|p50_ns p99_ns|--delivery routed|latency --payload 64 --mode poll --count $lat_poll_count --warmup $lat_warmup --timeout 120 $lat_pins"
)
zerocp_only=" latwr latpr "
floor_only=" latp "

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
echo "bench-compare: pinning: $pinning"

failures=()
for ((rep = 1; rep <= reps; ++rep)); do
  for s in "${scenarios[@]}"; do
    IFS='|' read -r id _ zextra args <<<"$s"
    for impl in "${impls[@]}"; do
      [[ "$impl" != zerocp && "$zerocp_only" == *" $id "* ]] && continue
      [[ "$impl" == floor && "$floor_only" != *" $id "* ]] && continue
      log="$logs/$id.$impl.$rep.log"
      if [[ ! -x "${bin[$impl]}" ]]; then
        failures+=("$id $impl rep $rep: ${bin[$impl]} not built")
        continue
      fi
      printf '  rep %d %-6s %-8s ' "$rep" "$id" "$impl"
      extra=""
      [[ "$impl" == zerocp ]] && extra="$zextra $zcp_pins ${BENCH_ZCP_ARGS:-}"
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
for p in iox-roudi diroute iox-perf uds-perf floor-perf zcp-perf; do
  if pgrep -x "$p" >/dev/null; then echo "bench-compare: WARNING: a $p process is still running" >&2; fi
done
if [[ -e /dev/shm/iceoryx_mgmt ]]; then echo "bench-compare: WARNING: /dev/shm/iceoryx_mgmt is still there" >&2; fi

# ---- the table ---------------------------------------------------------------------------
header="zerocp vs iceoryx 2.0.3 vs Unix domain sockets vs the one-way floor: median of $reps rep(s), ${duration} s per throughput run"
md="$build/compare.md"
awk -v header="$header" -v machine="$machine" -v lb="$load_before" -v la="$load_after" -v commit="$commit" \
    -v elapsed="$elapsed" -v md="$md" -v pinning="$pinning" -v zargs="${BENCH_ZCP_ARGS:-}" '
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
    if (v == "") return "-"
    if (lat) return sprintf("%.2f us", v / 1000)
    return v >= 1e6 ? sprintf("%.2f M/s", v / 1e6) : sprintf("%.0f k/s", v / 1e3)
  }
  function ratio(z, p, lat) {  # > 1: zerocp better
    if (z == "" || p == "" || z == 0 || p == 0) return "-"
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
    rows[9] = "latp|p99_ns|latency poll 64 B, P99 one-way"
    # routed delivery: zerocp only; the peers columns repeat the row named last
    rows[10] = "latwr|p50_ns|latency wait 64 B, P50, routed|latw"
    rows[11] = "latwr|p99_ns|latency wait 64 B, P99, routed|latw"
    rows[12] = "latpr|p50_ns|latency poll 64 B, P50, routed|latp"
    rows[13] = "latpr|p99_ns|latency poll 64 B, P99, routed|latp"
    nrows = 13
    printf "\n== %s ==\n", header
    printf "machine: %s; commit %s\n", machine, commit
    printf "load average %s before, %s after; %s s in all\n", lb, la, elapsed
    printf "pinning: %s\n", pinning
    printf "ratios: > 1 means zerocp is better (throughput: zerocp/peer; latency: peer/zerocp); zcp/floor: zerocp latency / floor\n"
    printf "every implementation with its defaults (poll mode spins); zerocp options: %s\n\n", (zargs == "" ? "none (private diroute)" : zargs)
    printf "%-40s %10s %10s %10s %10s %9s %9s %9s\n", "scenario", "zerocp", "iceoryx", "uds", "floor", "zcp/iox", "zcp/uds", "zcp/floor"
    print "| scenario | zerocp | iceoryx | uds | floor | zerocp/iceoryx | zerocp/uds | zerocp/floor |" > md
    print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" > md
    for (r = 1; r <= nrows; ++r) {
      split(rows[r], p, "|"); lat = (p[2] != "msgs_per_s")
      z = median(p[1] SUBSEP "zerocp" SUBSEP p[2])
      peer = (p[4] != "") ? p[4] : p[1]
      i = median(peer SUBSEP "iceoryx" SUBSEP p[2])
      u = median(peer SUBSEP "uds" SUBSEP p[2])
      f = median(peer SUBSEP "floor" SUBSEP p[2])
      zf = (z != "" && f != "" && f > 0) ? sprintf("%.2fx", z / f) : "-"
      printf "%-40s %10s %10s %10s %10s %9s %9s %9s\n", p[3], fmt(z, lat), fmt(i, lat), fmt(u, lat), fmt(f, lat),
             ratio(z, i, lat), ratio(z, u, lat), zf
      printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", p[3], fmt(z, lat), fmt(i, lat), fmt(u, lat), fmt(f, lat),
             ratio(z, i, lat), ratio(z, u, lat), zf > md
    }
    for (k in lossy) {
      split(k, q, SUBSEP)
      printf "WARNING: %s %s lost %d deliveries in lossless runs\n", q[2], q[1], lossy[k]
    }
    printf "\n_%s. Ratios > 1: zerocp is better (throughput zerocp/peer, latency peer/zerocp); zerocp/floor is zerocp latency over the floor. Every implementation with its defaults; zerocp options: %s. Pinning: %s. Machine: %s; commit %s; load average %s before, %s after._\n", header, (zargs == "" ? "none" : zargs), pinning, machine, commit, lb, la > md
  }
' "$out"
echo
echo "bench-compare: raw results in $out, Markdown table in $md, logs in $logs"
if ((${#failures[@]})); then
  echo "bench-compare: ${#failures[@]} run(s) failed:" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
