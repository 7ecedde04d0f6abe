"""zerocp.ipc: the market-data broadcast API of seed 004, in Python.

The same streams, blocks and presets as the C++ API (``#include <zcp/ipc/broadcast_hub.hpp>``,
docs/broadcast.md): a C++ ``DataBroadcaster`` and a Python ``DataSubscriber`` (or the
reverse) meet on ``<service_name>/<instance_name>/<stream_name>``.

    from zerocp.ipc import BroadcastConfig, DataBroadcaster, DataSubscriber, MarketDataType

    DataBroadcaster.initialize_runtime("md-feed")
    out = DataBroadcaster(BroadcastConfig.low_latency(), "ticks")
    out.broadcast(ticks.tobytes(), len(ticks), MarketDataType.Tick)

    inp = DataSubscriber(BroadcastConfig.low_latency(), "ticks")
    block = inp.receive_block()          # numpy structured view of the 8 KiB block, no copy
    if block is not None:
        records = block["data"][: block["data_size"]].view(TICK)

A received block is a 0-d numpy array of ``BLOCK_DTYPE`` over the chunk itself (read-only);
the chunk goes back when that array and every view of it are gone.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Optional

import numpy as np

from . import _zerocp

BLOCK_SIZE: int = _zerocp.BLOCK_SIZE
DATA_SIZE: int = _zerocp.BLOCK_DATA_SIZE
HEADER_SIZE: int = BLOCK_SIZE - DATA_SIZE
FLAG_BATCH_FIRST = 1
FLAG_BATCH_LAST = 2

#: ZeroCopyMarketBlock as a numpy structured type: the same offsets as the C++ struct.
BLOCK_DTYPE = np.dtype([
    ("sequence_number", "<u8"),
    ("timestamp_ns", "<u8"),
    ("record_count", "<u8"),
    ("data_type", "u1"),
    ("flags", "u1"),
    ("reserved", "<u2"),
    ("data_size", "<u4"),
    ("data", "u1", (DATA_SIZE,)),
])
assert BLOCK_DTYPE.itemsize == BLOCK_SIZE


class MarketDataType(enum.IntEnum):
    """What the records of a block are (the seed's spelling)."""
    Tick = 0
    Bar = 1
    OrderBook = 2
    Trade = 3
    Quote = 4
    Snapshot = 5
    Custom = 255


class QueuePolicy(enum.IntEnum):
    DROP_OLDEST = 0
    DROP_NEWEST = 1
    BLOCK_PUBLISHER = 2


@dataclasses.dataclass
class BroadcastConfig:
    """The settings of a stream; the presets are the C++ ones (docs/broadcast.md). Durations
    are in seconds."""
    service_name: str = "md"
    instance_name: str = "broadcast"
    queue_capacity: int = 256
    queue_policy: QueuePolicy = QueuePolicy.DROP_OLDEST
    max_held: int = 16
    wait_spin: float = 0.0
    history_size: int = 0
    max_loans: int = 32
    loan_wait: float = 0.005
    publish_timeout: float = 0.0

    @classmethod
    def _preset(cls, which: int) -> "BroadcastConfig":
        d = _zerocp._broadcast_preset(which)
        d["queue_policy"] = QueuePolicy(d["queue_policy"])
        return cls(**d)

    @classmethod
    def default(cls) -> "BroadcastConfig":
        return cls._preset(0)

    @classmethod
    def high_performance(cls) -> "BroadcastConfig":
        """Deep queues, newest data wins, the broadcaster is never held back."""
        return cls._preset(1)

    @classmethod
    def low_latency(cls) -> "BroadcastConfig":
        """Short queues, newest data wins, never wait long."""
        return cls._preset(2)

    @classmethod
    def massive_scale(cls) -> "BroadcastConfig":
        """Hundreds of subscribers, nothing lost (block_publisher back-pressure)."""
        return cls._preset(3)

    def topic(self, stream_name: str) -> str:
        return f"{self.service_name}/{self.instance_name}/{stream_name}"

    def _native(self) -> dict:
        d = dataclasses.asdict(self)
        d["queue_policy"] = int(self.queue_policy)
        return d


def _block_view(exporter, writable: bool) -> np.ndarray:
    """A 0-d structured array over the block's own bytes (no copy); it keeps `exporter` alive."""
    array = np.frombuffer(exporter, dtype=BLOCK_DTYPE, count=1).reshape(())
    if writable:
        return array
    array.flags.writeable = False
    return array


class BlockLoan:
    """A block loaned from the broadcaster's pool: fill it in place (view() or set_payload()),
    then DataBroadcaster.publish_block()."""

    def __init__(self, native):
        self._native = native

    def view(self) -> np.ndarray:
        """A writable 0-d BLOCK_DTYPE array over the block. Delete it before publish_block()
        (a view kept past publishing would write into a block subscribers are reading)."""
        return np.frombuffer(self._native, dtype=BLOCK_DTYPE, count=1).reshape(())

    def set_payload(self, data, record_count: int, data_type: MarketDataType) -> None:
        """Copies `data` (bytes-like) into the block and sets data_size, record_count and
        data_type."""
        payload = memoryview(data).cast("B")
        if payload.nbytes > DATA_SIZE:
            raise _zerocp.InvalidArgument(
                f"set_payload: {payload.nbytes} bytes exceed one block's DATA_SIZE of {DATA_SIZE}")
        view = self.view()
        view["data"][: payload.nbytes] = np.frombuffer(payload, dtype=np.uint8)
        view["data_size"] = payload.nbytes
        view["record_count"] = record_count
        view["data_type"] = int(data_type)
        del view

    def drop(self) -> None:
        self._native.drop()

    @property
    def valid(self) -> bool:
        return self._native.valid


class _Closable:
    """close() and the context manager of the broadcaster and the subscriber."""

    def close(self) -> None:
        self._native.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class DataBroadcaster(_Closable):
    """Publishes 8 KiB market-data blocks on one stream."""

    @staticmethod
    def initialize_runtime(app_name: str) -> bool:
        """Connects this process to diroute ($ZCP_INSTANCE, else 'default'), once; later calls
        return True at once. Raises zerocp.Error on failure."""
        _zerocp._broadcast_initialize_runtime(app_name)
        return True

    @staticmethod
    def shutdown_runtime() -> None:
        _zerocp._broadcast_shutdown_runtime()

    def __init__(self, config: BroadcastConfig, stream_name: str):
        self.config = config
        self.stream_name = stream_name
        self._native = _zerocp._broadcaster(config._native(), stream_name)
        self.last_error: Optional[Exception] = None

    def broadcast(self, data, record_count: int, data_type: MarketDataType) -> bool:
        """One block holding `record_count` records from `data` (bytes-like, at most
        DATA_SIZE bytes), copied once into shared memory. False on failure (last_error)."""
        try:
            self._native.broadcast(data, record_count, int(data_type))
            return True
        except _zerocp.Error as e:
            self.last_error = e
            return False

    def broadcast_batch(self, data, record_count: int, data_type: MarketDataType) -> int:
        """`record_count` equal records from `data`, over as many blocks as needed; returns the
        number of blocks sent (0 on failure, last_error)."""
        try:
            return self._native.broadcast_batch(data, record_count, int(data_type))
        except _zerocp.Error as e:
            self.last_error = e
            return 0

    def loan_block(self) -> BlockLoan:
        """Zero copy: a block to fill in place (raises zerocp.PoolExhausted & co)."""
        return BlockLoan(self._native.loan_block())

    def publish_block(self, loan: BlockLoan) -> None:
        """Stamps sequence_number and timestamp_ns and publishes the loan (consumed)."""
        self._native.publish_block(loan._native)

    def get_stats(self) -> dict:
        return self._native.stats()

    def has_subscribers(self) -> bool:
        return self._native.stats()["subscriber_count"] > 0


class DataSubscriber(_Closable):
    """Receives the blocks of one stream, in place."""

    initialize_runtime = DataBroadcaster.initialize_runtime

    def __init__(self, config: BroadcastConfig, stream_name: str):
        self.config = config
        self.stream_name = stream_name
        self._native = _zerocp._data_subscriber(config._native(), stream_name)

    def receive_block(self) -> Optional[np.ndarray]:
        """The next block as a read-only 0-d BLOCK_DTYPE array over the chunk (no copy), or
        None when nothing is queued (or max_held blocks are alive)."""
        block = self._native.receive_block()
        return None if block is None else _block_view(block, writable=False)

    def receive(self) -> Optional[bytes]:
        """The next block's data bytes, copied out (the chunk goes back at once)."""
        block = self._native.receive_block()
        if block is None:
            return None
        view = _block_view(block, writable=False)
        data = view["data"][: min(int(view["data_size"]), DATA_SIZE)].tobytes()
        del view
        block.release()
        return data

    def wait(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds for a block (the GIL released); True if one is queued."""
        return self._native.wait(timeout)

    def fileno(self) -> int:
        return self._native.fileno()

    def get_receive_stats(self) -> dict:
        return self._native.stats()
