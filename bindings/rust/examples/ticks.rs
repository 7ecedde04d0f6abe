//! A typed publisher and subscriber in one program (docs/rust.md). With a diroute running:
//!
//!   RUSTC=/usr/bin/rustc /usr/bin/cargo run --offline --example ticks
use std::time::Duration;
use zerocp::{Payload, QueuePolicy, Runtime, SubscriberOptions};

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Tick {
    price: f64,
    volume: f64,
    id: u64,
}
unsafe impl Payload for Tick {} // plain data: the same bytes in every process

fn main() -> Result<(), zerocp::Error> {
    let rt = Runtime::connect("rust-feed")?; // $ZCP_INSTANCE, else "default"
    let sub = rt.subscriber_with::<Tick>(
        "md/feed/ticks",
        &SubscriberOptions { policy: QueuePolicy::BlockPublisher, ..Default::default() },
    )?;
    let publisher = rt.publisher::<Tick>("md/feed/ticks")?;

    let mut loan = publisher.loan()?; // a Tick in shared memory
    loan.price = 10.5;
    loan.id = 1;
    loan.publish()?; // consumes the loan

    if let Some(tick) = sub.receive(Duration::from_secs(1))? {
        println!("{} #{} (sequence {})", tick.price, tick.id, tick.sequence());
    } // released here
    Ok(())
}
