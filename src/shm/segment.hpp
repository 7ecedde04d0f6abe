// Segment: one named POSIX shared-memory object per instance ("/zcp.<instance>.seg"), holding
// a SegmentHeader (one page) and the regions its table lists. The daemon creates it; clients
// map it from the fd the daemon sends over the socket, or by name (tools).
//
// Attaching happens in stages (open, stat, map, magic, version, size, state, regions), and
// each failure is its own error code with a message naming the segment and what was
// expected against what was found.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

#include <zcp/expected.hpp>

#include "shm/chunk_pool.hpp"
#include "shm/heartbeat_pool.hpp"
#include "shm/layout.hpp"
#include "shm/stats.hpp"

namespace zcp::shm {

struct SegmentConfig {
  ChunkPoolConfig pools = ChunkPoolConfig::defaults();
  std::uint32_t heartbeat_slots = kDefaultHeartbeatSlots;
  // Bytes for rings and subscriber queues. Too small refuses new publishers/subscribers;
  // pages are only backed when touched (unless prefaulted), so a generous arena is cheap.
  std::uint64_t queue_arena_bytes = 32ULL << 20;
  mode_t mode = 0660;
  bool prefault = false;       // MAP_POPULATE: no page faults on the hot path later
  bool lock = false;           // mlock: never paged out (may be refused: RLIMIT_MEMLOCK)
  StatsConfig stats;           // the stats region's tables (process_slots 0: heartbeat_slots)
  std::string daemon_version;  // written into the stats header
};

// Where each region goes for a config: the same function sizes the segment for the daemon
// and for `zcp info`-style reporting.
struct SegmentPlan {
  RegionEntry heartbeat;
  RegionEntry pool;
  RegionEntry queue_arena;
  RegionEntry stats;
  std::uint64_t total_size;
};
Expected<SegmentPlan, std::string> plan_segment(SegmentConfig& cfg);  // normalizes cfg.pools

enum class SegmentErrc : std::uint8_t {
  kCreate,     // shm_open(O_CREAT)/ftruncate/fchmod failed
  kLiveOwner,  // the name belongs to a segment whose creator is still running
  kOpen,       // shm_open failed (no daemon? permissions?)
  kStat,
  kTooSmall,         // smaller than a header
  kMap,              // mmap failed
  kBadMagic,         // not a zerocp segment, or not yet initialised
  kVersionMismatch,  // created by a daemon with another layout version
  kSizeMismatch,     // header's total_size differs from the object's size
  kNotReady,         // still initialising or shutting down
  kBadRegions,       // region table out of bounds, overlapping, or a region fails to attach
};

struct SegmentError {
  SegmentErrc code;
  int err = 0;  // errno where a system call failed
  std::string message;
};

class Segment {
 public:
  Segment() = default;
  Segment(Segment&& o) noexcept;
  Segment& operator=(Segment&& o) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  // Creates and formats the segment `name` for `instance`. If the name exists and its creator
  // is dead (a crashed daemon), the leftover is removed first; if the creator lives, fails
  // with kLiveOwner. The created segment is unlinked when this object is destroyed.
  static Expected<Segment, SegmentError> create(const std::string& name, std::string_view instance,
                                                SegmentConfig cfg);
  // Maps an existing segment by name.
  static Expected<Segment, SegmentError> open(const std::string& name, bool writable = true);
  // Maps a segment from an fd (received over the socket); takes ownership of fd.
  static Expected<Segment, SegmentError> attach_fd(int fd, const std::string& name,
                                                   bool writable = true);

  enum class Leftover : std::uint8_t { kNone, kRemovedStale, kLiveOwner };
  // Looks at an existing object called `name`: removes it if its creator is gone.
  static Leftover remove_if_stale(const std::string& name, pid_t* owner = nullptr);

  std::byte* base() const noexcept { return base_; }
  std::uint64_t size() const noexcept { return size_; }
  int fd() const noexcept { return fd_; }
  const std::string& name() const noexcept { return name_; }
  const SegmentHeader& header() const noexcept { return *reinterpret_cast<SegmentHeader*>(base_); }
  std::optional<RegionEntry> region(RegionKind kind) const noexcept;
  ChunkPool& pool() noexcept { return pool_; }
  HeartbeatPool& heartbeats() noexcept { return heartbeats_; }
  // The stats region (valid() is false only for a segment without one).
  const StatsRegion& stats() const noexcept { return stats_; }
  // Empty unless mlock was asked for and refused (the daemon reports it).
  const std::string& lock_problem() const noexcept { return lock_problem_; }

  void set_state(SegmentState s) noexcept;
  // Removes the name now (the mapping stays valid). Called by the owner at shutdown.
  void unlink() noexcept;

 private:
  static Expected<Segment, SegmentError> map_and_check(int fd, const std::string& name,
                                                       bool writable);
  void reset() noexcept;

  std::byte* base_ = nullptr;
  std::uint64_t size_ = 0;
  int fd_ = -1;
  std::string name_;
  bool owner_ = false;
  ChunkPool pool_;
  HeartbeatPool heartbeats_;
  StatsRegion stats_;
  std::string lock_problem_;
};

const char* to_string(SegmentErrc c) noexcept;

// /proc/<pid>/stat starttime (clock ticks since boot), or 0 if the process does not exist.
std::uint64_t process_start_time(pid_t pid) noexcept;
// True if `pid` runs and started at `start_time` (0: any start time).
bool process_alive(pid_t pid, std::uint64_t start_time) noexcept;

}  // namespace zcp::shm
