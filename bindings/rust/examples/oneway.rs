//! One-way latency from a publisher's publish() to this subscriber's take(), as
//! CLOCK_MONOTONIC now minus the sample's publish timestamp: the Rust side of
//! scripts/bench-bindings.sh (beside bench/oneway.cpp and python/bench/zcp_py_bench.py).
//!
//!   oneway TOPIC --count N [--poll]      prints {"p50_ns": .., "p99_ns": .., "samples": N}
use std::time::Duration;

use zerocp::{Runtime, SubscriberOptions};

fn now_ns() -> u64 {
    let mut ts = std::mem::MaybeUninit::<[i64; 2]>::uninit();
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut [i64; 2]) -> i32;
    }
    // SAFETY: CLOCK_MONOTONIC (1) fills a struct timespec {i64 sec, i64 nsec} on x86-64 Linux.
    unsafe {
        clock_gettime(1, ts.as_mut_ptr());
        let [sec, nsec] = ts.assume_init();
        sec as u64 * 1_000_000_000 + nsec as u64
    }
}

fn main() -> Result<(), zerocp::Error> {
    let args: Vec<String> = std::env::args().collect();
    let topic = args.get(1).expect("usage: oneway TOPIC --count N [--poll]").clone();
    let mut count = 10_000usize;
    let mut poll = false;
    let mut i = 2;
    while i < args.len() {
        match args[i].as_str() {
            "--count" => {
                count = args[i + 1].parse().expect("--count N");
                i += 1;
            }
            "--poll" => poll = true,
            other => panic!("unknown argument {}", other),
        }
        i += 1;
    }
    let rt = Runtime::connect(&format!("oneway-rust-{}", std::process::id()))?;
    let sub = rt.raw_subscriber_with(&topic, &SubscriberOptions { queue_capacity: 1024, ..Default::default() })?;
    println!("ready");
    let mut lat = Vec::with_capacity(count);
    while lat.len() < count {
        if let Some(s) = sub.take()? {
            lat.push(now_ns() - s.timestamp_ns());
            continue;
        }
        if !poll {
            sub.wait(Duration::from_secs(1))?;
        }
    }
    lat.sort_unstable();
    let at = |p: f64| lat[((p / 100.0 * count as f64).ceil() as usize).clamp(1, count) - 1];
    println!("{{\"p50_ns\": {}, \"p99_ns\": {}, \"samples\": {}}}", at(50.0), at(99.0), count);
    Ok(())
}
