"""Fixtures: a real diroute on a private instance and runtime directory per test, and a
check after each test that every chunk went back to the pools (read with zcp-top --json).

ctest sets ZCP_DIROUTE, ZCP_CLI, ZCP_TOP and ZCP_BROADCAST_EXAMPLE to the built binaries and
PYTHONPATH to build/python (python/CMakeLists.txt); run by hand with the same variables."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def _binary(var: str) -> str:
    path = os.environ.get(var)
    if not path:
        pytest.skip(f"{var} is not set (ctest sets it)")
    return path


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.005) -> bool:
    """Polls predicate until it is true (True) or timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class Daemon:
    def __init__(self, root: Path, instance: str):
        self.root = root
        self.instance = instance
        self.runtime_dir = root / "run"
        self.runtime_dir.mkdir()
        self.log_path = root / "diroute.log"
        self.env = dict(os.environ, ZCP_RUNTIME_DIR=str(self.runtime_dir), ZCP_INSTANCE=instance)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([_binary("ZCP_DIROUTE"), "--instance", self.instance],
                                     env=self.env, stdout=log, stderr=log)
        sock = self.runtime_dir / f"{self.instance}.sock"
        ok = wait_until(lambda: self.proc.poll() is not None
                        or ("diroute ready" in self.log() and sock.exists()))
        assert ok and self.proc.poll() is None, f"diroute did not start:\n{self.log()}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def pools(self) -> list[dict]:
        out = subprocess.run([_binary("ZCP_TOP"), "--once", "--json", "--interval", "0"],
                             env=self.env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["pools"]

    def pools_settled(self) -> bool:
        return all(p["free"] == p["total"] for p in self.pools())

    def run(self, *args, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env, capture_output=True, timeout=60, **kw)

    def popen(self, *args, **kw) -> subprocess.Popen:
        return subprocess.Popen(list(args), env=self.env, **kw)


@pytest.fixture
def daemon(monkeypatch):
    root = Path(tempfile.mkdtemp(prefix="zcp-py-"))
    instance = f"py{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
    d = Daemon(root, instance)
    monkeypatch.setenv("ZCP_RUNTIME_DIR", str(d.runtime_dir))
    monkeypatch.setenv("ZCP_INSTANCE", instance)
    d.start()
    try:
        yield d
        # Every chunk is back once the test's objects are gone.
        import gc
        gc.collect()
        assert wait_until(d.pools_settled), f"chunks leaked: {d.pools()}"
    finally:
        d.stop()
        seg = Path(f"/dev/shm/zcp.{instance}.seg")
        if seg.exists():
            seg.unlink()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def rt(daemon):
    import zerocp
    runtime = zerocp.Runtime.connect(name="pytest")
    yield runtime
    runtime.close()
