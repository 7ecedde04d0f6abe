#include "shm/segment.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "common/sys.hpp"
#include "shm/atomic.hpp"

namespace zcp::shm {

namespace {

constexpr std::uint64_t kPage = 4096;

SegmentError seg_error(SegmentErrc code, int err, std::string msg) {
  if (err) msg += std::string(": ") + std::strerror(err);
  return SegmentError{code, err, std::move(msg)};
}

RegionEntry region_entry(RegionKind kind, std::uint64_t offset, std::uint64_t size) {
  return RegionEntry{static_cast<std::uint32_t>(kind), 0, offset, size, 0};
}

}  // namespace

const char* to_string(SegmentErrc c) noexcept {
  switch (c) {
    case SegmentErrc::kCreate:
      return "create failed";
    case SegmentErrc::kLiveOwner:
      return "owned by a live process";
    case SegmentErrc::kOpen:
      return "open failed";
    case SegmentErrc::kStat:
      return "stat failed";
    case SegmentErrc::kTooSmall:
      return "too small";
    case SegmentErrc::kMap:
      return "map failed";
    case SegmentErrc::kBadMagic:
      return "bad magic";
    case SegmentErrc::kVersionMismatch:
      return "layout version mismatch";
    case SegmentErrc::kSizeMismatch:
      return "size mismatch";
    case SegmentErrc::kNotReady:
      return "not ready";
    case SegmentErrc::kBadRegions:
      return "bad region table";
  }
  return "unknown";
}

std::uint64_t process_start_time(pid_t pid) noexcept {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "re");
  if (!f) return 0;
  char buf[1024];
  std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name (field 2) may contain spaces and ')': fields resume after the last ')'.
  char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  // After ") " come fields 3.. ; starttime is field 22, i.e. the 20th after the ')'.
  int field = 2;
  for (char* q = p + 1; *q; ++q) {
    if (*q == ' ') {
      ++field;
      if (field == 22) return std::strtoull(q + 1, nullptr, 10);
    }
  }
  return 0;
}

bool process_alive(pid_t pid, std::uint64_t start_time) noexcept {
  if (pid <= 0) return false;
  auto r = sys::call(::kill, pid, 0);
  if (!r.ok() && r.err != EPERM) return false;  // EPERM: it exists, owned by someone else
  if (start_time == 0) return true;
  return process_start_time(pid) == start_time;
}

Expected<SegmentPlan, std::string> plan_segment(SegmentConfig& cfg) {
  if (auto p = cfg.pools.normalize()) return Unexpected(*p);
  if (cfg.heartbeat_slots == 0 || cfg.heartbeat_slots > kMaxHeartbeatSlots) {
    return Unexpected("heartbeat slots " + std::to_string(cfg.heartbeat_slots) +
                      " out of range 1.." + std::to_string(kMaxHeartbeatSlots));
  }
  if (cfg.queue_arena_bytes < kPage) {
    return Unexpected("queue arena of " + std::to_string(cfg.queue_arena_bytes) +
                      " bytes is smaller than one page");
  }
  SegmentPlan plan{};
  std::uint64_t at = kSegmentHeaderBytes;
  std::uint64_t hb = align_up(HeartbeatPool::region_bytes(cfg.heartbeat_slots), kPage);
  plan.heartbeat = region_entry(RegionKind::kHeartbeat, at, hb);
  at += hb;
  std::uint64_t pool = align_up(cfg.pools.region_bytes(), kPage);
  plan.pool = region_entry(RegionKind::kChunkPool, at, pool);
  at += pool;
  std::uint64_t arena = align_up(cfg.queue_arena_bytes, kPage);
  plan.queue_arena = region_entry(RegionKind::kQueueArena, at, arena);
  at += arena;
  if (cfg.stats.process_slots == 0) cfg.stats.process_slots = cfg.heartbeat_slots;
  if (cfg.stats.worker_slots == 0 || cfg.stats.topic_slots == 0 || cfg.stats.publisher_slots == 0 ||
      cfg.stats.subscriber_slots == 0) {
    return Unexpected(std::string("stats tables need at least one slot each"));
  }
  std::uint64_t stats = StatsRegion::region_bytes(cfg.stats);
  plan.stats = region_entry(RegionKind::kStats, at, stats);
  at += stats;
  plan.total_size = at;
  return plan;
}

Segment::Segment(Segment&& o) noexcept {
  *this = std::move(o);
}

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    reset();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    fd_ = std::exchange(o.fd_, -1);
    name_ = std::move(o.name_);
    owner_ = std::exchange(o.owner_, false);
    pool_ = o.pool_;
    heartbeats_ = o.heartbeats_;
    stats_ = o.stats_;
    lock_problem_ = std::move(o.lock_problem_);
  }
  return *this;
}

Segment::~Segment() {
  reset();
}

void Segment::reset() noexcept {
  if (base_) ::munmap(base_, size_);
  if (fd_ >= 0) ::close(fd_);
  if (owner_ && !name_.empty()) ::shm_unlink(name_.c_str());
  base_ = nullptr;
  size_ = 0;
  fd_ = -1;
  owner_ = false;
}

void Segment::unlink() noexcept {
  if (owner_ && !name_.empty()) ::shm_unlink(name_.c_str());
  owner_ = false;
}

Segment::Leftover Segment::remove_if_stale(const std::string& name, pid_t* owner) {
  auto fd = sys::call(::shm_open, name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (!fd.ok()) return Leftover::kNone;
  sys::UniqueFd guard(static_cast<int>(fd.value));
  struct stat st {};
  pid_t pid = 0;
  std::uint64_t start = 0;
  if (sys::call(::fstat, guard.get(), &st).ok() &&
      static_cast<std::uint64_t>(st.st_size) >= sizeof(SegmentHeader)) {
    void* p = ::mmap(nullptr, sizeof(SegmentHeader), PROT_READ, MAP_SHARED, guard.get(), 0);
    if (p != MAP_FAILED) {
      const auto* h = static_cast<const SegmentHeader*>(p);
      // acquire: pairs with the creator's release store of magic; the fields are then whole.
      if (atomic_load(h->magic, std::memory_order_acquire) == kSegmentMagic) {
        pid = h->creator_pid;
        start = h->creator_start_time;
      }
      ::munmap(p, sizeof(SegmentHeader));
    }
  }
  if (pid != 0 && pid != ::getpid() && process_alive(pid, start)) {
    if (owner) *owner = pid;
    return Leftover::kLiveOwner;
  }
  // No readable header (a creator that died mid-initialisation), or a dead creator.
  ::shm_unlink(name.c_str());
  return Leftover::kRemovedStale;
}

Expected<Segment, SegmentError> Segment::create(const std::string& name, std::string_view instance,
                                                SegmentConfig cfg) {
  auto plan = plan_segment(cfg);
  if (!plan)
    return Unexpected(seg_error(SegmentErrc::kCreate, 0, "segment " + name + ": " + plan.error()));

  sys::Result fd{};
  for (int attempt = 0; attempt < 2; ++attempt) {
    fd = sys::call(::shm_open, name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, cfg.mode);
    if (fd.ok() || fd.err != EEXIST) break;
    pid_t live = 0;
    if (remove_if_stale(name, &live) == Leftover::kLiveOwner) {
      return Unexpected(seg_error(SegmentErrc::kLiveOwner, 0,
                                  "segment " + name + " belongs to running process " +
                                      std::to_string(live) +
                                      "; is another diroute serving this instance?"));
    }
  }
  if (!fd.ok())
    return Unexpected(seg_error(SegmentErrc::kCreate, fd.err, "shm_open(O_CREAT) " + name));
  Segment seg;
  seg.fd_ = static_cast<int>(fd.value);
  seg.name_ = name;
  seg.owner_ = true;  // from here on, a failure unlinks the half-made object

  // shm_open's mode is filtered by the umask; set it exactly.
  if (auto r = sys::call(::fchmod, seg.fd_, cfg.mode); !r.ok()) {
    return Unexpected(seg_error(SegmentErrc::kCreate, r.err, "fchmod " + name));
  }
  if (auto r = sys::call(::ftruncate, seg.fd_, static_cast<off_t>(plan->total_size)); !r.ok()) {
    return Unexpected(seg_error(SegmentErrc::kCreate, r.err,
                                "ftruncate " + name + " to " + std::to_string(plan->total_size) +
                                    " bytes (is /dev/shm large enough?)"));
  }
  int flags = MAP_SHARED | (cfg.prefault ? MAP_POPULATE : 0);
  void* p = ::mmap(nullptr, plan->total_size, PROT_READ | PROT_WRITE, flags, seg.fd_, 0);
  if (p == MAP_FAILED) return Unexpected(seg_error(SegmentErrc::kMap, errno, "mmap " + name));
  seg.base_ = static_cast<std::byte*>(p);
  seg.size_ = plan->total_size;
  if (cfg.lock) {
    if (auto r = sys::call(::mlock, p, plan->total_size); !r.ok()) {
      seg.lock_problem_ = "mlock of " + std::to_string(plan->total_size) +
                          " bytes refused: " + std::strerror(r.err) +
                          " (raise RLIMIT_MEMLOCK or run with CAP_IPC_LOCK)";
    }
  }

  auto* h = reinterpret_cast<SegmentHeader*>(seg.base_);
  std::memset(static_cast<void*>(h), 0, sizeof(SegmentHeader));
  h->layout_version = kLayoutVersion;
  h->header_size = sizeof(SegmentHeader);
  h->total_size = plan->total_size;
  h->creator_pid = ::getpid();
  h->creator_start_time = process_start_time(::getpid());
  h->created_realtime_ns = realtime_ns();
  std::snprintf(h->instance, sizeof(h->instance), "%.*s", static_cast<int>(instance.size()),
                instance.data());
  h->regions[0] = plan->heartbeat;
  h->regions[1] = plan->pool;
  h->regions[2] = plan->queue_arena;
  h->regions[3] = plan->stats;
  h->region_count = 4;

  seg.heartbeats_ = HeartbeatPool::format(seg.base_ + plan->heartbeat.offset, cfg.heartbeat_slots);
  seg.pool_ = ChunkPool::format(seg.base_, plan->pool.offset, cfg.pools);
  seg.stats_ = StatsRegion::format(seg.base_ + plan->stats.offset, plan->stats.size, cfg.stats,
                                   ::getpid(), cfg.daemon_version, realtime_ns(), monotonic_ns());
  h->state = static_cast<std::uint32_t>(SegmentState::kReady);
  // release: everything above (header, regions) happens-before any reader that sees the magic
  // with acquire. Readers check the magic first.
  atomic_store(h->magic, kSegmentMagic, std::memory_order_release);
  return seg;
}

Expected<Segment, SegmentError> Segment::open(const std::string& name, bool writable) {
  auto fd = sys::call(::shm_open, name.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
  if (!fd.ok()) {
    std::string hint = fd.err == ENOENT ? " (is diroute running on this instance?)" : "";
    return Unexpected(seg_error(SegmentErrc::kOpen, fd.err, "shm_open " + name + hint));
  }
  return map_and_check(static_cast<int>(fd.value), name, writable);
}

Expected<Segment, SegmentError> Segment::attach_fd(int fd, const std::string& name, bool writable) {
  return map_and_check(fd, name, writable);
}

Expected<Segment, SegmentError> Segment::map_and_check(int fd, const std::string& name,
                                                       bool writable) {
  Segment seg;
  seg.fd_ = fd;
  seg.name_ = name;
  struct stat st {};
  if (auto r = sys::call(::fstat, fd, &st); !r.ok()) {
    return Unexpected(seg_error(SegmentErrc::kStat, r.err, "fstat segment " + name));
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < sizeof(SegmentHeader)) {
    return Unexpected(seg_error(SegmentErrc::kTooSmall, 0,
                                "segment " + name + " is " + std::to_string(size) +
                                    " bytes; a zerocp segment has at least a " +
                                    std::to_string(sizeof(SegmentHeader)) + "-byte header"));
  }
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return Unexpected(seg_error(SegmentErrc::kMap, errno, "mmap segment " + name));
  seg.base_ = static_cast<std::byte*>(p);
  seg.size_ = size;
  const SegmentHeader& h = seg.header();

  // acquire: pairs with the creator's release store; the header is complete once we see it.
  std::uint64_t magic = atomic_load(h.magic, std::memory_order_acquire);
  if (magic != kSegmentMagic) {
    char found[32];
    std::snprintf(found, sizeof(found), "%#llx", static_cast<unsigned long long>(magic));
    return Unexpected(seg_error(SegmentErrc::kBadMagic, 0,
                                "segment " + name + " has magic " + found +
                                    ", expected a zerocp segment (or it is still being created)"));
  }
  if (h.layout_version != kLayoutVersion) {
    return Unexpected(seg_error(SegmentErrc::kVersionMismatch, 0,
                                "segment " + name + " has layout version " +
                                    std::to_string(h.layout_version) + ", this library expects " +
                                    std::to_string(kLayoutVersion) +
                                    "; use a libzcp built from the same release as diroute"));
  }
  if (h.total_size != size || h.header_size != sizeof(SegmentHeader)) {
    return Unexpected(seg_error(SegmentErrc::kSizeMismatch, 0,
                                "segment " + name + " header says " + std::to_string(h.total_size) +
                                    " bytes, the object has " + std::to_string(size)));
  }
  auto state = atomic_load(h.state, std::memory_order_acquire);
  if (state != static_cast<std::uint32_t>(SegmentState::kReady)) {
    return Unexpected(seg_error(SegmentErrc::kNotReady, 0,
                                "segment " + name + " is in state " + std::to_string(state) +
                                    " (not ready: the daemon is starting or shutting down)"));
  }
  if (h.region_count > kMaxRegions) {
    return Unexpected(
        seg_error(SegmentErrc::kBadRegions, 0,
                  "segment " + name + " lists " + std::to_string(h.region_count) + " regions"));
  }
  for (std::uint32_t i = 0; i < h.region_count; ++i) {
    const RegionEntry& r = h.regions[i];
    if (r.offset < sizeof(SegmentHeader) || r.offset > size || r.size > size - r.offset) {
      return Unexpected(seg_error(SegmentErrc::kBadRegions, 0,
                                  "segment " + name + " region " + std::to_string(i) + " [" +
                                      std::to_string(r.offset) + ", +" + std::to_string(r.size) +
                                      ") lies outside its " + std::to_string(size) + " bytes"));
    }
    for (std::uint32_t j = 0; j < i; ++j) {
      const RegionEntry& q = h.regions[j];
      if (r.offset < q.offset + q.size && q.offset < r.offset + r.size) {
        return Unexpected(seg_error(SegmentErrc::kBadRegions, 0,
                                    "segment " + name + " regions " + std::to_string(j) + " and " +
                                        std::to_string(i) + " overlap"));
      }
    }
  }
  if (auto hb = seg.region(RegionKind::kHeartbeat)) {
    auto v = HeartbeatPool::attach(seg.base_ + hb->offset, hb->size);
    if (!v)
      return Unexpected(
          seg_error(SegmentErrc::kBadRegions, 0, "segment " + name + ": " + v.error()));
    seg.heartbeats_ = *v;
  }
  if (auto pr = seg.region(RegionKind::kChunkPool)) {
    auto v = ChunkPool::attach(seg.base_, pr->offset, pr->size);
    if (!v)
      return Unexpected(
          seg_error(SegmentErrc::kBadRegions, 0, "segment " + name + ": " + v.error()));
    seg.pool_ = *v;
  }
  if (auto sr = seg.region(RegionKind::kStats)) {
    auto v = StatsRegion::attach(seg.base_ + sr->offset, sr->size);
    if (!v)
      return Unexpected(
          seg_error(SegmentErrc::kBadRegions, 0, "segment " + name + ": " + v.error()));
    seg.stats_ = *v;
  }
  return seg;
}

std::optional<RegionEntry> Segment::region(RegionKind kind) const noexcept {
  const SegmentHeader& h = header();
  for (std::uint32_t i = 0; i < h.region_count && i < kMaxRegions; ++i) {
    if (h.regions[i].kind == static_cast<std::uint32_t>(kind)) return h.regions[i];
  }
  return std::nullopt;
}

void Segment::set_state(SegmentState s) noexcept {
  // release: what the daemon did before changing state is visible to readers that see it.
  atomic_store(reinterpret_cast<SegmentHeader*>(base_)->state, static_cast<std::uint32_t>(s),
               std::memory_order_release);
}

}  // namespace zcp::shm
