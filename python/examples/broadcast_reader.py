"""seed 004's broadcast API from Python: reads the blocks of examples/broadcast_simple_pubsub
in place, as numpy records (docs/python.md).

    build/bin/diroute &
    PYTHONPATH=build/python /usr/bin/python3 python/examples/broadcast_reader.py &
    build/bin/broadcast_simple_pubsub publisher --count 50 --interval-ms 1
"""

import numpy as np

from zerocp.ipc import BroadcastConfig, DataBroadcaster, DataSubscriber

# examples/broadcast_simple_pubsub.cpp's MarketTick, field for field.
TICK = np.dtype([("symbol", "S16"), ("price", "<f8"), ("volume", "<f8"), ("id", "<u8"),
                 ("exchange_ts_ns", "<u8")])

DataBroadcaster.initialize_runtime("broadcast-reader")
subscriber = DataSubscriber(BroadcastConfig.low_latency(), "market_stream")
print("listening on", BroadcastConfig.low_latency().topic("market_stream"), flush=True)
ticks = 0
while subscriber.wait(10.0):
    block = subscriber.receive_block()                 # the 8 KiB block itself, read-only
    if block is None:
        continue
    records = block["data"][: int(block["data_size"])].view(TICK)
    ticks += len(records)
    print(f"block {int(block['sequence_number'])}: {len(records)} tick(s), "
          f"last id {int(records['id'][-1])}", flush=True)
    del records, block                                 # the chunk goes back here
    if ticks >= 150:
        break
stats = subscriber.get_receive_stats()
print(f"{stats['records_received']} ticks in {stats['blocks_received']} blocks, "
      f"gaps {stats['sequence_gaps']}")
