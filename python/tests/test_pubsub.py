"""zerocp's Python API against a real diroute: every call, misuse, zero copy, the GIL,
asyncio, and a killed Python subscriber."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import zerocp
from conftest import wait_until


def test_connect_names_the_instance_and_closes(daemon):
    with zerocp.Runtime.connect(name="py-connect") as rt:
        assert rt.name == "py-connect"
        assert rt.instance == daemon.instance
        assert rt.connected
        assert not rt.closed
    assert rt.closed
    with pytest.raises(zerocp.ClosedError):
        rt.publisher("a/b/c")


def test_no_daemon_raises_daemon_unavailable(daemon):
    with pytest.raises(zerocp.DaemonUnavailable) as e:
        zerocp.Runtime.connect(instance="no-such-instance-py", reconnect=False)
    assert "no-such-instance-py" in str(e.value)
    assert isinstance(e.value, zerocp.Error) and isinstance(e.value, ConnectionError)


def test_loan_publish_take_in_place(rt):
    sub = rt.subscriber("py/test/ticks", queue_capacity=64)
    pub = rt.publisher("py/test/ticks", max_payload=256, history=0)
    assert pub.max_payload >= 256

    loan = pub.loan(16)
    assert len(loan) == 16 and loan.capacity >= 256
    view = np.frombuffer(loan, dtype=np.uint32)
    view[:] = np.arange(4, dtype=np.uint32)
    loan_address = view.ctypes.data
    with pytest.raises(BufferError):  # a live view: publishing would let it write on
        pub.publish(loan)
    del view
    pub.publish(loan)
    assert not loan.valid
    with pytest.raises(zerocp.InvalidHandle):
        pub.publish(loan)
    with pytest.raises(zerocp.ClosedError):
        memoryview(loan)

    s = sub.receive(timeout=5)
    assert s is not None
    assert (s.sequence, s.publisher_id, len(s)) == (1, pub.id, 16)
    assert s.timestamp_ns > 0
    got = np.frombuffer(s, dtype=np.uint32)
    assert got.tolist() == [0, 1, 2, 3]
    assert got.ctypes.data == loan_address  # the chunk the publisher wrote: no copy
    assert not got.flags.writeable
    with pytest.raises(ValueError):
        got[0] = 7
    assert sub.held == 1
    del got
    s.release()
    assert s.released and sub.held == 0
    assert s.sequence == 1  # the header stays readable

    pub.publish_copy(b"hello")
    pub.publish_copy(memoryview(b"xxworld")[2:])
    with sub.take() as a, sub.receive(timeout=5) as b:
        assert bytes(a) == b"hello" and bytes(b) == b"world"
        assert b.sequence == a.sequence + 1
    assert sub.held == 0
    assert sub.take() is None
    pub.flush(timeout=5)
    assert pub.published == 3


def test_sizes_and_limits_raise_typed_errors(rt):
    pub = rt.publisher("py/test/sizes", max_payload=64, max_loans=2)
    cap = pub.max_payload
    with pytest.raises(zerocp.TooLarge):
        pub.loan(cap + 1)
    with pytest.raises(ValueError):  # TooLarge is a ValueError too
        pub.publish_copy(b"x" * (cap + 1))
    a = pub.loan(8)
    b = pub.loan(8)
    with pytest.raises(zerocp.TooManyLoans):
        pub.loan(8)
    with pytest.raises(zerocp.TooLarge):
        a.size = a.capacity + 1
    a.drop()
    with b:
        pass  # leaving the block drops an unpublished loan
    assert not b.valid
    assert pub.loans_outstanding == 0
    with pytest.raises(zerocp.InvalidArgument):
        rt.subscriber("py/test/sizes", policy="newest_wins")
    with pytest.raises(zerocp.InvalidArgument):
        rt.publisher("not-a-topic")


def test_loan_of_another_publisher_is_refused(rt):
    p = rt.publisher("py/test/a")
    q = rt.publisher("py/test/b")
    loan = p.loan(4)
    with pytest.raises(zerocp.InvalidHandle):
        q.publish(loan)
    assert loan.valid
    loan.drop()


def test_max_held_and_views_keep_the_chunk(rt):
    sub = rt.subscriber("py/test/held", max_held=2, policy="block_publisher")
    pub = rt.publisher("py/test/held")
    for i in range(3):
        pub.publish_copy(bytes([i]) * 8)
    a = sub.receive(timeout=5)
    b = sub.receive(timeout=5)
    with pytest.raises(zerocp.TooManyHeld):
        sub.take()
    # release() with a view alive: the view keeps reading the chunk until it goes.
    arr = np.frombuffer(a, dtype=np.uint8)[2:6]  # a slice of a view still holds it
    a.release()
    assert a.released and sub.held == 2
    with pytest.raises(zerocp.ClosedError):
        memoryview(a)
    assert arr.tolist() == [0, 0, 0, 0]
    del arr
    gc.collect()
    assert sub.held == 1
    del b
    c = sub.receive(timeout=5)
    assert bytes(c) == bytes([2]) * 8
    c.release()


def test_closing_keeps_held_samples_readable(daemon):
    rt = zerocp.Runtime.connect(name="py-close")
    sub = rt.subscriber("py/test/close")
    pub = rt.publisher("py/test/close")
    pub.publish_copy(b"kept")
    s = sub.receive(timeout=5)
    view = memoryview(s)
    rt.close()  # detaches the runtime, the publisher and the subscriber
    assert sub.closed and pub.closed
    with pytest.raises(zerocp.ClosedError):
        sub.take()
    with pytest.raises(zerocp.ClosedError):
        pub.publish_copy(b"x")
    assert bytes(view) == b"kept"  # the mapping lives while a view does
    del view, s


def test_iteration_and_fileno(rt):
    sub = rt.subscriber("py/test/iter", policy="block_publisher")
    pub = rt.publisher("py/test/iter")
    assert isinstance(sub.fileno(), int) and sub.fileno() >= 0
    for i in range(5):
        pub.publish_copy(str(i).encode())
    got = []
    for s in sub:
        got.append(bytes(s))
        s.release()
        if len(got) == 5:
            break
    assert got == [b"0", b"1", b"2", b"3", b"4"]
    assert sub.receive(timeout=0) is None


def test_receive_releases_the_gil(rt):
    """A thread blocked in receive() lets the main thread run Python: the main thread sees the
    receiver inside its ppoll system call (not in a futex, where it would wait for the GIL)
    and publishes the message that ends the wait."""
    sub = rt.subscriber("py/test/gil")
    pub = rt.publisher("py/test/gil")
    result = {}
    started = threading.Event()

    def receiver():
        started.set()
        result["sample"] = sub.receive(timeout=30)

    t = threading.Thread(target=receiver)
    t.start()
    started.wait()

    def in_ppoll() -> bool:
        try:
            with open(f"/proc/self/task/{t.native_id}/syscall") as f:
                return f.read().split()[0] == "271"  # ppoll on x86-64
        except (OSError, IndexError):
            return False

    assert wait_until(in_ppoll, timeout=20), "the receiver never slept in ppoll"
    assert t.is_alive()
    with pytest.raises(zerocp.Error):  # used by one thread at a time
        sub.take()
    pub.publish_copy(b"wake")
    t.join(30)
    assert bytes(result["sample"]) == b"wake"
    result["sample"].release()


def test_asyncio_areceive_and_async_for(rt):
    sub = rt.subscriber("py/test/async", policy="block_publisher")
    pub = rt.publisher("py/test/async")

    async def main():
        loop = asyncio.get_running_loop()
        # Publish from the loop after the receiver started waiting on the eventfd.
        loop.call_later(0.05, pub.publish_copy, b"one")
        first = await asyncio.wait_for(sub.areceive(), 10)
        data = bytes(first)
        first.release()
        for i in range(3):
            pub.publish_copy(b"n%d" % i)
        rest = []
        async for s in sub:
            rest.append(bytes(s))
            s.release()
            if len(rest) == 3:
                break
        return data, rest

    data, rest = asyncio.run(main())
    assert data == b"one"
    assert rest == [b"n0", b"n1", b"n2"]


def test_cpp_publisher_to_python_and_back(daemon, rt):
    cli = os.environ["ZCP_CLI"]
    sub = rt.subscriber("py/cross/in", policy="block_publisher")
    out = daemon.run(cli, "pub", "py/cross/in", input=b"alpha\nbeta\ngamma\n")
    assert out.returncode == 0, out.stderr
    got = [bytes(sub.receive(timeout=10)) for _ in range(3)]
    assert got == [b"alpha", b"beta", b"gamma"]

    echo = daemon.popen(cli, "echo", "py/cross/out", "--count", "3", "--policy", "block_publisher",
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pub = rt.publisher("py/cross/out")
    assert wait_until(lambda: pub.subscriber_count == 1 or echo.poll() is not None)
    for word in (b"one", b"two", b"three"):
        pub.publish_copy(word)
    stdout, stderr = echo.communicate(timeout=30)
    assert echo.returncode == 0, stderr
    assert stdout.decode().split() == ["one", "two", "three"]


def test_zero_copy_the_array_lies_in_the_segment(daemon, rt):
    """numpy's data pointer lies inside the daemon's segment mapping, and is the very chunk the
    publisher loaned: the subscriber reads the publisher's write, not a copy of it."""
    sub = rt.subscriber("py/test/zc")
    pub = rt.publisher("py/test/zc", max_payload=8192)
    loan = pub.loan(8192)
    np.frombuffer(loan, dtype=np.float64)[:] = np.arange(1024, dtype=np.float64)
    pub.publish(loan)
    s = sub.receive(timeout=5)
    arr = np.frombuffer(s, dtype=np.float64)
    assert arr.sum() == sum(range(1024))
    seg = f"/dev/shm/zcp.{daemon.instance}.seg"
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith(seg):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                ranges.append((lo, hi))
    assert ranges, f"{seg} is not mapped"
    addr = arr.ctypes.data
    assert any(lo <= addr and addr + arr.nbytes <= hi for lo, hi in ranges)
    del arr
    s.release()


def test_killed_python_subscriber_leaks_no_chunk(daemon, rt):
    child = r'''
import sys, zerocp
rt = zerocp.Runtime.connect(name="victim")
sub = rt.subscriber("py/test/kill", policy="block_publisher", max_held=8)
print("ready", flush=True)
held = []
while len(held) < 8:
    s = sub.receive(timeout=10)
    if s is None: sys.exit(3)
    held.append(s)
print("holding", flush=True)
sys.stdin.read()
'''
    proc = daemon.popen(sys.executable, "-c", child, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready", proc.stderr.read()
    pub = rt.publisher("py/test/kill")
    assert wait_until(lambda: pub.subscriber_count == 1)
    for i in range(12):  # 8 held, 4 queued
        pub.publish_copy(b"%d" % i)
    assert proc.stdout.readline().strip() == b"holding"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    pub.close()
    gc.collect()
    # The daemon reclaims what the dead process held and what was queued for it.
    assert wait_until(daemon.pools_settled, timeout=20), daemon.pools()


def test_daemon_restart_under_a_held_sample(daemon):
    """diroute stops and a new one starts on the instance while Python holds a sample and a
    view of it: nothing crashes, the old view stays readable, and the runtime carries on with
    the new daemon (publisher and subscriber re-create themselves)."""
    rt = zerocp.Runtime.connect(name="py-restart")
    sub = rt.subscriber("py/test/restart", policy="block_publisher")
    pub = rt.publisher("py/test/restart")
    pub.publish_copy(b"before")
    held = sub.receive(timeout=5)
    view = memoryview(held)

    daemon.stop()
    assert wait_until(lambda: not rt.connected)
    assert sub.take() is None  # no daemon: nothing, not an exception
    assert bytes(view) == b"before"
    daemon.start()
    assert wait_until(lambda: rt.connected, timeout=20), daemon.log()
    # The subscriber re-creates itself on the new daemon at its next call.
    assert wait_until(lambda: sub.take() is None and sub.connected and sub.rebinds == 1)

    def delivered() -> bool:
        try:
            pub.publish_copy(b"after")
        except (zerocp.Disconnected, zerocp.WouldBlock):
            return False
        return True

    assert wait_until(delivered, timeout=20)
    s = sub.receive(timeout=10)
    assert s is not None and bytes(s) == b"after"
    assert rt.reconnects == 1
    del view, held, s
    rt.close()
