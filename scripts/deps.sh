#!/usr/bin/env bash
# Installs the Debian packages zerocp builds, tests and benchmarks with.
# Does nothing (and needs no network) when every package is already present.
set -euo pipefail

PACKAGES=(
  build-essential cmake make pkg-config g++ clang libclang-rt-14-dev clang-format-14
  liburing-dev libasio-dev flatbuffers-compiler libflatbuffers-dev
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libncurses-dev
  tmux procps
  python3-dev pybind11-dev python3-pybind11 python3-numpy python3-pytest python3-venv
  cargo rustc
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps: installing missing Debian packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
