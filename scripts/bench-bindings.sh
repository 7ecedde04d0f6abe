#!/usr/bin/env bash
# The Python and Rust bindings against C++ in one run, on a private diroute
# (docs/performance.md, "Python and Rust"): a Python subscriber's take + release rate;
# one-way latency (wait and poll) from the same paced C++ publisher (zcp-oneway) to a C++, a
# Python and a Rust subscriber, in turn, REPS times; numpy summing 8 KiB blocks in place vs
# after a copy. Builds the Rust example with Debian's cargo (release). Not in `make test`.
#   scripts/bench-bindings.sh [BUILD_DIR]      (make bench-bindings)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
py=${ZCP_PYTHON:-/usr/bin/python3}
count=${ONEWAY_COUNT:-20000}
interval=${ONEWAY_INTERVAL_US:-100}
reps=${REPS:-3}
root=$(mktemp -d /tmp/zcp-benchpy-XXXXXX)
export ZCP_RUNTIME_DIR=$root ZCP_INSTANCE=benchpy$$ PYTHONPATH=$build/python
"$build/bin/diroute" --instance "$ZCP_INSTANCE" --log-level warn >"$root/diroute.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$root"' EXIT
for _ in $(seq 500); do [[ -S $root/$ZCP_INSTANCE.sock ]] && break; sleep 0.01; done
RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=$build/rust ZCP_BUILD_DIR=$build \
  /usr/bin/cargo build --offline --quiet --release --example oneway \
  --manifest-path bindings/rust/Cargo.toml
rust_oneway=$build/rust/release/examples/oneway

echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
"$py" python/bench/zcp_py_bench.py take-rate bench/python/take --count 160000
"$py" python/bench/zcp_py_bench.py numpy-sum bench/python/np --count 200000

# One subscriber at a time; it prints "ready" once subscribed, then the publisher starts.
oneway() {  # oneway LABEL SUBSCRIBER-COMMAND...
  local label=$1 mode=$2 topic=bench/oneway/$RANDOM out=$root/sub.out
  shift 2
  : >"$out"
  local flag=()
  [[ $mode == poll ]] && flag=(--poll)
  "$@" "$topic" --count "$count" "${flag[@]}" >"$out" &
  local sub=$!
  for _ in $(seq 1000); do grep -q ready "$out" && break; sleep 0.01; done
  "$build/bin/zcp-oneway" pub "$topic" --count "$count" --interval-us "$interval" --payload 64
  wait "$sub"
  echo "{\"scenario\": \"one-way $mode 64 B, $label\", \"result\": $(tail -1 "$out")}"
}
for _ in $(seq "$reps"); do
  for mode in wait poll; do
    oneway "C++ -> C++" $mode "$build/bin/zcp-oneway" sub
    oneway "C++ -> Python" $mode "$py" python/bench/zcp_py_bench.py oneway-sub
    oneway "C++ -> Rust" $mode "$rust_oneway"
  done
done
