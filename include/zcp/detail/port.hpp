// Private plumbing of the public data-path types. Not part of the API: names here may change.
//
// Why pimpl and not inline ring code: Publisher and Subscriber keep their shared-memory views
// (rings, pool, eventfds) in a PublisherPort / SubscriberPort defined in src/client/, so
// the public headers expose no shm layout and there is exactly one implementation of the
// ring protocol (src/shm/). The price is one out-of-line call per loan, publish, take and
// release, about 1-2 ns against the hundreds of ns to tens of µs of a hop
// (docs/performance.md), so inlining would buy nothing measurable. Loan and Sample are small value
// types whose accessors are inline; only their destructors call out (to give the chunk back).
#pragma once

#include <cstdint>

namespace zcp {

template <class T = void>
class Loan;
template <class T = void>
class Sample;
template <class T = void>
class Publisher;
template <class T = void>
class Subscriber;

namespace detail {

// A chunk reference as the public types carry it (shm::ChunkRef without the layout).
struct ChunkToken {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  std::uint16_t pool_class = 0;
  std::uint16_t session = 0;  // the runtime's session (daemon) the chunk belongs to
};

class PublisherPort;   // src/client/publisher_port.hpp
class SubscriberPort;  // src/client/subscriber_port.hpp

// An unpublished loan is dropped: its chunk goes back to the router.
void drop_loan(PublisherPort* port, const ChunkToken& token) noexcept;
// A sample is dropped: its chunk goes into the release ring.
void drop_sample(SubscriberPort* port, const ChunkToken& token) noexcept;

// Builds Loan/Sample objects and reads their private state (src/client only).
struct LoanAccess;
struct SampleAccess;

}  // namespace detail
}  // namespace zcp
