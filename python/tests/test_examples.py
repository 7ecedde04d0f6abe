"""The examples docs/python.md shows run as written, against a real diroute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(daemon, name: str) -> str:
    out = daemon.run(sys.executable, str(EXAMPLES / name), text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_ticks_example(daemon):
    out = run_example(daemon, "ticks.py")
    assert "sequence 3: 100 ticks, last price 12.99" in out
    assert "notional" in out


def test_async_reader_example(daemon):
    out = run_example(daemon, "async_reader.py")
    assert out.splitlines()[-1] == "event 4 sequence 5"


def test_broadcast_reader_example_with_the_cpp_publisher(daemon):
    reader = daemon.popen(sys.executable, str(EXAMPLES / "broadcast_reader.py"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout.readline().startswith("listening on md/broadcast/market_stream")
    pub = daemon.run(os.environ["ZCP_BROADCAST_EXAMPLE"], "publisher", "--count", "50",
                     "--interval-ms", "1")
    assert pub.returncode == 0, pub.stderr
    stdout, stderr = reader.communicate(timeout=60)
    assert reader.returncode == 0, stderr
    assert "150 ticks in 51 blocks, gaps 0" in stdout
