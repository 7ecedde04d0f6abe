#!/usr/bin/env bash
# `pip install ./python` as docs/python.md shows it: offline, without build isolation, into a
# fresh venv that sees Debian's numpy; then the installed package is imported from outside
# the tree. The source is copied first, so the checkout stays clean. Usage:
#   pip_install.sh PYTHON SOURCE_DIR BUILD_DIR
set -euo pipefail
python=$1 src=$2 build=$3
work=$(mktemp -d /tmp/zcp-pip-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$src/python" "$work/python"
cp -r "$src/include" "$work/include"
"$python" -m venv --system-site-packages "$work/venv"
ZCP_BUILD_DIR="$build" "$work/venv/bin/pip" install -q --no-build-isolation --no-index \
  --no-cache-dir "$work/python"
cd "$work"
"$work/venv/bin/python" - <<'PY'
import zerocp, zerocp.ipc
assert zerocp.__file__.startswith(__import__("sys").prefix), zerocp.__file__
assert zerocp.ABI_VERSION == 1
assert issubclass(zerocp.TooLarge, zerocp.Error)
print("installed", zerocp.__version__, "at", zerocp.__file__)
PY
