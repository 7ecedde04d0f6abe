#include "reactor/watch.hpp"

#include <spdlog/spdlog.h>

namespace zcp::reactor {

bool Watch::arm() noexcept {
  io_uring_sqe* sqe = reactor_.ring().get_sqe(this);
  if (sqe == nullptr) {
    spdlog::error("reactor: cannot arm {}: the submission queue is full", what_);
    return false;
  }
  prep(sqe);
  armed_ = true;
  return true;
}

bool Watch::cancel() noexcept {
  if (cancelled_) return false;
  cancelled_ = true;
  if (armed_) {
    // Retired when the armed operation's final CQE arrives (see complete()).
    if (!reactor_.ring().cancel(this)) {
      spdlog::error("reactor: cannot queue the cancel of {}: submission queue full", what_);
    }
    return true;
  }
  if (!in_callback_) reactor_.retire(this);  // destroys *this: touch nothing after it
  return true;
}

void Watch::complete(int res, unsigned /*flags*/) noexcept {
  armed_ = false;  // every watch operation is single-shot
  if (cancelled_ || reactor_.shutting_down()) {
    reactor_.retire(this);  // last statement: destroys *this
    return;
  }
  in_callback_ = true;
  bool again = on_result(res);
  in_callback_ = false;
  if (cancelled_ || !again || !arm()) reactor_.retire(this);  // last statement
}

}  // namespace zcp::reactor
