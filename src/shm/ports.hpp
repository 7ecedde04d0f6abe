// The data-path contract: which rings connect a publisher or a subscriber to the router, who
// writes each, and what travels through them. Both libzcp and the router include this file;
// docs/router.md explains the design.
//
// The rule behind it: clients never write shared allocator state. Every chunk is, at every
// instant, owned by exactly one of: the pool's free list, the router (mid-route, or as
// history), a publisher port, or a subscriber port; and the daemon records ownership in its
// private memory, where no client can reach. A client that dies at any instruction, or
// writes garbage into its rings, therefore cannot leak a chunk or corrupt another port.
//
//   publisher port                                  subscriber port
//   ──────────────                                  ───────────────
//   loan ring   SPSC<ChunkRef>      router → pub    queue         MPMC<MessageHeader> router → sub
//   publish ring SPSC<MessageHeader> pub → router   release ring  SPSC<ChunkRef>      sub → router
//
// - The router keeps each publisher's loan ring topped up with free chunks of the publisher's
//   pool class. loan() pops one; an unpublished Loan goes back through the publish ring with
//   kMsgReturn set. Publishing pushes the reference into the publish ring.
// - The router pops the publish ring, checks that the chunk is one it lent to this publisher,
//   and pushes one MessageHeader into each matching subscriber's queue (policy applies).
// - A subscriber pops its queue (take), reads the payload in place, and on release pushes the
//   ChunkRef into its release ring. The router drains release rings and frees chunks whose
//   last holder released them.
// - Wake-ups: a subscriber that sleeps announces it on its queue's WaitWord; the router writes
//   the subscriber's eventfd. A router worker that parks announces it on every publish ring it
//   serves; a publisher that finds the announcement writes the worker's doorbell eventfd.
#pragma once

#include <cstdint>

#include "shm/layout.hpp"

namespace zcp::shm {

// MessageHeader::flags on the publish ring.
inline constexpr std::uint16_t kMsgReturn = 1U << 0;  // not a publication: give the chunk back

// Ring capacities the router and the library agree on.
//
// A publisher owns every chunk in its loan ring, in its hands, and in its publish ring not yet
// routed; the router never lets that exceed max_loans. Too low starves a bursting publisher
// (loan() fails until the router routes and refills); too high lets one publisher pin many
// chunks of a shared pool.
inline constexpr std::uint32_t kDefaultMaxLoans = 64;
// Free chunks the router keeps ready in an idle publisher's loan ring. Too low makes a burst
// wait for refills; too high parks chunks in idle publishers that others could use.
inline constexpr std::uint32_t kLoanPrefill = 16;
// Publish ring capacity: the routing backlog after which publish() reports WouldBlock (the
// block_publisher policy holding the router back). Smaller than max_loans, so back-pressure
// shows at publish() rather than as a failing loan(). Too low limits the router's batches.
inline constexpr std::uint32_t kDefaultPublishRing = 32;
// Samples a subscriber may hold taken (not yet released) at once. The release ring holds
// queue capacity + this, and the router never lets a subscriber own more chunks than that,
// so a release never finds the ring full.
inline constexpr std::uint32_t kDefaultMaxHeld = 16;

}  // namespace zcp::shm
