#!/usr/bin/env bash
# Fan-out at scale: one publisher, N subscriber processes in wait mode, drop_oldest (latest
# wins, as market data is consumed), 64 B messages; zerocp for N = 1, 16, 64, 256, 1000 and
# iceoryx 2.0.3 side by side up to its limit (200 here: RouDi's default allows 256 ports of a
# kind per process group and the benchmark needs a few of its own). Reports total deliveries/s,
# the slowest subscriber's rate, the publisher's rate, and zerocp's publish-to-take latency
# (P50/P99, from the publish timestamp in every sample). docs/performance.md, "Fan-out at scale".
#
#   scripts/bench-scale.sh [BUILD_DIR]        (default build-bench; `make bench-scale`)
#
# Uses the binaries of `make bench-compare` (builds them unless BENCH_NO_BUILD=1). Writes
# BUILD_DIR/scale.jsonl (one zcp-perf/iox-perf JSON object per run, plus "impl"),
# BUILD_DIR/scale.md (the table) and docs/perf/fanout-scale.svg (the plot, with gnuplot, which it
# installs if missing, as root).
#
# Environment: SCALE_NS="1 16 64 256 1000", SCALE_IOX_NS="1 16 64 200", SCALE_DURATION=3,
# SCALE_IMPLS="zerocp iceoryx".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-bench}
[[ "$build" = /* ]] || build="$root/$build"
ns=(${SCALE_NS:-1 16 64 256 1000})
iox_ns=(${SCALE_IOX_NS:-1 16 64 200})
duration=${SCALE_DURATION:-3}
impls=(${SCALE_IMPLS:-zerocp iceoryx})

if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
  BENCH_BUILD_ONLY=1 "$root/scripts/bench-compare.sh" "$build" >/dev/null
fi
if ! command -v gnuplot >/dev/null && [[ $(id -u) -eq 0 ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1; } || true
fi
# A thousand subscriber processes each hold a few descriptors of the benchmark's own.
ulimit -n 65536 2>/dev/null || true

out="$build/scale.jsonl"
logs="$build/scale-logs"
mkdir -p "$logs"
: >"$out"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
machine="$(nproc) vCPU, ${cpu_model:-unknown CPU}, Linux $(uname -r), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]] || commit="$commit+local changes"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench-scale: $machine; commit $commit; load $load_before; ${duration} s per run"

run() {  # impl n binary args...
  local impl=$1 n=$2 binary=$3
  shift 3
  printf '  %-8s %5d subscribers ' "$impl" "$n"
  local log="$logs/$impl.$n.log" line
  if line=$(timeout 600 "$binary" "$@" --json 2>"$log") && [[ "$line" == "{"* ]]; then
    line=$(tail -n1 <<<"$line")
    echo "{\"impl\":\"$impl\",${line#\{}" >>"$out"
    grep -o '"\(msgs_per_s\|min_sub_msgs_per_s\|publish_msgs_per_s\|latency_p50_ns\|latency_p99_ns\)":[0-9.e+]*' <<<"$line" | tr '\n' ' '
    echo
  else
    echo "FAILED (see $log)"
  fi
}
for impl in "${impls[@]}"; do
  if [[ "$impl" == zerocp ]]; then
    for n in "${ns[@]}"; do
      run zerocp "$n" "$build/bin/zcp-perf" throughput --payload 64 --subscribers "$n" --mode wait \
        --policy drop_oldest --duration "$duration" --runs 1 --latency
    done
  elif [[ -x "$build/peers/bin/iox-perf" ]]; then
    for n in "${iox_ns[@]}"; do
      run iceoryx "$n" "$build/peers/bin/iox-perf" throughput --payload 64 --subscribers "$n" --mode wait \
        --policy drop_oldest --duration "$duration" --runs 1
    done
  fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- table and plot ------------------------------------------------------------------------
md="$build/scale.md"
awk -v machine="$machine" -v commit="$commit" -v lb="$load_before" -v la="$load_after" -v md="$md" \
    -v dat="$build/scale.dat" '
  function num(line, f,   m) {
    if (!match(line, "\"" f "\":[-0-9.e+]+")) return ""
    m = substr(line, RSTART, RLENGTH); sub(/^[^:]*:/, "", m); return m + 0
  }
  function str(line, f,   m) {
    if (!match(line, "\"" f "\":\"[^\"]*\"")) return ""
    m = substr(line, RSTART, RLENGTH); sub(/^[^:]*:"/, "", m); sub(/"$/, "", m); return m
  }
  function rate(v) { return v == "" ? "-" : v >= 1e6 ? sprintf("%.2f M/s", v / 1e6) : sprintf("%.1f k/s", v / 1e3) }
  function us(v) { return v == "" || v == 0 ? "-" : sprintf("%.1f us", v / 1000) }
  {
    n = num($0, "subscribers"); impl = str($0, "impl")
    ns[n] = 1
    d[impl, n] = num($0, "msgs_per_s"); lo[impl, n] = num($0, "min_sub_msgs_per_s")
    pub[impl, n] = num($0, "publish_msgs_per_s"); p50[impl, n] = num($0, "latency_p50_ns")
    p99[impl, n] = num($0, "latency_p99_ns")
  }
  END {
    k = 0; for (n in ns) order[++k] = n + 0
    for (i = 2; i <= k; ++i) { v = order[i]; for (j = i - 1; j >= 1 && order[j] > v; --j) order[j + 1] = order[j]; order[j + 1] = v }
    print "| subscribers | zerocp deliveries/s | slowest subscriber | publisher msgs/s | publish-to-take P50 | P99 | iceoryx deliveries/s | slowest | publisher |" > md
    print "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" > md
    for (i = 1; i <= k; ++i) {
      n = order[i]
      printf "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, rate(d["zerocp", n]), rate(lo["zerocp", n]),
             rate(pub["zerocp", n]), us(p50["zerocp", n]), us(p99["zerocp", n]), rate(d["iceoryx", n]),
             rate(lo["iceoryx", n]), rate(pub["iceoryx", n]) > md
      printf "%d %s %s\n", n, (d["zerocp", n] == "" ? "NaN" : d["zerocp", n]), (d["iceoryx", n] == "" ? "NaN" : d["iceoryx", n]) > dat
    }
    printf "\n_One publisher, N subscriber processes in wait mode, drop_oldest, 64 B, `make bench-scale`. Machine: %s; commit %s; load average %s before, %s after._\n", machine, commit, lb, la > md
  }
' "$out"
cat "$md"
if command -v gnuplot >/dev/null; then
  mkdir -p "$root/docs/perf"
  gnuplot <<EOF
set terminal svg size 720,420 dynamic font "sans,12"
set output "$root/docs/perf/fanout-scale.svg"
set title "Fan-out: deliveries/s by subscriber processes (wait mode, drop_oldest, 64 B)"
set xlabel "subscriber processes"
set ylabel "deliveries per second"
set logscale x
set logscale y
set format y "%.0s%c"
set key top left
set grid
plot "$build/scale.dat" using 1:2 with linespoints lw 2 title "zerocp", \
     "$build/scale.dat" using 1:3 with linespoints lw 2 title "iceoryx 2.0.3"
EOF
  echo "bench-scale: plot in docs/perf/fanout-scale.svg"
else
  echo "bench-scale: gnuplot not found; no plot" >&2
fi
echo "bench-scale: raw results in $out, table in $md"
