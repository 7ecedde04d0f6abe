"""zerocp: zero-copy shared-memory publish/subscribe, from Python.

    import zerocp, numpy as np

    with zerocp.Runtime.connect(name="research") as rt:
        sub = rt.subscriber("md/feed/ticks")
        for sample in sub:                       # blocks, releasing the GIL
            ticks = np.frombuffer(sample, dtype=TICK)   # the shared memory itself, no copy
            ...

A ``Sample`` lends its chunk through the buffer protocol, read-only: ``memoryview(s)``,
``bytes(s)`` (a copy) and ``numpy.frombuffer(s, dtype)`` (no copy). The chunk goes back when
the sample and every view made from it are gone, or at ``s.release()`` / the end of
``with s:`` once no view remains. A ``Loan`` from ``Publisher.loan(n)`` is a writable buffer
over a chunk: fill it, then ``pub.publish(loan)``.

Every error is a ``zerocp.Error`` subclass carrying the library's message. ``zerocp.ipc``
holds the market-data broadcast API (seed 004). docs/python.md has the whole guide.
"""

from __future__ import annotations

import asyncio as _asyncio

from ._zerocp import (  # noqa: F401  (re-exported)
    ABI_VERSION,
    LIBRARY_VERSION,
    ClosedError,
    DaemonUnavailable,
    Disconnected,
    Error,
    InvalidArgument,
    InvalidHandle,
    Loan,
    OutOfMemory,
    PoolExhausted,
    ProtocolError,
    Publisher,
    Rejected,
    Runtime,
    Sample,
    Subscriber,
    SystemCallError,
    Timeout,
    TooLarge,
    TooManyHeld,
    TooManyLoans,
    VersionMismatch,
    WouldBlock,
)

__version__ = LIBRARY_VERSION

__all__ = [
    "Runtime", "Publisher", "Subscriber", "Loan", "Sample",
    "Error", "ClosedError", "InvalidArgument", "DaemonUnavailable", "VersionMismatch",
    "Rejected", "Disconnected", "Timeout", "ProtocolError", "SystemCallError",
    "PoolExhausted", "WouldBlock", "TooLarge", "TooManyLoans", "TooManyHeld",
    "InvalidHandle", "OutOfMemory", "ipc",
]


# ---- Context managers and iteration, added to the native classes ---------------------------

def _enter(self):
    return self


def _exit_close(self, *exc):
    self.close()
    return False


def _exit_release(self, *exc):
    self.release()
    return False


def _exit_drop(self, *exc):
    if self.valid:
        self.drop()
    return False


for _cls in (Runtime, Publisher, Subscriber):
    _cls.__enter__ = _enter
    _cls.__exit__ = _exit_close
Sample.__enter__ = _enter
Sample.__exit__ = _exit_release
Loan.__enter__ = _enter
Loan.__exit__ = _exit_drop


def _iter(self):
    return self


def _next(self):
    # receive() without a timeout blocks until a sample arrives (the GIL released, Ctrl-C
    # raising KeyboardInterrupt); it ends only with the subscriber's close().
    if self.closed:
        raise StopIteration
    return self.receive()


Subscriber.__iter__ = _iter
Subscriber.__next__ = _next


def _sample_repr(self):
    state = "released" if self.released else f"{self.size} bytes"
    return (f"<zerocp.Sample publisher={self.publisher_id} sequence={self.sequence} "
            f"{state}>")


Sample.__repr__ = _sample_repr


# ---- asyncio ------------------------------------------------------------------------------

async def _areceive(self):
    """Waits for the next sample on the running asyncio loop (the eventfd is watched with
    loop.add_reader), and returns it. The loop is never blocked."""
    loop = _asyncio.get_running_loop()
    while True:
        sample = self.take()
        if sample is not None:
            return sample
        if not self.connected:
            # The runtime is reconnecting to a restarted diroute: its eventfd changes then.
            await _asyncio.sleep(0.02)
            continue
        if not self._prepare_wait():
            continue  # data arrived between take() and the announcement
        fd = self.fileno()
        ready = loop.create_future()

        def wake():
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            # A timeout bounds the wait on a daemon restart (the old eventfd then never fires).
            await _asyncio.wait_for(_asyncio.shield(ready), 0.1)
        except _asyncio.TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)
            if not self.closed:
                self._finish_wait()


def _aiter(self):
    return self


async def _anext(self):
    if self.closed:
        raise StopAsyncIteration
    return await self.areceive()


Subscriber.areceive = _areceive
Subscriber.__aiter__ = _aiter
Subscriber.__anext__ = _anext

from . import ipc  # noqa: E402  (needs the names above)
