// Standalone-Asio adapters for zcp::Subscriber (Asio 1.22+, header <asio.hpp>). Only code
// that uses Asio includes this header; libzcp itself does not depend on Asio.
//
//   asio::io_context io;
//   zcp::AsioSubscriber in(io.get_executor(), sub);          // sub: zcp::Subscriber<Tick>
//   std::function<void(std::error_code, zcp::Sample<Tick>)> on_tick;
//   on_tick = [&](std::error_code ec, zcp::Sample<Tick> s) {
//     if (ec) return report(ec);
//     handle(*s);
//     in.async_take(on_tick);                                 // next one
//   };
//   in.async_take(on_tick);
//   io.run();
//
// Or, with your own descriptor: zcp::async_wait(descriptor, sub, token) and
// zcp::async_take(descriptor, sub, token), where descriptor is a
// asio::posix::stream_descriptor on a dup() of sub.native_handle() (make_wait_descriptor).
//
// Completion signatures: async_wait  void(std::error_code)            (data may be there)
//                        async_take  void(std::error_code, Sample<T>) (one sample)
// Errors are zcp::Errc values in zcp::error_category() (kDisconnected, kTooManyHeld), or
// Asio's (operation_aborted after descriptor.cancel()). Any completion token works
// (callbacks, asio::use_future, asio::use_awaitable).
//
// Threads: a Subscriber is used by one thread at a time, so run its handlers on one thread
// (one io_context thread, or a strand).
//
// Daemon restarts: after the runtime reconnects, the subscriber's eventfd is a new open file
// (Subscriber::rebinds() counts this). AsioSubscriber renews its descriptor by itself. With your
// own descriptor, call zcp::renew_wait_descriptor(descriptor, sub) when rebinds() changed,
// with no wait pending on it; a descriptor left on the old eventfd never completes again.
#pragma once

#include <cstdint>
#include <system_error>
#include <utility>

#include <asio.hpp>
#include <unistd.h>

#include <zcp/subscriber.hpp>

namespace zcp {

// A descriptor watching sub's eventfd. It owns a dup(): closing it leaves the subscriber's fd open.
template <class T, class Executor>
::asio::posix::stream_descriptor make_wait_descriptor(const Executor& ex, Subscriber<T>& sub) {
  return ::asio::posix::stream_descriptor(ex, ::dup(sub.native_handle()));
}

// Points sd at sub's current eventfd (a fresh dup()), closing what it held. For use after a
// daemon restart (Subscriber::rebinds() changed), with no operation pending on sd.
template <class T>
void renew_wait_descriptor(::asio::posix::stream_descriptor& sd, Subscriber<T>& sub) {
  std::error_code ignored;  // closing: nothing to report; assign: a failed dup() shows at the wait
  sd.close(ignored);
  sd.assign(::dup(sub.native_handle()), ignored);
}

namespace detail {

// async_wait, and when `seen` is given, first renews sd if the subscriber re-created itself on
// a new daemon since *seen (AsioSubscriber's case).
template <class T, class Token>
auto async_wait_renewing(::asio::posix::stream_descriptor& sd, Subscriber<T>& sub,
                         std::uint64_t* seen, Token&& token) {
  return ::asio::async_initiate<Token, void(std::error_code)>(
      [&sd, &sub, seen](auto handler) {
        auto ex = ::asio::get_associated_executor(handler, sd.get_executor());
        if (!sub.prepare_wait()) {  // data already there, or disconnected
          std::error_code ec =
              sub.connected() ? std::error_code() : make_error_code(Errc::kDisconnected);
          ::asio::post(ex, [h = std::move(handler), ec]() mutable { h(ec); });
          return;
        }
        // prepare_wait() rebinds after a restart; the announcement is on the new queue, and the
        // new eventfd is what the new router writes.
        if (seen != nullptr && *seen != sub.rebinds()) {
          renew_wait_descriptor(sd, sub);
          *seen = sub.rebinds();
        }
        sd.async_wait(
            ::asio::posix::descriptor_base::wait_read,
            ::asio::bind_executor(ex, [&sub, h = std::move(handler)](std::error_code ec) mutable {
              sub.finish_wait();
              if (!ec && !sub.connected()) ec = make_error_code(Errc::kDisconnected);
              h(ec);
            }));
      },
      token);
}

}  // namespace detail

// Completes when sub may have data (take() until it returns nullopt, then wait again). It
// announces the sleep with the subscriber's handshake (prepare_wait), so the router writes
// the eventfd; it completes at once (posted) if data is already queued.
template <class T, class Token>
auto async_wait(::asio::posix::stream_descriptor& sd, Subscriber<T>& sub, Token&& token) {
  return detail::async_wait_renewing(sd, sub, nullptr, std::forward<Token>(token));
}

namespace detail {

template <class T, class Handler>
class AsyncTakeOp {
 public:
  AsyncTakeOp(::asio::posix::stream_descriptor& sd, Subscriber<T>& sub, std::uint64_t* seen,
              Handler h)
      : sd_(&sd), sub_(&sub), seen_(seen), handler_(std::move(h)) {}

  void start() {
    auto r = sub_->try_take();
    if (!r) return complete(make_error_code(r.error().code), Sample<T>());
    if (*r) return complete(std::error_code(), std::move(**r));
    if (!sub_->connected()) return complete(make_error_code(Errc::kDisconnected), Sample<T>());
    Subscriber<T>& sub = *sub_;
    ::asio::posix::stream_descriptor& sd = *sd_;
    std::uint64_t* seen = seen_;
    async_wait_renewing(sd, sub, seen, std::move(*this));
  }
  // The wait completed: try again (a wake-up may be spurious).
  void operator()(std::error_code ec) {
    if (ec) return complete(ec, Sample<T>());
    start();
  }

 private:
  void complete(std::error_code ec, Sample<T> s) {
    // Always posted, never run inside the initiating call (Asio's rule for completions).
    auto ex = ::asio::get_associated_executor(handler_, sd_->get_executor());
    ::asio::post(
        ex, [h = std::move(handler_), ec, s = std::move(s)]() mutable { h(ec, std::move(s)); });
  }

  ::asio::posix::stream_descriptor* sd_;
  Subscriber<T>* sub_;
  std::uint64_t* seen_;  // renew sd_ when the subscriber rebinds (AsioSubscriber), or null
  Handler handler_;
};

template <class T, class Token>
auto async_take_renewing(::asio::posix::stream_descriptor& sd, Subscriber<T>& sub,
                         std::uint64_t* seen, Token&& token) {
  return ::asio::async_initiate<Token, void(std::error_code, Sample<T>)>(
      [&sd, &sub, seen](auto handler) {
        detail::AsyncTakeOp<T, decltype(handler)>(sd, sub, seen, std::move(handler)).start();
      },
      token);
}

}  // namespace detail

// Completes with the next sample, waiting for one if the queue is empty.
template <class T, class Token>
auto async_take(::asio::posix::stream_descriptor& sd, Subscriber<T>& sub, Token&& token) {
  return detail::async_take_renewing(sd, sub, nullptr, std::forward<Token>(token));
}

// A subscriber with its own descriptor: the convenient form.
template <class T = void>
class AsioSubscriber {
 public:
  template <class Executor>
  AsioSubscriber(const Executor& ex, Subscriber<T>& sub)
      : sub_(&sub), sd_(make_wait_descriptor(ex, sub)), seen_(sub.rebinds()) {}

  // Both renew the descriptor after a daemon restart (see the top of this file).
  template <class Token>
  auto async_wait(Token&& token) {
    return detail::async_wait_renewing(sd_, *sub_, &seen_, std::forward<Token>(token));
  }
  template <class Token>
  auto async_take(Token&& token) {
    return detail::async_take_renewing(sd_, *sub_, &seen_, std::forward<Token>(token));
  }
  // Ends pending waits with asio::error::operation_aborted.
  void cancel() { sd_.cancel(); }
  Subscriber<T>& subscriber() noexcept { return *sub_; }
  ::asio::posix::stream_descriptor& descriptor() noexcept { return sd_; }

 private:
  Subscriber<T>* sub_;
  ::asio::posix::stream_descriptor sd_;
  std::uint64_t seen_;  // sub_->rebinds() when sd_ was last pointed at its eventfd
};

}  // namespace zcp
