// Watch: the common life cycle of a reactor registration that keeps one single-shot
// operation armed on a file descriptor (a read on a timerfd/signalfd/eventfd, a POLL_ADD on
// a pidfd) and re-arms it after each completion.
//
// States: armed -> complete() -> callback -> re-armed (or retired).
// cancel(): marks it cancelled; if an operation is in flight, an ASYNC_CANCEL is queued and
// the object is retired when that operation's CQE arrives; otherwise it is retired at once
// (or, when called from its own callback, right after the callback returns).
#pragma once

#include <string>

#include "reactor/reactor.hpp"
#include "reactor/uring.hpp"

namespace zcp::reactor {

class Watch : public Completion {
 public:
  virtual ~Watch() = default;
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  WatchId id() const noexcept { return id_; }
  const std::string& what() const noexcept { return what_; }

  // Arms the first operation. False if no SQE could be had.
  bool start() noexcept { return arm(); }
  // False if it was already cancelled.
  bool cancel() noexcept;
  void complete(int res, unsigned flags) noexcept final;

 protected:
  Watch(Reactor& reactor, WatchId id, std::string what)
      : reactor_(reactor), id_(id), what_(std::move(what)) {}
  // Fills the SQE for the next operation (user_data is already set).
  virtual void prep(io_uring_sqe* sqe) noexcept = 0;
  // Handles one result and runs the owner's callback. Returns true to arm again.
  virtual bool on_result(int res) noexcept = 0;

  Reactor& reactor_;

 private:
  bool arm() noexcept;

  WatchId id_;
  std::string what_;
  bool armed_ = false;
  bool cancelled_ = false;
  bool in_callback_ = false;
};

}  // namespace zcp::reactor
