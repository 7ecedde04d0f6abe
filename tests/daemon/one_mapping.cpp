// One address per shared-memory object in this test process.
//
// ThreadSanitizer keeps its shadow state per virtual address. In a test that runs the daemon
// and its clients in one process, the daemon maps its segment and every Runtime maps it again
// from the descriptor it is sent: the same bytes at several addresses. TSan would then see a
// publisher's push into a subscriber queue (through its Runtime's mapping) and the router's
// read of that queue (through the daemon's) as accesses to unrelated memory, and could never
// report a race between the two sides of the shared memory.
//
// So this binary interposes mmap and munmap: a MAP_SHARED mapping of a whole regular file
// (offset 0, the file's full length) that this process already maps with at least the asked
// protection returns the existing address, counted; munmap of that address unmaps it only
// at the last count. Every other call goes straight on to the next definition (the
// sanitizer's interceptor, which keeps its shadow memory right, or libc's). The product code is
// unchanged: it sees what separate processes see, one object and the same bytes, only at one
// address.
//
// The sanitizer runtime itself calls mmap and munmap (its symbolizer reads the binary), also
// while it starts, before it can run instrumented code, and these definitions take those calls
// too. So this file is compiled without sanitizers (tests/daemon/CMakeLists.txt), and uses no
// function-local statics (their guards are intercepted) and no allocation: constant-initialised
// globals only.
#include <atomic>
#include <cstddef>
#include <mutex>

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/stat.h>

namespace {

using MmapFn = void* (*)(void*, std::size_t, int, int, int, off_t);
using MunmapFn = int (*)(void*, std::size_t);

// The next definitions, looked up on first use. relaxed: every thread that looks finds the
// same value, so a racing second lookup only repeats the first.
constinit std::atomic<MmapFn> g_next_mmap{nullptr};
constinit std::atomic<MunmapFn> g_next_munmap{nullptr};

MmapFn next_mmap() noexcept {
  MmapFn fn = g_next_mmap.load(std::memory_order_relaxed);
  if (fn == nullptr) {
    fn = reinterpret_cast<MmapFn>(::dlsym(RTLD_NEXT, "mmap"));
    g_next_mmap.store(fn, std::memory_order_relaxed);
  }
  return fn;
}

MunmapFn next_munmap() noexcept {
  MunmapFn fn = g_next_munmap.load(std::memory_order_relaxed);
  if (fn == nullptr) {
    fn = reinterpret_cast<MunmapFn>(::dlsym(RTLD_NEXT, "munmap"));
    g_next_munmap.store(fn, std::memory_order_relaxed);
  }
  return fn;
}

// Looks both up once this file's constructors run, after the sanitizer started: a lookup made
// later, from inside the sanitizer (its symbolizer unmaps the files it read while it writes a
// report), would run dlsym there, which frees with the wrong allocator. A call made while the
// sanitizer starts, before this, looks up lazily above.
[[gnu::constructor(101)]] void resolve_next() noexcept {
  (void)next_mmap();
  (void)next_munmap();
}

struct SharedMapping {
  dev_t dev;
  ino_t ino;
  void* base;
  std::size_t length;
  int prot;
  unsigned users;  // 0: the entry is free
};

// A test maps a handful of segments at once (a daemon's, a reconnect's); past this many, a
// mapping is simply not shared.
constexpr std::size_t kMaxShared = 32;
constinit std::mutex g_mutex;  // guards g_table
constinit SharedMapping g_table[kMaxShared] = {};

}  // namespace

extern "C" void* mmap(void* addr, std::size_t length, int prot, int flags, int fd,
                      off_t offset) noexcept {
  if (addr != nullptr || fd < 0 || offset != 0 || (flags & MAP_TYPE) != MAP_SHARED ||
      (flags & MAP_FIXED) != 0) {
    return next_mmap()(addr, length, prot, flags, fd, offset);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<off_t>(length) != st.st_size) {
    return next_mmap()(addr, length, prot, flags, fd, offset);
  }
  std::lock_guard lk(g_mutex);
  SharedMapping* free_entry = nullptr;
  for (SharedMapping& m : g_table) {
    if (m.users == 0) {
      if (free_entry == nullptr) free_entry = &m;
      continue;
    }
    if (m.dev == st.st_dev && m.ino == st.st_ino && m.length == length && (m.prot & prot) == prot) {
      ++m.users;
      return m.base;
    }
  }
  void* p = next_mmap()(addr, length, prot, flags, fd, offset);
  if (p != MAP_FAILED && free_entry != nullptr)
    *free_entry = {st.st_dev, st.st_ino, p, length, prot, 1};
  return p;
}

extern "C" int munmap(void* addr, std::size_t length) noexcept {
  {
    std::lock_guard lk(g_mutex);
    for (SharedMapping& m : g_table) {
      if (m.users == 0 || m.base != addr || m.length != length) continue;
      if (--m.users > 0) return 0;  // others still use it
      break;                        // the last user: unmap it for real
    }
  }
  return next_munmap()(addr, length);
}
