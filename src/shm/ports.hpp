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
// Chunks a publisher may hold in its loan ring and its hands; it owns at most that plus what
// its publish ring holds unrouted or unsettled. max_loans is also the loan ring's capacity.
// Too low starves a busy publisher while the router works behind it (loan() waits for
// refills); too high lets one publisher pin many chunks of a shared pool (the router keeps at
// most an eighth of a class ready for one publisher, see Worker::refill).
inline constexpr std::uint32_t kDefaultMaxLoans = 1024;
// Free chunks the router keeps ready in an idle publisher's loan ring; the target doubles
// while the publisher takes them faster than the router comes back. Too low makes the first
// burst after a pause wait for refills; too high parks chunks in idle publishers.
inline constexpr std::uint32_t kLoanPrefill = 16;
// Publish ring capacity: what a publisher may publish before the router has settled (direct
// delivery) or routed it; publish() reports WouldBlock beyond (a block_publisher subscriber
// holding the router back). A publisher nudges the router at half of it, so this also sets
// how rarely the router must run behind a busy publisher: too low makes it run (and, on a small
// host, take a CPU from a client) more often; too high costs 32 bytes a slot per publisher.
inline constexpr std::uint32_t kDefaultPublishRing = 512;
// Samples a subscriber may hold taken (not yet released) at once. The router never lets a
// subscriber own more than queue capacity + this through its own deliveries.
inline constexpr std::uint32_t kDefaultMaxHeld = 16;
// Release-ring slots beyond queue capacity + max_held: what a subscriber may take from direct
// publishers and release between two passes of the router, which runs behind them (about
// half a publish ring per busy publisher). Too low: releases wait in the client's local list
// until the router drains; too high: 12 bytes a slot per subscriber.
inline constexpr std::uint32_t kReleaseSlack = 1024;

}  // namespace zcp::shm
