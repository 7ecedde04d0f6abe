#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a bounded time.
#
#   scripts/run-fuzz.sh BUILD_DIR SECONDS
#
# For each BUILD_DIR/bin/*_fuzz it generates the seed corpus with the matching
# *_fuzz_seeds program (if any) into BUILD_DIR/fuzz/seeds/NAME, keeps what the fuzzer
# learns in BUILD_DIR/fuzz/corpus/NAME (reused by the next run), and writes crash inputs
# to BUILD_DIR/fuzz/artifacts/NAME/. Exits non-zero if any target crashes, leaks, times
# out or finds undefined behaviour, or if there is no target at all.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build=$1
seconds=$2
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "run-fuzz: SECONDS must be a whole number" >&2; exit 2; }

shopt -s nullglob
targets=("$build"/bin/*_fuzz)
if ((${#targets[@]} == 0)); then
  echo "run-fuzz: no *_fuzz binaries in $build/bin (build the zcp_fuzz target first)" >&2
  exit 1
fi

# Sanitizer reports must stop the run (libFuzzer then exits non-zero and saves the input).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
for target in "${targets[@]}"; do
  name=$(basename "$target")
  seeds="$build/fuzz/seeds/$name"
  corpus="$build/fuzz/corpus/$name"
  artifacts="$build/fuzz/artifacts/$name"
  mkdir -p "$seeds" "$corpus" "$artifacts"
  if [[ -x "$build/bin/${name}_seeds" ]]; then
    "$build/bin/${name}_seeds" "$seeds"
  fi
  echo "run-fuzz: $name for ${seconds}s"
  # The first directory receives new inputs; the seeds stay as generated.
  if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "$seeds"; then
    echo "run-fuzz: $name FAILED; reproduce with: $target $artifacts/<crash file>" >&2
    failed+=("$name")
  fi
done

if ((${#failed[@]} > 0)); then
  echo "run-fuzz: failing targets: ${failed[*]}" >&2
  exit 1
fi
echo "run-fuzz: ${#targets[@]} target(s) ran ${seconds}s each without a finding"
