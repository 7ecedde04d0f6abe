"""An asyncio reader: the subscriber's eventfd is watched by the event loop, so one thread
serves it beside other coroutines (docs/python.md).

    build/bin/diroute &
    PYTHONPATH=build/python /usr/bin/python3 python/examples/async_reader.py
"""

import asyncio

import zerocp


async def main() -> None:
    with zerocp.Runtime.connect(name="async-example") as rt:
        sub = rt.subscriber("md/example/events", policy="block_publisher")
        pub = rt.publisher("md/example/events")

        async def produce():
            for i in range(5):
                pub.publish_copy(f"event {i}".encode())
                await asyncio.sleep(0.01)

        producer = asyncio.create_task(produce())
        received = 0
        async for sample in sub:          # awaits the eventfd; never blocks the loop
            print(bytes(sample).decode(), "sequence", sample.sequence)
            sample.release()
            received += 1
            if received == 5:
                break
        await producer


asyncio.run(main())
