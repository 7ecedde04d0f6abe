"""A tick feed and a reader in one script: the publisher writes numpy records straight into
shared memory, the subscriber reads them in place (docs/python.md).

    build/bin/diroute &
    PYTHONPATH=build/python /usr/bin/python3 python/examples/ticks.py
"""

import numpy as np

import zerocp

TICK = np.dtype([("symbol", "S8"), ("price", "<f8"), ("volume", "<f8"), ("ts_ns", "<u8")])

with zerocp.Runtime.connect(name="ticks-example") as rt:
    sub = rt.subscriber("md/example/ticks", policy="block_publisher", queue_capacity=64)
    pub = rt.publisher("md/example/ticks", max_payload=TICK.itemsize * 100)

    for batch in range(3):
        loan = pub.loan(TICK.itemsize * 100)           # a chunk of shared memory
        ticks = np.frombuffer(loan, dtype=TICK)        # a view of it: no copy
        ticks["symbol"] = b"SH600000"
        ticks["price"] = 10.0 + batch + np.arange(100) * 0.01
        ticks["volume"] = 100
        del ticks                                      # views go before publishing
        pub.publish(loan)

    total = 0.0
    for _ in range(3):
        with sub.receive(timeout=5.0) as sample:       # released at the end of the block
            ticks = np.frombuffer(sample, dtype=TICK)  # the publisher's bytes, in place
            total += float((ticks["price"] * ticks["volume"]).sum())
            print(f"sequence {sample.sequence}: {len(ticks)} ticks, "
                  f"last price {ticks['price'][-1]:.2f}")
            del ticks
    print(f"notional {total:.1f}")
