// Socket messages as happens-before edges, for ThreadSanitizer.
//
// The daemon sends its replies and notices, and receives the clients' requests, through
// io_uring: the kernel does the socket I/O, so TSan sees neither side of it. Yet the protocol
// relies on that order, as any message passing does: the reactor formats a ring or a route
// table in shared memory and then sends the reply that grants it, and the client reads it
// after it received the reply. Without the edge, every such first read is reported as a race
// with the reactor's writes.
//
// This file gives TSan the edge with one clock: the reactor releases it before each io_uring
// submission and acquires it after (the call also reaps what arrived), and a client releases
// it before each send() on its control socket and acquires it after each recvmsg(). One clock
// for every connection is coarser than the kernel's per-socket order: it could hide a race
// whose only ordering is a message on another connection. Eventfd wake-ups are not given any
// edge: the data path publishes its data with atomics, and that is what TSan checks there.
//
// Only the TSan build needs it (tests/daemon/CMakeLists.txt adds it there).
#include <atomic>

#include <dlfcn.h>
#include <liburing.h>
#include <sanitizer/tsan_interface.h>
#include <sys/socket.h>

namespace {

char g_socket_clock;  // only its address matters: the sync object TSan keys on it

// The next definition of `name` (liburing's, or TSan's interceptor of libc's), looked up once.
// relaxed: every thread that looks finds the same value.
template <class Fn>
Fn next(std::atomic<Fn>& slot, const char* name) noexcept {
  Fn fn = slot.load(std::memory_order_relaxed);
  if (fn == nullptr) {
    fn = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
    slot.store(fn, std::memory_order_relaxed);
  }
  return fn;
}

using SubmitFn = int (*)(io_uring*);
using SubmitWaitFn = int (*)(io_uring*, unsigned);
using SubmitTimeoutFn = int (*)(io_uring*, io_uring_cqe**, unsigned, __kernel_timespec*, sigset_t*);
using SendFn = ssize_t (*)(int, const void*, size_t, int);
using RecvmsgFn = ssize_t (*)(int, msghdr*, int);

constinit std::atomic<SubmitFn> g_submit{nullptr};
constinit std::atomic<SubmitFn> g_submit_get_events{nullptr};
constinit std::atomic<SubmitWaitFn> g_submit_wait{nullptr};
constinit std::atomic<SubmitTimeoutFn> g_submit_wait_timeout{nullptr};
constinit std::atomic<SendFn> g_send{nullptr};
constinit std::atomic<RecvmsgFn> g_recvmsg{nullptr};

// Around a submission: what the reactor wrote before it is ordered before what a client does
// after receiving a message sent by it; what a client wrote before its send is ordered before
// what the reactor does after the call returned.
template <class F>
int submission(F&& submit) noexcept {
  __tsan_release(&g_socket_clock);
  const int r = submit();
  __tsan_acquire(&g_socket_clock);
  return r;
}

}  // namespace

extern "C" {

int io_uring_submit(io_uring* ring) {
  return submission([&] { return next(g_submit, "io_uring_submit")(ring); });
}

int io_uring_submit_and_get_events(io_uring* ring) {
  return submission(
      [&] { return next(g_submit_get_events, "io_uring_submit_and_get_events")(ring); });
}

int io_uring_submit_and_wait(io_uring* ring, unsigned wait_nr) {
  return submission([&] { return next(g_submit_wait, "io_uring_submit_and_wait")(ring, wait_nr); });
}

int io_uring_submit_and_wait_timeout(io_uring* ring, io_uring_cqe** cqe, unsigned wait_nr,
                                     __kernel_timespec* ts, sigset_t* sigmask) {
  return submission([&] {
    return next(g_submit_wait_timeout, "io_uring_submit_and_wait_timeout")(ring, cqe, wait_nr, ts,
                                                                           sigmask);
  });
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  __tsan_release(&g_socket_clock);
  return next(g_send, "send")(fd, buf, len, flags);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  const ssize_t r = next(g_recvmsg, "recvmsg")(fd, msg, flags);
  if (r >= 0) __tsan_acquire(&g_socket_clock);
  return r;
}

}  // extern "C"
