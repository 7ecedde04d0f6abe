//! zerocp: zero-copy shared-memory publish/subscribe, from Rust.
//!
//! The same daemon, topics and chunks as C++ and Python: a C++ publisher and a Rust
//! subscriber (or the reverse) read one chunk of shared memory, never a copy. Built on libzcp's
//! C ABI (include/zcp/zcp.h); docs/rust.md is the guide.
//!
//! ```no_run
//! use zerocp::{Payload, Runtime};
//!
//! #[repr(C)]
//! #[derive(Clone, Copy, Default)]
//! struct Tick { price: f64, volume: f64 }
//! unsafe impl Payload for Tick {}
//!
//! let rt = Runtime::connect("rust-example")?;
//! let sub = rt.subscriber::<Tick>("md/feed/ticks")?;
//! let publisher = rt.publisher::<Tick>("md/feed/ticks")?;
//! let mut loan = publisher.loan()?;          // a Tick in shared memory
//! loan.price = 10.5;
//! loan.publish()?;                          // consumes the loan: no use after publish
//! if let Some(tick) = sub.receive(std::time::Duration::from_secs(1))? {
//!     println!("{} (sequence {})", tick.price, tick.sequence());   // read in place
//! }
//! # Ok::<(), zerocp::Error>(())
//! ```
//!
//! Publishing consumes the loan, so writing through it afterwards does not compile:
//!
//! ```compile_fail,E0382
//! # let rt = zerocp::Runtime::connect("x").unwrap();
//! let publisher = rt.publisher::<u64>("a/b/c").unwrap();
//! let mut loan = publisher.loan().unwrap();
//! loan.publish().unwrap();
//! *loan = 7; // error: use of moved value `loan`
//! ```
//!
//! Lifetimes carry the rules the C++ API states in prose: a `Publisher` or `Subscriber`
//! borrows its `Runtime`, a `Loan` its `Publisher`, a `Sample` its `Subscriber`, so none can
//! outlive what owns its memory. A publisher (with its loans) and a subscriber (with its
//! samples) are `Send` but not `Sync`: one thread at a time, as libzcp requires.

mod ffi;

use std::ffi::{CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ops::{Deref, DerefMut};
use std::os::unix::io::{AsRawFd, RawFd};
use std::ptr;
use std::time::Duration;

// ---- Errors --------------------------------------------------------------------------------

/// What failed, by libzcp's status code (`zcp_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    DaemonUnavailable,
    VersionMismatch,
    Rejected,
    Disconnected,
    Timeout,
    Protocol,
    System,
    PoolExhausted,
    WouldBlock,
    TooLarge,
    TooManyLoans,
    TooManyHeld,
    InvalidHandle,
    NoMemory,
    /// A payload of another size than the typed endpoint's `T` (see `Subscriber::take`).
    WrongSize,
    Unknown(i32),
}

impl ErrorKind {
    fn from_status(status: i32) -> ErrorKind {
        match status {
            -1 => ErrorKind::InvalidArgument,
            -2 => ErrorKind::DaemonUnavailable,
            -3 => ErrorKind::VersionMismatch,
            -4 => ErrorKind::Rejected,
            -5 => ErrorKind::Disconnected,
            -6 => ErrorKind::Timeout,
            -7 => ErrorKind::Protocol,
            -8 => ErrorKind::System,
            -9 => ErrorKind::PoolExhausted,
            -10 => ErrorKind::WouldBlock,
            -11 => ErrorKind::TooLarge,
            -12 => ErrorKind::TooManyLoans,
            -13 => ErrorKind::TooManyHeld,
            -14 => ErrorKind::InvalidHandle,
            -15 => ErrorKind::NoMemory,
            other => ErrorKind::Unknown(other),
        }
    }
}

/// A failed call: its kind and libzcp's message ("loan(9000): payload 9000 exceeds ...").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    fn last(status: i32) -> Error {
        // SAFETY: zcp_last_error returns this thread's NUL-terminated message, valid until the
        // thread's next failing call; it is copied at once.
        let message = unsafe { CStr::from_ptr(ffi::zcp_last_error()) }
            .to_string_lossy()
            .into_owned();
        Error { kind: ErrorKind::from_status(status), message }
    }
    fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn check(status: i32) -> Result<()> {
    if status < 0 {
        Err(Error::last(status))
    } else {
        Ok(())
    }
}

fn c_string(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(ErrorKind::InvalidArgument, format!("{} contains a NUL byte", what)))
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// libzcp's version ("0.1.0") and C ABI version.
pub fn library_version() -> (String, i32) {
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(ffi::zcp_version()) }.to_string_lossy().into_owned();
    (v, unsafe { ffi::zcp_abi_version() })
}

// ---- Payload types ---------------------------------------------------------------------------

/// A type that may travel as a message: plain data, the same bytes in every process.
///
/// # Safety
/// Implement it only for `#[repr(C)]` (or `#[repr(transparent)]`) types that are `Copy`, own
/// no pointers or references, and for which every bit pattern a publisher may write is a
/// valid value (no `bool`, `char` or enums unless every publisher is trusted to write valid
/// ones). Alignment must be at most 64 (chunks are 64-byte aligned).
pub unsafe trait Payload: Copy + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(unsafe impl Payload for $t {})* };
}
plain!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
unsafe impl<T: Payload, const N: usize> Payload for [T; N] {}

// ---- Runtime ----------------------------------------------------------------------------------

/// How to connect (`Runtime::connect_with`).
#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    /// Unique per live process; empty: "<program>-<pid>".
    pub name: String,
    /// None: $ZCP_INSTANCE, else "default".
    pub instance: Option<String>,
    /// false: a lost daemon is final (default: follow a restarted diroute).
    pub no_reconnect: bool,
}

/// The process's connection to one diroute instance. `Send + Sync`: threads may share it.
pub struct Runtime {
    raw: *mut ffi::zcp_runtime,
}

// SAFETY: libzcp's runtime is thread-safe (docs/client.md): its calls may come from any thread.
unsafe impl Send for Runtime {}
unsafe impl Sync for Runtime {}

impl Runtime {
    /// Connects to the diroute of $ZCP_INSTANCE (else "default") as `name`.
    pub fn connect(name: &str) -> Result<Runtime> {
        Runtime::connect_with(&RuntimeOptions { name: name.to_string(), ..Default::default() })
    }

    pub fn connect_with(options: &RuntimeOptions) -> Result<Runtime> {
        let name = c_string("name", &options.name)?;
        let instance = match &options.instance {
            Some(i) => Some(c_string("instance", i)?),
            None => None,
        };
        // SAFETY: `o` is initialised by libzcp; the strings outlive the call.
        unsafe {
            let mut o = std::mem::zeroed::<ffi::zcp_runtime_options>();
            ffi::zcp_runtime_options_init(&mut o);
            o.name = name.as_ptr();
            o.instance = instance.as_ref().map_or(ptr::null(), |i| i.as_ptr());
            o.reconnect = !options.no_reconnect;
            let mut raw = ptr::null_mut();
            check(ffi::zcp_runtime_connect(&o, &mut raw))?;
            Ok(Runtime { raw })
        }
    }

    pub fn name(&self) -> String {
        // SAFETY: a string owned by the runtime, copied at once.
        unsafe { CStr::from_ptr(ffi::zcp_runtime_name(self.raw)) }.to_string_lossy().into_owned()
    }

    pub fn instance(&self) -> String {
        // SAFETY: as name().
        unsafe { CStr::from_ptr(ffi::zcp_runtime_instance(self.raw)) }.to_string_lossy().into_owned()
    }

    /// False while no daemon serves this runtime.
    pub fn connected(&self) -> bool {
        unsafe { ffi::zcp_runtime_connected(self.raw) }
    }

    /// Times it registered again with a restarted diroute.
    pub fn reconnects(&self) -> u64 {
        unsafe { ffi::zcp_runtime_reconnects(self.raw) }
    }

    /// A publisher of `T` values on "service/instance/event".
    pub fn publisher<T: Payload>(&self, topic: &str) -> Result<Publisher<'_, T>> {
        self.publisher_with(topic, &PublisherOptions::default())
    }

    pub fn publisher_with<T: Payload>(
        &self,
        topic: &str,
        options: &PublisherOptions,
    ) -> Result<Publisher<'_, T>> {
        check_layout::<T>()?;
        let mut o = options.clone();
        o.max_payload = o.max_payload.max(size_of::<T>() as u32);
        let raw = self.raw_publisher_with(topic, &o)?;
        Ok(Publisher { raw, _t: PhantomData })
    }

    /// A publisher of byte payloads.
    pub fn raw_publisher(&self, topic: &str) -> Result<RawPublisher<'_>> {
        self.raw_publisher_with(topic, &PublisherOptions::default())
    }

    pub fn raw_publisher_with(&self, topic: &str, options: &PublisherOptions) -> Result<RawPublisher<'_>> {
        let topic = c_string("topic", topic)?;
        // SAFETY: the options struct is initialised by libzcp; topic outlives the call.
        unsafe {
            let mut o = std::mem::zeroed::<ffi::zcp_publisher_options>();
            ffi::zcp_publisher_options_init(&mut o);
            o.history_depth = options.history;
            o.max_loans = options.max_loans;
            o.max_payload = options.max_payload;
            if let Some(w) = options.loan_wait {
                o.loan_wait_ns = nanos(w);
            }
            o.publish_timeout_ns = nanos(options.publish_timeout);
            let mut raw = ptr::null_mut();
            check(ffi::zcp_publisher_create(self.raw, topic.as_ptr(), &o, &mut raw))?;
            Ok(RawPublisher { raw, _rt: PhantomData })
        }
    }

    /// A subscriber of `T` values.
    pub fn subscriber<T: Payload>(&self, topic: &str) -> Result<Subscriber<'_, T>> {
        self.subscriber_with(topic, &SubscriberOptions::default())
    }

    pub fn subscriber_with<T: Payload>(
        &self,
        topic: &str,
        options: &SubscriberOptions,
    ) -> Result<Subscriber<'_, T>> {
        check_layout::<T>()?;
        Ok(Subscriber { raw: self.raw_subscriber_with(topic, options)?, mismatches: Default::default(), _t: PhantomData })
    }

    /// A subscriber of byte payloads.
    pub fn raw_subscriber(&self, topic: &str) -> Result<RawSubscriber<'_>> {
        self.raw_subscriber_with(topic, &SubscriberOptions::default())
    }

    pub fn raw_subscriber_with(&self, topic: &str, options: &SubscriberOptions) -> Result<RawSubscriber<'_>> {
        let topic = c_string("topic", topic)?;
        // SAFETY: as raw_publisher_with.
        unsafe {
            let mut o = std::mem::zeroed::<ffi::zcp_subscriber_options>();
            ffi::zcp_subscriber_options_init(&mut o);
            o.queue_capacity = options.queue_capacity;
            o.policy = options.policy as i32;
            o.history_request = options.history;
            o.max_held = options.max_held;
            let mut raw = ptr::null_mut();
            check(ffi::zcp_subscriber_create(self.raw, topic.as_ptr(), &o, &mut raw))?;
            Ok(RawSubscriber { raw, _rt: PhantomData })
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // SAFETY: every publisher and subscriber borrowed it, so they are gone.
        unsafe { ffi::zcp_runtime_close(self.raw) }
    }
}

fn check_layout<T>() -> Result<()> {
    if align_of::<T>() > 64 {
        return Err(Error::new(ErrorKind::InvalidArgument, "payload alignment above 64 bytes"));
    }
    if size_of::<T>() == 0 || size_of::<T>() > u32::MAX as usize {
        return Err(Error::new(ErrorKind::InvalidArgument, "payload size must be 1..4 GiB"));
    }
    Ok(())
}

// ---- Publishing ---------------------------------------------------------------------------

/// Publisher settings; zero means the daemon's default.
#[derive(Clone, Debug, Default)]
pub struct PublisherOptions {
    pub history: u32,
    pub max_loans: u32,
    pub max_payload: u32,
    /// How long loan() waits for a free chunk (None: libzcp's 5 ms).
    pub loan_wait: Option<Duration>,
    /// How long publish() waits on a full publish ring (default: not at all).
    pub publish_timeout: Duration,
}

/// Publishes byte payloads. `Send`, not `Sync`.
pub struct RawPublisher<'rt> {
    raw: *mut ffi::zcp_publisher,
    _rt: PhantomData<&'rt Runtime>,
}

// SAFETY: libzcp lets a publisher move between threads; !Sync keeps it to one at a time.
unsafe impl Send for RawPublisher<'_> {}

impl<'rt> RawPublisher<'rt> {
    /// A writable chunk of `size` bytes in shared memory.
    pub fn loan(&self, size: usize) -> Result<RawLoan<'_>> {
        // SAFETY: raw is a live publisher; out is written by libzcp.
        unsafe {
            let mut loan = std::mem::zeroed::<ffi::zcp_loan>();
            check(ffi::zcp_publisher_loan(self.raw, size, &mut loan))?;
            Ok(RawLoan { publisher: self, loan })
        }
    }

    /// loan + copy + publish.
    pub fn publish_copy(&self, bytes: &[u8]) -> Result<()> {
        check(unsafe { ffi::zcp_publisher_publish_copy(self.raw, bytes.as_ptr().cast(), bytes.len()) })
    }

    /// Waits until everything published is routed to every subscriber.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        check(unsafe { ffi::zcp_publisher_flush(self.raw, nanos(timeout)) })
    }

    pub fn id(&self) -> u32 {
        unsafe { ffi::zcp_publisher_id(self.raw) }
    }
    pub fn subscriber_count(&self) -> u32 {
        unsafe { ffi::zcp_publisher_subscriber_count(self.raw) }
    }
    pub fn max_payload(&self) -> usize {
        unsafe { ffi::zcp_publisher_max_payload(self.raw) }
    }
    /// The last sequence number published.
    pub fn published(&self) -> u64 {
        unsafe { ffi::zcp_publisher_published(self.raw) }
    }
    pub fn lost(&self) -> u64 {
        unsafe { ffi::zcp_publisher_lost(self.raw) }
    }
    pub fn loans_outstanding(&self) -> u32 {
        unsafe { ffi::zcp_publisher_loans_outstanding(self.raw) }
    }
}

impl Drop for RawPublisher<'_> {
    fn drop(&mut self) {
        // SAFETY: every loan borrowed it, so they are gone.
        unsafe { ffi::zcp_publisher_destroy(self.raw) }
    }
}

/// A loaned chunk, as bytes. `publish(self)` consumes it; dropping it gives the chunk back.
pub struct RawLoan<'p> {
    publisher: &'p RawPublisher<'p>,
    loan: ffi::zcp_loan,
}

impl<'p> RawLoan<'p> {
    /// The chunk's capacity (the publisher's chunk size); `len()` is what publish() sends.
    pub fn capacity(&self) -> usize {
        self.loan.capacity
    }
    /// Sets how many bytes publish() sends (at most capacity()).
    pub fn set_len(&mut self, len: usize) -> Result<()> {
        if len > self.loan.capacity {
            return Err(Error::new(ErrorKind::TooLarge, "set_len beyond the loan's capacity"));
        }
        self.loan.size = len;
        Ok(())
    }
    /// Publishes and consumes the loan. On failure the chunk goes back (see try_publish).
    pub fn publish(self) -> Result<()> {
        self.try_publish().map_err(|(e, _)| e)
    }
    /// Publishes; on failure (WouldBlock...) the loan comes back with the error, for a retry.
    pub fn try_publish(mut self) -> std::result::Result<(), (Error, RawLoan<'p>)> {
        // SAFETY: the loan is live (held since loan()); libzcp clears it on success.
        let status = unsafe { ffi::zcp_publisher_publish(self.publisher.raw, &mut self.loan) };
        if status < 0 {
            return Err((Error::last(status), self));
        }
        Ok(()) // self.loan is cleared: Drop does nothing
    }
}

impl Deref for RawLoan<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the chunk is ours (loaned, unpublished) and `size` bytes long.
        unsafe { std::slice::from_raw_parts(self.loan.data as *const u8, self.loan.size) }
    }
}

impl DerefMut for RawLoan<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as deref; &mut self makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.loan.data as *mut u8, self.loan.size) }
    }
}

impl Drop for RawLoan<'_> {
    fn drop(&mut self) {
        if self.loan.handle != 0 {
            // SAFETY: an unpublished loan of this publisher.
            unsafe { ffi::zcp_publisher_drop(self.publisher.raw, &mut self.loan) };
        }
    }
}

/// Publishes `T` values (one per message, `size_of::<T>()` bytes).
pub struct Publisher<'rt, T: Payload> {
    raw: RawPublisher<'rt>,
    _t: PhantomData<T>,
}

impl<'rt, T: Payload> Publisher<'rt, T> {
    /// A chunk holding `T::default()`, to fill in place.
    pub fn loan(&self) -> Result<Loan<'_, T>>
    where
        T: Default,
    {
        let mut loan = self.loan_uninit()?;
        *loan = T::default();
        Ok(loan)
    }

    /// A chunk holding whatever it held last (no zeroing): write every field before publishing.
    pub fn loan_uninit(&self) -> Result<Loan<'_, T>> {
        Ok(Loan { raw: self.raw.loan(size_of::<T>())?, _t: PhantomData })
    }

    /// Copies `value` into a chunk and publishes it.
    pub fn publish(&self, value: &T) -> Result<()> {
        // SAFETY: T is plain data (Payload); its bytes are read, not interpreted.
        let bytes = unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) };
        self.raw.publish_copy(bytes)
    }

    /// The untyped publisher underneath.
    pub fn raw(&self) -> &RawPublisher<'rt> {
        &self.raw
    }
}

impl<'rt, T: Payload> Deref for Publisher<'rt, T> {
    type Target = RawPublisher<'rt>;
    fn deref(&self) -> &RawPublisher<'rt> {
        &self.raw
    }
}

/// A chunk holding a `T`, written in place. `publish(self)` consumes it: a write after
/// publishing does not compile.
pub struct Loan<'p, T: Payload> {
    raw: RawLoan<'p>,
    _t: PhantomData<T>,
}

impl<'p, T: Payload> Loan<'p, T> {
    pub fn publish(self) -> Result<()> {
        self.raw.publish()
    }
    pub fn try_publish(self) -> std::result::Result<(), (Error, Loan<'p, T>)> {
        self.raw.try_publish().map_err(|(e, raw)| (e, Loan { raw, _t: PhantomData }))
    }
}

impl<T: Payload> Deref for Loan<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the chunk is 64-byte aligned and size_of::<T>() long; T is plain data.
        unsafe { &*(self.raw.loan.data as *const T) }
    }
}

impl<T: Payload> DerefMut for Loan<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as deref, exclusive through &mut self.
        unsafe { &mut *(self.raw.loan.data as *mut T) }
    }
}

// ---- Subscribing --------------------------------------------------------------------------

/// What a full subscriber queue does with a new message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum QueuePolicy {
    DropOldest = 0,
    DropNewest = 1,
    BlockPublisher = 2,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        QueuePolicy::DropOldest
    }
}

/// Subscriber settings; zero means the daemon's default.
#[derive(Clone, Debug, Default)]
pub struct SubscriberOptions {
    pub queue_capacity: u32,
    pub policy: QueuePolicy,
    pub history: u32,
    pub max_held: u32,
}

/// Receives byte payloads. `Send`, not `Sync`.
pub struct RawSubscriber<'rt> {
    raw: *mut ffi::zcp_subscriber,
    _rt: PhantomData<&'rt Runtime>,
}

// SAFETY: as RawPublisher.
unsafe impl Send for RawSubscriber<'_> {}

impl<'rt> RawSubscriber<'rt> {
    /// The next message, in place; None when nothing is queued (or no daemon serves it).
    pub fn take(&self) -> Result<Option<RawSample<'_>>> {
        // SAFETY: raw is live; out is written by libzcp.
        unsafe {
            let mut s = std::mem::zeroed::<ffi::zcp_sample>();
            match ffi::zcp_subscriber_take(self.raw, &mut s) {
                ffi::ZCP_OK => Ok(Some(RawSample { subscriber: self, sample: s })),
                ffi::ZCP_EMPTY | ffi::ZCP_ERR_DISCONNECTED => Ok(None),
                status => Err(Error::last(status)),
            }
        }
    }

    /// Sleeps on the eventfd until a message is queued (true) or `timeout` passes (false).
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        match unsafe { ffi::zcp_subscriber_wait(self.raw, nanos(timeout)) } {
            ffi::ZCP_OK => Ok(true),
            ffi::ZCP_EMPTY => Ok(false),
            status => Err(Error::last(status)),
        }
    }

    /// take(), waiting up to `timeout` for a message.
    pub fn receive(&self, timeout: Duration) -> Result<Option<RawSample<'_>>> {
        receive_with(|| self.take(), |t| self.wait(t), timeout)
    }

    /// For a foreign event loop: announce the sleep (false: data is already there).
    pub fn prepare_wait(&self) -> bool {
        unsafe { ffi::zcp_subscriber_prepare_wait(self.raw) }
    }
    /// After the event loop woke: withdraw the announcement, clear the eventfd.
    pub fn finish_wait(&self) {
        unsafe { ffi::zcp_subscriber_finish_wait(self.raw) }
    }
    pub fn has_data(&self) -> bool {
        unsafe { ffi::zcp_subscriber_has_data(self.raw) }
    }
    pub fn id(&self) -> u32 {
        unsafe { ffi::zcp_subscriber_id(self.raw) }
    }
    pub fn dropped(&self) -> u64 {
        unsafe { ffi::zcp_subscriber_dropped(self.raw) }
    }
    pub fn lost(&self) -> u64 {
        unsafe { ffi::zcp_subscriber_lost(self.raw) }
    }
    /// Changes when a daemon restart replaced the eventfd: re-register it with epoll/mio.
    pub fn rebinds(&self) -> u64 {
        unsafe { ffi::zcp_subscriber_rebinds(self.raw) }
    }
    pub fn held(&self) -> u32 {
        unsafe { ffi::zcp_subscriber_held(self.raw) }
    }
    pub fn max_held(&self) -> u32 {
        unsafe { ffi::zcp_subscriber_max_held(self.raw) }
    }
    pub fn connected(&self) -> bool {
        unsafe { ffi::zcp_subscriber_connected(self.raw) }
    }
}

/// The eventfd, for mio/tokio (`AsyncFd`) or epoll; see prepare_wait().
impl AsRawFd for RawSubscriber<'_> {
    fn as_raw_fd(&self) -> RawFd {
        unsafe { ffi::zcp_subscriber_fd(self.raw) }
    }
}

impl Drop for RawSubscriber<'_> {
    fn drop(&mut self) {
        // SAFETY: every sample borrowed it, so they are gone.
        unsafe { ffi::zcp_subscriber_destroy(self.raw) }
    }
}

/// A received message, read in place; the chunk goes back when it drops.
pub struct RawSample<'s> {
    subscriber: &'s RawSubscriber<'s>,
    sample: ffi::zcp_sample,
}

impl RawSample<'_> {
    /// Per publisher, from 1; a gap means drops.
    pub fn sequence(&self) -> u64 {
        self.sample.sequence
    }
    /// CLOCK_MONOTONIC nanoseconds at publish.
    pub fn timestamp_ns(&self) -> u64 {
        self.sample.timestamp_ns
    }
    pub fn publisher_id(&self) -> u32 {
        self.sample.publisher_id
    }
}

impl Deref for RawSample<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the chunk is held until drop; size was clamped to the chunk by libzcp.
        unsafe { std::slice::from_raw_parts(self.sample.data as *const u8, self.sample.size) }
    }
}

impl Drop for RawSample<'_> {
    fn drop(&mut self) {
        // SAFETY: a sample this subscriber holds.
        unsafe { ffi::zcp_subscriber_release(self.subscriber.raw, &mut self.sample) };
    }
}

/// The receive loop of both subscribers: take, else wait for the rest of `timeout`; while the
/// daemon is away (the runtime reconnecting), look again every 20 ms.
fn receive_with<S>(
    mut take: impl FnMut() -> Result<Option<S>>,
    wait: impl Fn(Duration) -> Result<bool>,
    timeout: Duration,
) -> Result<Option<S>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(s) = take()? {
            return Ok(Some(s));
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        match wait(deadline - now) {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::Disconnected => {
                std::thread::sleep(Duration::from_millis(20).min(deadline - now))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Receives `T` values: payloads of exactly `size_of::<T>()` bytes; others are released,
/// counted (`size_mismatches()`) and skipped.
pub struct Subscriber<'rt, T: Payload> {
    raw: RawSubscriber<'rt>,
    mismatches: std::cell::Cell<u64>,
    _t: PhantomData<T>,
}

impl<'rt, T: Payload> Subscriber<'rt, T> {
    pub fn take(&self) -> Result<Option<Sample<'_, T>>> {
        while let Some(raw) = self.raw.take()? {
            if raw.len() == size_of::<T>() {
                return Ok(Some(Sample { raw, _t: PhantomData }));
            }
            self.mismatches.set(self.mismatches.get() + 1);
        }
        Ok(None)
    }

    /// take(), waiting up to `timeout` for a `T`.
    pub fn receive(&self, timeout: Duration) -> Result<Option<Sample<'_, T>>> {
        receive_with(|| self.take(), |t| self.raw.wait(t), timeout)
    }

    /// Messages skipped because they were not `size_of::<T>()` bytes.
    pub fn size_mismatches(&self) -> u64 {
        self.mismatches.get()
    }

    pub fn raw(&self) -> &RawSubscriber<'rt> {
        &self.raw
    }
}

impl<'rt, T: Payload> Deref for Subscriber<'rt, T> {
    type Target = RawSubscriber<'rt>;
    fn deref(&self) -> &RawSubscriber<'rt> {
        &self.raw
    }
}

impl<T: Payload> AsRawFd for Subscriber<'_, T> {
    fn as_raw_fd(&self) -> RawFd {
        self.raw.as_raw_fd()
    }
}

/// A received `T`, read in place (`Deref<Target = T>`); released on drop.
pub struct Sample<'s, T: Payload> {
    raw: RawSample<'s>,
    _t: PhantomData<T>,
}

impl<T: Payload> Sample<'_, T> {
    pub fn sequence(&self) -> u64 {
        self.raw.sequence()
    }
    pub fn timestamp_ns(&self) -> u64 {
        self.raw.timestamp_ns()
    }
    pub fn publisher_id(&self) -> u32 {
        self.raw.publisher_id()
    }
    /// The chunk's address (its bytes are the publisher's, in shared memory).
    pub fn as_ptr(&self) -> *const T {
        self.raw.sample.data as *const T
    }
}

impl<T: Payload> Deref for Sample<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: size_of::<T>() bytes (checked by take), 64-byte aligned; T is plain data.
        unsafe { &*(self.raw.sample.data as *const T) }
    }
}
