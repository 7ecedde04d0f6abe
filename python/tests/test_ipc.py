"""zerocp.ipc, the seed 004 market-data API, in Python and across languages."""

from __future__ import annotations

import os

import numpy as np
import pytest

import zerocp
from zerocp.ipc import (BLOCK_DTYPE, DATA_SIZE, BroadcastConfig, DataBroadcaster, DataSubscriber,
                        MarketDataType, QueuePolicy)

# examples/broadcast_simple_pubsub.cpp's MarketTick.
TICK = np.dtype([("symbol", "S16"), ("price", "<f8"), ("volume", "<f8"), ("id", "<u8"),
                 ("exchange_ts_ns", "<u8")])


@pytest.fixture
def process_runtime(daemon):
    DataBroadcaster.initialize_runtime("py-ipc")
    yield
    DataBroadcaster.shutdown_runtime()


def test_presets_match_the_cpp_ones():
    ll = BroadcastConfig.low_latency()
    ms = BroadcastConfig.massive_scale()
    assert ms.queue_policy == QueuePolicy.BLOCK_PUBLISHER
    assert ll.topic("ticks") == "md/broadcast/ticks"
    assert ll.queue_policy == QueuePolicy.DROP_OLDEST
    # The block's layout is the C++ struct's: 8192 bytes, data at offset 32.
    assert BLOCK_DTYPE.itemsize == 8192 and BLOCK_DTYPE.fields["data"][1] == 32


def test_broadcast_and_receive_block_in_place(process_runtime):
    config = BroadcastConfig.low_latency()
    config.instance_name = "pyipc"
    inp = DataSubscriber(config, "ticks")
    out = DataBroadcaster(config, "ticks")
    ticks = np.zeros(3, dtype=TICK)
    ticks["id"] = [7, 8, 9]
    ticks["price"] = [1.5, 2.5, 3.5]
    assert out.broadcast(ticks.tobytes(), 3, MarketDataType.Tick)
    assert not out.broadcast(b"x" * (DATA_SIZE + 1), 1, MarketDataType.Tick)
    assert isinstance(out.last_error, zerocp.InvalidArgument)

    loan = out.loan_block()
    loan.set_payload(b"snapshot", 1, MarketDataType.Snapshot)
    out.publish_block(loan)
    assert not loan.valid
    assert out.broadcast_batch(np.zeros(2000, dtype=TICK).tobytes(), 2000, MarketDataType.Trade) == 12

    assert inp.wait(5)
    block = inp.receive_block()
    assert block.shape == () and not block.flags.writeable
    assert int(block["record_count"]) == 3
    assert int(block["data_type"]) == MarketDataType.Tick
    assert int(block["sequence_number"]) == 1
    records = block["data"][: int(block["data_size"])].view(TICK)
    assert records["id"].tolist() == [7, 8, 9]
    assert records["price"].tolist() == [1.5, 2.5, 3.5]
    del records, block
    assert inp.wait(5)
    assert inp.receive() == b"snapshot"
    n = 0
    while n < 12 and inp.wait(5):
        b = inp.receive_block()
        n += 1
        del b
    stats = inp.get_receive_stats()
    assert stats["blocks_received"] == 14
    assert stats["records_received"] == 3 + 1 + 2000
    assert stats["sequence_gaps"] == 0
    assert out.get_stats()["rejected_calls"] == 1
    out.close()
    inp.close()


def test_cpp_broadcaster_to_python_subscriber(daemon, process_runtime):
    """seed 004's example publisher (C++) to a Python DataSubscriber, records read in place."""
    inp = DataSubscriber(BroadcastConfig.low_latency(), "py_cross")
    pub = daemon.popen(os.environ["ZCP_BROADCAST_EXAMPLE"], "publisher", "--stream", "py_cross",
                       "--count", "20", "--interval-ms", "0")
    ids = []
    while len(ids) < 120 and inp.wait(20):
        block = inp.receive_block()
        if block is None:
            continue
        records = block["data"][: int(block["data_size"])].view(TICK)
        assert len(records) == int(block["record_count"])
        ids.extend(records["id"].tolist())
        del records, block
    assert pub.wait(30) == 0
    assert ids[:20] == list(range(1, 21)) or ids[:20] == list(range(20))
    assert len(ids) == 120  # 20 single ticks, then one batch of 100 in one block
    assert inp.get_receive_stats()["sequence_gaps"] == 0
    inp.close()
