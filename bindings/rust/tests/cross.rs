//! The Rust binding against a real diroute (ZCP_DIROUTE), the C++ CLI (ZCP_CLI) and zcp-top
//! (ZCP_TOP): ctest runs `cargo test` with them set (tests/rust/CMakeLists.txt). Each test
//! starts its own daemon on a private instance; all share one runtime directory.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use zerocp::{ErrorKind, Payload, PublisherOptions, QueuePolicy, Runtime, RuntimeOptions, SubscriberOptions};

fn env_path(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{} is not set (ctest sets it)", var))
}

fn runtime_dir() -> PathBuf {
    static ONCE: Once = Once::new();
    let dir = std::env::temp_dir().join(format!("zcp-rust-{}", std::process::id()));
    ONCE.call_once(|| {
        std::fs::create_dir_all(&dir).unwrap();
        // Before any runtime connects (every test passes here first): libzcp reads it.
        std::env::set_var("ZCP_RUNTIME_DIR", &dir);
    });
    dir
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Daemon {
    instance: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(tag: &str) -> Daemon {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = runtime_dir();
        let instance = format!("rs{}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), tag);
        let log = dir.join(format!("{}.log", instance));
        let child = Command::new(env_path("ZCP_DIROUTE"))
            .args(["--instance", &instance])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("diroute");
        let sock = dir.join(format!("{}.sock", instance));
        let d = Daemon { instance, child, log };
        assert!(
            wait_until(Duration::from_secs(10), || {
                sock.exists() && std::fs::read_to_string(&d.log).unwrap_or_default().contains("diroute ready")
            }),
            "diroute did not start"
        );
        d
    }

    fn connect(&self, name: &str) -> Runtime {
        Runtime::connect_with(&RuntimeOptions { name: name.into(), instance: Some(self.instance.clone()), no_reconnect: false })
            .expect("connect")
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("ZCP_RUNTIME_DIR", runtime_dir()).env("ZCP_INSTANCE", &self.instance);
        c
    }

    /// (free, total) of every pool, from zcp-top's JSON.
    fn pools(&self) -> Vec<(u64, u64)> {
        let out = self.command(&env_path("ZCP_TOP")).args(["--once", "--json", "--interval", "0"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json = String::from_utf8(out.stdout).unwrap();
        let pools = &json[json.find("\"pools\"").expect("pools")..];
        let pools = &pools[..pools.find(']').unwrap()];
        let number = |obj: &str, key: &str| -> u64 {
            let at = obj.find(&format!("\"{}\":", key)).unwrap() + key.len() + 3;
            obj[at..].trim_start().chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().unwrap()
        };
        pools.split('}').filter(|o| o.contains("\"total\"")).map(|o| (number(o, "free"), number(o, "total"))).collect()
    }

    fn pools_settled(&self) -> bool {
        self.pools().iter().all(|(free, total)| free == total)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(format!("/dev/shm/zcp.{}.seg", self.instance));
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct Tick {
    price: f64,
    volume: f64,
    id: u64,
}
unsafe impl Payload for Tick {}

#[test]
fn typed_loan_publish_take_in_place() {
    let d = Daemon::start("typed");
    {
        let rt = d.connect("rust-typed");
        assert_eq!(rt.instance(), d.instance);
        let sub = rt
            .subscriber_with::<Tick>("rust/test/ticks", &SubscriberOptions { policy: QueuePolicy::BlockPublisher, ..Default::default() })
            .unwrap();
        let publisher = rt.publisher::<Tick>("rust/test/ticks").unwrap();
        let mut loan = publisher.loan().unwrap();
        loan.price = 10.5;
        loan.id = 7;
        let written = &*loan as *const Tick;
        loan.publish().unwrap();
        publisher.publish(&Tick { price: 11.0, volume: 2.0, id: 8 }).unwrap();

        let first = sub.receive(Duration::from_secs(5)).unwrap().expect("a tick");
        assert_eq!(first.sequence(), 1);
        assert_eq!(first.publisher_id(), publisher.id());
        assert_eq!(*first, Tick { price: 10.5, volume: 0.0, id: 7 });
        assert_eq!(first.as_ptr(), written, "the very chunk the publisher wrote: no copy");
        let second = sub.receive(Duration::from_secs(5)).unwrap().expect("a tick");
        assert_eq!(second.id, 8);
        assert_eq!(sub.held(), 2);
        drop(first);
        drop(second);
        assert_eq!(sub.held(), 0);
        assert!(sub.take().unwrap().is_none());

        // Another size on the topic is skipped and counted by the typed subscriber.
        let bytes = rt.raw_publisher("rust/test/ticks").unwrap();
        bytes.publish_copy(b"not a tick").unwrap();
        publisher.publish(&Tick { id: 9, ..Default::default() }).unwrap();
        let next = sub.receive(Duration::from_secs(5)).unwrap().expect("a tick");
        assert_eq!(next.id, 9);
        assert_eq!(sub.size_mismatches(), 1);
    }
    assert!(wait_until(Duration::from_secs(10), || d.pools_settled()), "{:?}", d.pools());
}

#[test]
fn errors_carry_kind_and_message() {
    let d = Daemon::start("errors");
    let rt = d.connect("rust-errors");
    let e = rt.raw_publisher("not-a-topic").err().expect("refused");
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("not-a-topic"), "{}", e.message);
    let p = rt.raw_publisher_with("rust/test/e", &PublisherOptions { max_payload: 64, max_loans: 1, ..Default::default() }).unwrap();
    let e = p.loan(p.max_payload() + 1).err().expect("too large");
    assert_eq!(e.kind, ErrorKind::TooLarge);
    let held = p.loan(8).unwrap();
    assert_eq!(p.loan(8).err().expect("one loan at most").kind, ErrorKind::TooManyLoans);
    drop(held);
    assert_eq!(p.loans_outstanding(), 0);
    let none = Runtime::connect_with(&RuntimeOptions { name: "x".into(), instance: Some("no-such-rust".into()), no_reconnect: true });
    assert_eq!(none.err().expect("no daemon").kind, ErrorKind::DaemonUnavailable);
}

#[test]
fn cpp_publisher_to_rust_and_rust_to_cpp() {
    let d = Daemon::start("cross");
    let rt = d.connect("rust-cross");
    let sub = rt
        .raw_subscriber_with("rust/cross/in", &SubscriberOptions { policy: QueuePolicy::BlockPublisher, ..Default::default() })
        .unwrap();
    let mut pubber = d.command(&env_path("ZCP_CLI")).args(["pub", "rust/cross/in"]).stdin(Stdio::piped()).spawn().unwrap();
    pubber.stdin.take().unwrap().write_all(b"alpha\nbeta\ngamma\n").unwrap();
    assert!(pubber.wait().unwrap().success());
    let mut got = Vec::new();
    for _ in 0..3 {
        let s = sub.receive(Duration::from_secs(10)).unwrap().expect("a message");
        got.push(String::from_utf8(s.to_vec()).unwrap());
    }
    assert_eq!(got, ["alpha", "beta", "gamma"]);

    let echo = d
        .command(&env_path("ZCP_CLI"))
        .args(["echo", "rust/cross/out", "--count", "3", "--policy", "block_publisher"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let p = rt.raw_publisher("rust/cross/out").unwrap();
    assert!(wait_until(Duration::from_secs(10), || p.subscriber_count() == 1));
    for word in ["one", "two", "three"] {
        let mut loan = p.loan(word.len()).unwrap();
        loan.copy_from_slice(word.as_bytes());
        loan.publish().unwrap();
    }
    let out = echo.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().split_whitespace().collect::<Vec<_>>(), ["one", "two", "three"]);
}

/// The child of killed_rust_subscriber_leaks_no_chunk: holds 8 samples, then waits to die.
#[test]
#[ignore]
fn child_holding_samples() {
    if std::env::var("ZCP_RUST_CHILD").is_err() {
        return;
    }
    let rt = Runtime::connect("rust-victim").unwrap();
    let sub = rt
        .raw_subscriber_with("rust/test/kill", &SubscriberOptions { policy: QueuePolicy::BlockPublisher, max_held: 8, ..Default::default() })
        .unwrap();
    println!("ready");
    let mut held = Vec::new();
    while held.len() < 8 {
        held.push(sub.receive(Duration::from_secs(10)).unwrap().expect("a message"));
    }
    println!("holding");
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn killed_rust_subscriber_leaks_no_chunk() {
    let d = Daemon::start("kill");
    let mut child = d
        .command(std::env::current_exe().unwrap().to_str().unwrap())
        .args(["child_holding_samples", "--exact", "--ignored", "--nocapture", "--test-threads", "1"])
        .env("ZCP_RUST_CHILD", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The child's lines; the test harness writes "test child_holding_samples ... " before
    // the first one, on the same line.
    let mut next_line = || loop {
        let line = lines.next().expect("child output").unwrap();
        for word in ["ready", "holding"] {
            if line.ends_with(word) {
                return word;
            }
        }
    };
    assert_eq!(next_line(), "ready");
    {
        let rt = d.connect("rust-killer");
        let p = rt.raw_publisher("rust/test/kill").unwrap();
        assert!(wait_until(Duration::from_secs(10), || p.subscriber_count() == 1));

        for i in 0..12u8 {
            p.publish_copy(&[i; 16]).unwrap(); // 8 held, 4 queued
        }

        assert_eq!(next_line(), "holding");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    assert!(wait_until(Duration::from_secs(20), || d.pools_settled()), "{:?}", d.pools());
}
