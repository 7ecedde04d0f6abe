#include "roudi.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace zcp::peers {

namespace {

using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits up to `timeout` for the child to exit; true if it did (or is not ours any more).
bool reap(pid_t pid, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

Status<void> Roudi::start(const RoudiConfig& c) {
  stop();
  config_ = c;
  if (const char* env = std::getenv("IOX_ROUDI");
      env != nullptr && *env != '\0' && binary_ == "/usr/bin/iox-roudi") {
    binary_ = env;
  }
  if (::access(binary_.c_str(), X_OK) != 0) {
    return Failure("RouDi binary " + binary_ +
                   " not found (apt-get install iceoryx, or --roudi PATH)");
  }
  char tmpl[] = "/tmp/iox-perf-roudi-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Failure(std::string("mkdtemp: ") + std::strerror(errno));
  dir_ = tmpl;
  const std::string cfg = dir_ + "/roudi.toml", log = dir_ + "/roudi.log";
  {
    std::ofstream out(cfg);
    out << "# written by iox-perf for one run\n[general]\nversion = "
           "1\n\n[[segment]]\n\n[[segment.mempool]]\n"
        << "size = " << c.chunk_payload << "\ncount = " << c.chunk_count << "\n";
    if (!out) return Failure("cannot write " + cfg);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Failure(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // RouDi dies with us (SIGTERM: it then cleans up after itself).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::setpgid(0, 0);  // Ctrl-C reaches the benchmark, which stops RouDi last
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(binary_.c_str(), binary_.c_str(), "-c", cfg.c_str(), "-l", log_level_.c_str(), nullptr);
    std::fprintf(stderr, "exec %s: %s\n", binary_.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  pid_ = pid;
  // Ready when it says so (iox-roudi prints this line at any log level).
  const auto end = Clock::now() + std::chrono::seconds(15);
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::string text = read_file(log);
      std::string hint =
          text.find("lock") != std::string::npos || text.find("already") != std::string::npos
              ? " (is another RouDi running? iceoryx allows one per host)"
              : "";
      stop();
      return Failure("RouDi exited during start-up" + hint + ": " + text);
    }
    if (read_file(log).find("RouDi is ready for clients") != std::string::npos) return {};
    if (Clock::now() >= end) {
      std::string text = read_file(log);
      stop();
      return Failure("RouDi did not get ready within 15 s: " + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Roudi::stop() noexcept {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (!reap(pid_, std::chrono::seconds(10))) {
      std::fprintf(stderr, "iox-perf: RouDi (pid %d) ignored SIGTERM for 10 s; killing it\n",
                   static_cast<int>(pid_));
      ::kill(pid_, SIGKILL);
      (void)reap(pid_, std::chrono::seconds(5));
    }
    pid_ = -1;
    remove_leftovers();
  }
  if (!dir_.empty()) {
    std::remove((dir_ + "/roudi.toml").c_str());
    std::remove((dir_ + "/roudi.log").c_str());
    ::rmdir(dir_.c_str());
    dir_.clear();
  }
}

// What a RouDi (or an app) that did not shut down cleanly leaves behind: the management and
// data segments, RouDi's socket and locks, and our apps' sockets. Called only after our own
// RouDi exited (nothing else may use these names meanwhile: one RouDi per host).
void Roudi::remove_leftovers() noexcept {
  std::vector<std::string> paths = {"/dev/shm/iceoryx_mgmt", "/tmp/roudi", "/tmp/roudi.lock",
                                    "/tmp/iox-unique-roudi.lock"};
  if (const group* g = ::getgrgid(::getegid()); g != nullptr)
    paths.push_back(std::string("/dev/shm/") + g->gr_name);
  glob_t gl{};
  if (::glob("/tmp/ioxperf_*", 0, nullptr, &gl) == 0) {
    for (std::size_t i = 0; i < gl.gl_pathc; ++i)
      paths.emplace_back(gl.gl_pathv[i]);
  }
  ::globfree(&gl);
  for (const auto& p : paths) {
    if (::unlink(p.c_str()) == 0)
      std::fprintf(stderr, "iox-perf: removed leftover %s\n", p.c_str());
  }
}

std::string Roudi::describe() const {
  return "iceoryx 2.0.3, RouDi " + binary_ + ", one mempool of " +
         std::to_string(config_.chunk_count) + " x " + std::to_string(config_.chunk_payload) +
         " B chunks";
}

}  // namespace zcp::peers
