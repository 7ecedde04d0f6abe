// Ring lifecycle (setup with flag fallback, opcode probe), submission and dispatch.
#include "reactor/uring.hpp"

#include <array>
#include <cerrno>
#include <ctime>

namespace zcp::reactor {

namespace {

// liburing returns -errno; turn it into the same {value, err} shape sys::call produces.
sys::Result uring_result(int rc) noexcept {
  return rc < 0 ? sys::Result{-1, -rc} : sys::Result{rc, 0};
}

struct SetupAttempt {
  unsigned flags;
  RingMode mode;
};

// Best first. SINGLE_ISSUER|DEFER_TASKRUN (6.1+) runs completion work only when this thread
// asks for events: no IPIs, no task work interrupting the thread. COOP_TASKRUN (5.19+)
// likewise avoids forced interrupts. The plain ring works on any io_uring kernel.
constexpr std::array<SetupAttempt, 3> kSetupAttempts{{
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, RingMode::kSingleIssuerDeferTaskrun},
    {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, RingMode::kCoopTaskrun},
    {0, RingMode::kPlain},
}};

struct RequiredOp {
  int opcode;
  const char* name;
};

// Every opcode the reactor submits.
constexpr std::array<RequiredOp, 7> kRequiredOps{{
    {IORING_OP_ACCEPT, "ACCEPT"},
    {IORING_OP_RECV, "RECV"},
    {IORING_OP_SENDMSG, "SENDMSG"},
    {IORING_OP_READ, "READ"},
    {IORING_OP_POLL_ADD, "POLL_ADD"},
    {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    {IORING_OP_TIMEOUT, "TIMEOUT"},
}};

// Multishot recv and provided-buffer rings have no opcode of their own to probe. They
// arrived in 6.0 together with IORING_OP_SEND_ZC, so SEND_ZC being known marks a 6.0+ kernel.
constexpr int kMultishotRecvMarkerOp = IORING_OP_SEND_ZC;

}  // namespace

const char* to_string(RingMode mode) noexcept {
  switch (mode) {
    case RingMode::kSingleIssuerDeferTaskrun:
      return "SINGLE_ISSUER|DEFER_TASKRUN";
    case RingMode::kCoopTaskrun:
      return "COOP_TASKRUN|TASKRUN_FLAG";
    case RingMode::kPlain:
      return "no setup flags";
  }
  return "?";
}

std::string unavailable_message(int err) {
  std::string why = err == ENOSYS ? "this kernel or sandbox does not provide io_uring"
                                  : "io_uring is not permitted here";
  return why +
         ". Likely cause: a seccomp filter that blocks io_uring (Docker's default seccomp "
         "profile does), or the sysctl kernel.io_uring_disabled. Fix: run with a seccomp "
         "profile that allows io_uring_setup, io_uring_enter and io_uring_register (or "
         "docker run --security-opt seccomp=unconfined), and set kernel.io_uring_disabled=0. "
         "io_uring_queue_init";
}

sys::Expected<std::unique_ptr<Ring>> Ring::create(unsigned sq_entries, unsigned cq_entries,
                                                  RingMode best) {
  std::unique_ptr<Ring> ring(new Ring());
  sys::Result last{};
  bool reached_best = false;
  for (const SetupAttempt& attempt : kSetupAttempts) {
    reached_best = reached_best || attempt.mode == best;
    if (!reached_best) continue;
    io_uring_params params{};
    params.flags = attempt.flags | IORING_SETUP_CQSIZE;
    params.cq_entries = cq_entries;
    last = uring_result(io_uring_queue_init_params(sq_entries, &ring->ring_, &params));
    if (last.ok()) {
      ring->initialized_ = true;
      ring->mode_ = attempt.mode;
      break;
    }
    if (last.err == EPERM || last.err == ENOSYS) {
      return sys::fail(unavailable_message(last.err), last.err);
    }
    if (last.err != EINVAL) break;  // EINVAL: these flags are unknown here, try the next set
  }
  if (!ring->initialized_) {
    return sys::fail("io_uring_queue_init(" + std::to_string(sq_entries) + " entries)", last.err);
  }

  io_uring_probe* probe = io_uring_get_probe_ring(&ring->ring_);
  if (probe == nullptr) {
    return sys::fail(
        "io_uring_get_probe_ring: the kernel cannot report its opcodes (Linux "
        "older than 5.6); the reactor needs Linux 6.0 or newer",
        EOPNOTSUPP);
  }
  std::string missing;
  for (const RequiredOp& op : kRequiredOps) {
    if (!io_uring_opcode_supported(probe, op.opcode)) missing += std::string(" ") + op.name;
  }
  bool multishot = io_uring_opcode_supported(probe, kMultishotRecvMarkerOp) != 0;
  io_uring_free_probe(probe);
  if (!missing.empty()) {
    return sys::fail("io_uring lacks opcodes the reactor needs:" + missing, EOPNOTSUPP);
  }
  if (!multishot) {
    return sys::fail("io_uring lacks multishot recv and provided-buffer rings (Linux 6.0+)",
                     EOPNOTSUPP);
  }
  return ring;
}

Ring::~Ring() {
  if (initialized_) io_uring_queue_exit(&ring_);
}

io_uring_sqe* Ring::get_sqe(Completion* c) noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    (void)submit();  // SQ full: hand the queued entries to the kernel, then retry once
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return nullptr;
  }
  // io_uring_prep_* leave user_data alone, so setting it before the prep is fine.
  io_uring_sqe_set_data(sqe, c);
  if (c != nullptr) ++in_flight_;
  return sqe;
}

bool Ring::cancel(const Completion* target) noexcept {
  io_uring_sqe* sqe = get_sqe(nullptr);
  if (sqe == nullptr) return false;
  io_uring_prep_cancel(sqe, const_cast<Completion*>(target), 0);  // NOLINT: only a key
  return true;
}

sys::Expected<void> Ring::submit() noexcept {
  sys::Result r = uring_result(io_uring_submit(&ring_));
  if (!r.ok() && r.err != EINTR && r.err != EAGAIN && r.err != EBUSY) {
    return sys::fail("io_uring_submit", r.err);
  }
  return {};
}

sys::Expected<void> Ring::submit_and_wait(
    std::optional<std::chrono::nanoseconds> timeout) noexcept {
  sys::Result r;
  if (!timeout) {
    r = uring_result(io_uring_submit_and_wait(&ring_, 1));
  } else if (timeout->count() <= 0) {
    // Also runs deferred task work (DEFER_TASKRUN posts completions only when asked).
    r = uring_result(io_uring_submit_and_get_events(&ring_));
  } else {
    __kernel_timespec ts{};
    ts.tv_sec = timeout->count() / 1'000'000'000;
    ts.tv_nsec = timeout->count() % 1'000'000'000;
    io_uring_cqe* cqe = nullptr;
    r = uring_result(io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr));
  }
  // ETIME: the timeout passed. EINTR: a signal interrupted the wait. EBUSY/EAGAIN: the CQ
  // overflowed or the kernel is short of memory; reaping completions is the cure.
  if (!r.ok() && r.err != ETIME && r.err != EINTR && r.err != EBUSY && r.err != EAGAIN) {
    return sys::fail("io_uring_enter (submit and wait)", r.err);
  }
  return {};
}

unsigned Ring::dispatch(unsigned max) noexcept {
  unsigned handled = 0;
  io_uring_cqe* cqe = nullptr;
  while (handled < max && io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe != nullptr) {
    std::uint64_t data = cqe->user_data;
    int res = cqe->res;
    unsigned flags = cqe->flags;
    // Release the CQ slot before running the handler: everything needed is copied, and the
    // handler may submit and so produce more CQEs. (io_uring_cq_advance's store-release
    // orders our reads of the CQE before the kernel sees the slot free.) Provided buffers
    // are returned separately with io_uring_buf_ring_advance (see buffer_ring.hpp).
    io_uring_cq_advance(&ring_, 1);
    ++handled;
    if (data == 0 || data == LIBURING_UDATA_TIMEOUT) continue;
    if ((flags & IORING_CQE_F_MORE) == 0) --in_flight_;
    // The handler may retire (destroy) its object; nothing here touches it afterwards.
    reinterpret_cast<Completion*>(data)->complete(res, flags);  // NOLINT: user_data contract
  }
  return handled;
}

}  // namespace zcp::reactor
