"""The Python binding's benchmarks (scripts/bench-bindings.sh runs them beside the C++ ones):

  take-rate   TOPIC  a Python subscriber's take + release loop over a full queue (msgs/s)
  oneway-sub  TOPIC  --count N [--poll]: one-way latency from a publisher's publish() to
                     this receive() (--poll: a take() loop), as CLOCK_MONOTONIC now - the
                     sample's timestamp
  numpy-sum          8 KiB blocks summed with numpy in place vs after a bytes() copy (GB/s)

Each prints one JSON object. They connect to $ZCP_INSTANCE."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import zerocp


def take_rate(topic: str, rounds: int) -> dict:
    rt = zerocp.Runtime.connect(name="bench-take")
    sub = rt.subscriber(topic, policy="block_publisher", queue_capacity=16384, max_held=16)
    pub = rt.publisher(topic, max_payload=64, publish_timeout=1.0)
    payload = b"x" * 64
    total = 0
    spent = 0.0
    for _ in range(rounds):
        for _ in range(16000):
            pub.publish_copy(payload)
        pub.flush(5.0)
        take = sub.take
        t0 = time.perf_counter()
        n = 0
        while True:
            s = take()
            if s is None:
                break
            s.release()
            n += 1
        spent += time.perf_counter() - t0
        total += n
    rt.close()
    return {"scenario": "python take+release", "payload": 64, "messages": total,
            "msgs_per_s": total / spent}


def oneway_sub(topic: str, count: int, poll: bool) -> dict:
    rt = zerocp.Runtime.connect(name="bench-oneway-py")
    sub = rt.subscriber(topic, queue_capacity=1024)
    print("ready", flush=True)
    lat = np.empty(count, dtype=np.int64)
    take, receive = sub.take, sub.receive
    for i in range(count):
        if poll:
            s = take()
            while s is None:
                s = take()
        else:
            s = receive()
        lat[i] = time.monotonic_ns() - s.timestamp_ns
        s.release()
    rt.close()
    return {"p50_ns": int(np.percentile(lat, 50)), "p99_ns": int(np.percentile(lat, 99)),
            "samples": count}


def numpy_sum(topic: str, blocks: int) -> dict:
    rt = zerocp.Runtime.connect(name="bench-numpy")
    sub = rt.subscriber(topic, policy="block_publisher", queue_capacity=256, max_held=16)
    pub = rt.publisher(topic, max_payload=8192, publish_timeout=1.0)
    data = np.arange(1024, dtype=np.float64)
    for _ in range(128):  # 128 blocks of 8 KiB in the queue, summed repeatedly
        loan = pub.loan(8192)
        np.frombuffer(loan, dtype=np.float64)[:] = data
        pub.publish(loan)
    pub.flush(5.0)
    held = [sub.receive(timeout=5) for _ in range(16)]
    expect = float(data.sum())

    def run(read) -> float:
        t0 = time.perf_counter()
        for i in range(blocks):
            assert read(held[i % 16]) == expect
        return blocks * 8192 / (time.perf_counter() - t0) / 1e9

    in_place = run(lambda s: float(np.frombuffer(s, dtype=np.float64).sum()))
    copied = run(lambda s: float(np.frombuffer(bytes(s), dtype=np.float64).sum()))
    for s in held:
        s.release()
    rt.close()
    return {"scenario": "numpy sum of 8 KiB blocks", "in_place_gb_s": in_place,
            "bytes_copy_gb_s": copied}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=["take-rate", "oneway-sub", "numpy-sum"])
    p.add_argument("topic", nargs="?", default="bench/python/x")
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--poll", action="store_true")
    a = p.parse_args()
    if a.what == "take-rate":
        out = take_rate(a.topic, max(1, a.count // 16000))
    elif a.what == "oneway-sub":
        out = oneway_sub(a.topic, a.count, a.poll)
    else:
        out = numpy_sum(a.topic, a.count)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
