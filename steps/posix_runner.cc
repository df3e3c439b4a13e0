#include "steps/posix_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

// Boost.Process v1 only compiles its vfork path where the C library declares
// vfork as an XSI function; glibc declares it under _GNU_SOURCE too.
#define BOOST_POSIX_HAS_VFORK 1
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/posix.hpp>
#include <spdlog/spdlog.h>
#include <cerrno>
#include <filesystem>
#include <chrono>
#include <cstring>
#include <set>

namespace bp = boost::process;

namespace runbook {
namespace {

int g_wake_pipe[2] = {-1, -1};

// sched_setattr(2)'s argument; glibc 2.36 declares neither.
struct SchedAttr {
  uint32_t size = sizeof(SchedAttr);
  uint32_t policy = 0;  // SCHED_OTHER
  uint64_t flags = 0;
  int32_t nice = 0;
  uint32_t priority = 0;
  uint64_t runtime = 0;  // for SCHED_OTHER since Linux 6.12: the slice, in ns; 0 the default
  uint64_t deadline = 0;
  uint64_t period = 0;
};

// The engine sleeps almost all the time and then has ~0.1 ms of work at a
// deadline. With the default slice a busy machine keeps it off the CPU until
// the next tick (4 ms at HZ=250: a timeout's SIGTERM up to 3 ms late, p99,
// in bench/goals.py); a 0.1 ms slice lets it preempt on wakeup. Steps get the
// default back before exec. Older kernels ignore the field; failure is harmless.
void SetSlice(uint64_t ns) {
  SchedAttr attr;
  attr.nice = ::getpriority(PRIO_PROCESS, 0);
  attr.runtime = ns;
  ::syscall(SYS_sched_setattr, 0, &attr, 0);
}

void EnsureWakePipe() {
  if (g_wake_pipe[0] >= 0) return;
  if (::pipe2(g_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) g_wake_pipe[0] = g_wake_pipe[1] = -1;
}

// The bounded tail of one output stream.
struct Tail {
  std::string data;
  bool truncated = false;
  void Append(const char* p, size_t n, size_t limit) {
    data.append(p, n);
    if (data.size() > 2 * limit) {
      data.erase(0, data.size() - limit);
      truncated = true;
    }
  }
  std::string Take(size_t limit) {
    if (data.size() > limit) {
      data.erase(0, data.size() - limit);
      truncated = true;
    }
    return std::move(data);
  }
};

}  // namespace

// CLOCK_MONOTONIC (libstdc++'s steady_clock), in ms rounded up: a deadline
// taken as Now() + timeout is never before the true start + timeout.
int64_t SystemClock::Now() {
  return std::chrono::ceil<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t SystemClock::WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct PosixRunner::Proc {
  pid_t pid = -1;
  int pidfd = -1;
  int out = -1, err = -1;
  size_t limit = 0;
  Tail out_tail, err_tail;
  ~Proc() {
    for (int fd : {pidfd, out, err})
      if (fd >= 0) ::close(fd);
  }
};

PosixRunner::PosixRunner(Clock* clock, std::string private_dir) : clock_(clock), self_pid_(::getpid()) {
  EnsureWakePipe();
  StartReaper(private_dir);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  SetSlice(100000);
}

PosixRunner::~PosixRunner() {
  // No step process outlives the engine.
  for (auto& [handle, p] : procs_) {
    ::kill(-p->pid, SIGKILL);
    ::waitpid(p->pid, nullptr, 0);
  }
  if (timer_fd_ >= 0) ::close(timer_fd_);
  for (auto& [pgid, slot] : slot_of_) slot->store(0);  // killed above: no pid reuse race
  if (reaper_fd_ >= 0) ::close(reaper_fd_);  // EOF: the reaper exits
  if (reaper_pid_ > 0) ::waitpid(reaper_pid_, nullptr, 0);
  if (reaper_slots_) ::munmap(reaper_slots_, kReaperSlots * sizeof(int32_t));
}

// The groups the reaper must kill live in memory shared with it, one slot per
// running step, so registering a step costs no syscall and wakes nobody (a
// pipe message per start and exit cost two context switches per step). The
// reaper sleeps on a pipe whose other end only the engine holds: EOF means
// the engine is gone, and it kills every group still in a slot.
void PosixRunner::StartReaper(const std::string& private_dir) {
  void* mem = ::mmap(nullptr, kReaperSlots * sizeof(int32_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ::munmap(mem, kReaperSlots * sizeof(int32_t));
    return;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    ::munmap(mem, kReaperSlots * sizeof(int32_t));
    return;
  }
  if (pid == 0) {
    // The reaper: outlives the engine only long enough to kill its steps.
    ::setpgid(0, 0);  // neither a terminal's Ctrl-C nor a kill of the engine's group reaches it
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::signal(sig, SIG_IGN);
    ::prctl(PR_SET_NAME, "runbook-reaper");
    int null = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);  // hold no terminal or pipe open
    ::dup2(fds[0], 3);
    ::syscall(SYS_close_range, 4u, ~0u, 0u);
    char c;
    while (::read(3, &c, 1) < 0 && errno == EINTR) {
    }
    // EOF: the engine is gone.
    auto* slots = static_cast<std::atomic<int32_t>*>(mem);
    for (size_t i = 0; i < kReaperSlots; ++i)
      if (int32_t g = slots[i].load(); g > 0) ::kill(-g, SIGKILL);
    // Its private folder: what its steps wrote there (outputs that may hold
    // a secret) does not stay behind. After a normal end it is gone already.
    if (!private_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(private_dir, ec);
    }
    ::_exit(0);
  }
  ::close(fds[0]);
  reaper_pid_ = pid;
  reaper_fd_ = fds[1];
  reaper_slots_ = static_cast<std::atomic<int32_t>*>(mem);
}

std::atomic<int32_t>* PosixRunner::ReserveSlot() {
  if (!reaper_slots_) return nullptr;
  size_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else if (next_slot_ < kReaperSlots) {
    slot = next_slot_++;
  } else {
    return nullptr;
  }
  return &reaper_slots_[slot];
}

void PosixRunner::ReleaseSlot(std::atomic<int32_t>* slot) {
  if (!slot) return;
  slot->store(0);
  free_slots_.push_back(static_cast<size_t>(slot - reaper_slots_));
}

void PosixRunner::ForgetGroup(int pgid) {
  auto it = slot_of_.find(pgid);
  if (it == slot_of_.end()) return;
  ReleaseSlot(it->second);
  slot_of_.erase(it);
}

void PosixRunner::Interrupt() {
  if (g_wake_pipe[1] >= 0) {
    char c = 1;
    [[maybe_unused]] ssize_t n = ::write(g_wake_pipe[1], &c, 1);
  }
}

Result<int> PosixRunner::Start(const ProcessSpec& spec) {
  if (spec.argv.empty()) return Status::Invalid("nothing to run");
  std::string exe = spec.argv[0];
  if (exe.find('/') == std::string::npos) {
    auto found = bp::search_path(exe);
    if (found.empty()) return Status::NotFound("command not found: " + exe);
    exe = found.string();
  }
  if (!boost::filesystem::is_directory(spec.workdir))
    return Status::NotFound("working directory " + spec.workdir + " does not exist");
  std::vector<std::string> args(spec.argv.begin() + 1, spec.argv.end());
  // The environment is handed to execve directly: Boost 1.74's
  // basic_environment::find reads past the end of shorter keys (ASan).
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& kv : env_strings) envp.push_back(kv.data());
  envp.push_back(nullptr);
  char** envp_data = envp.data();
  // Both ends close-on-exec from the start: the child's dup2 onto 1 and 2
  // clears the flag on its own copies, and no other step inherits them.
  int out_fds[2], err_fds[2];
  if (::pipe2(out_fds, O_CLOEXEC) != 0) return Status::IOError(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_fds, O_CLOEXEC) != 0) {
    ::close(out_fds[0]);
    ::close(out_fds[1]);
    return Status::IOError(std::string("pipe: ") + std::strerror(errno));
  }
  bp::pipe out_pipe(out_fds[0], out_fds[1]), err_pipe(err_fds[0], err_fds[1]);
  pid_t parent = self_pid_;
  // The step's group is in the reaper's table before the step can start a
  // single process: the child writes its own pid into the slot (shared
  // memory) before it execs, so an engine killed at any moment after the
  // spawn leaves nothing the reaper does not know of.
  std::atomic<int32_t>* slot = ReserveSlot();
  if (reaper_slots_ && !slot) {
    ::close(out_fds[0]), ::close(out_fds[1]), ::close(err_fds[0]), ::close(err_fds[1]);
    return Status::IOError("too many steps running at once (" + std::to_string(kReaperSlots) + ")");
  }
  std::error_code ec;
  bp::child child;
  // vfork, not fork: the child borrows the engine's memory until it execs, so
  // starting a step costs the same whatever the engine's size (fork copied
  // the page tables of the whole engine: ~0.2 ms of a ~1.4 ms step). While the
  // child borrows it, no signal may run one of the engine's handlers in it:
  // every signal is blocked around the vfork, and the child puts back default
  // dispositions and the original mask just before exec.
  sigset_t all, old_mask;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  const sigset_t* restore = &old_mask;
  const std::string std_in = spec.stdin_file.empty() ? "/dev/null" : spec.stdin_file;
  try {
    child = bp::child(
        bp::exe = exe, bp::args = args, bp::start_dir = spec.workdir, bp::std_in < std_in,
        bp::std_out > out_pipe, bp::std_err > err_pipe, ec, bp::posix::use_vfork,
        bp::extend::on_exec_setup = [parent, envp_data, restore, slot](auto& exec) {
          exec.env = envp_data;
          ::setpgid(0, 0);
          if (slot) slot->store(static_cast<int32_t>(::getpid()));
          ::prctl(PR_SET_PDEATHSIG, SIGKILL);
          if (::getppid() != parent) ::_exit(137);  // the engine died before we got here
          for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::signal(sig, SIG_DFL);
          SetSlice(0);  // the step is scheduled like any other process
          ::sigprocmask(SIG_SETMASK, restore, nullptr);
        });
  } catch (const std::exception& e) {
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    ReleaseSlot(slot);
    return Status::IOError(std::string("cannot start ") + exe + ": " + e.what());
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (ec) {
    ReleaseSlot(slot);
    return Status::IOError("cannot start " + exe + " in " + spec.workdir + ": " + ec.message());
  }

  auto p = std::make_unique<Proc>();
  p->pid = child.id();
  child.detach();  // reaped here, through the pidfd
  ::setpgid(p->pid, p->pid);  // also from this side: no window where a kill misses the group
  p->limit = spec.output_limit;
  // Boost closed the write ends once the child started; the read ends are
  // ours, non-blocking (only the engine's end: the step writes blocking).
  for (auto [pipe, fd] : {std::pair{&out_pipe, &p->out}, std::pair{&err_pipe, &p->err}}) {
    *fd = pipe->native_source();
    pipe->assign_source(-1);
    ::fcntl(*fd, F_SETFL, O_RDONLY | O_NONBLOCK);
  }
  if (slot) {
    slot->store(p->pid);  // as the child did; also if it failed before writing
    slot_of_[p->pid] = slot;
  }
  p->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, p->pid, 0));
  if (p->pidfd < 0) {
    ::kill(-p->pid, SIGKILL);
    ::waitpid(p->pid, nullptr, 0);
    ForgetGroup(p->pid);
    return Status::IOError(std::string("pidfd_open: ") + std::strerror(errno));
  }
  spdlog::debug("started {} as pid {}, leader of its own process group", exe, p->pid);
  int handle = next_handle_++;
  procs_[handle] = std::move(p);
  return handle;
}

void PosixRunner::Terminate(int handle) {
  auto it = procs_.find(handle);
  if (it == procs_.end()) return;
  ::kill(-it->second->pid, SIGTERM);
  spdlog::debug("SIGTERM to process group {}", it->second->pid);
}

void PosixRunner::Kill(int handle) {
  auto it = procs_.find(handle);
  if (it == procs_.end()) return;
  ::kill(-it->second->pid, SIGKILL);
  spdlog::debug("SIGKILL to process group {}", it->second->pid);
}

void PosixRunner::Drain(int handle, Proc& p, std::vector<RunnerEvent>* events) {
  char buf[65536];
  for (int* fd : {&p.out, &p.err}) {
    if (*fd < 0) continue;
    while (true) {
      ssize_t n = ::read(*fd, buf, sizeof buf);
      if (n > 0) {
        (fd == &p.out ? p.out_tail : p.err_tail).Append(buf, static_cast<size_t>(n), p.limit);
        if (events) {
          RunnerEvent e;
          e.kind = RunnerEvent::Kind::kOutput;
          e.handle = handle;
          e.is_stderr = fd == &p.err;
          e.data.assign(buf, static_cast<size_t>(n));
          events->push_back(std::move(e));
        }
        continue;
      }
      if (n == 0) {  // EOF
        ::close(*fd);
        *fd = -1;
      }
      break;  // EAGAIN: nothing more for now
    }
  }
}

RunnerEvent PosixRunner::Reap(int handle, Proc& p) {
  int status = 0;
  ::waitpid(p.pid, &status, 0);
  // Whatever the step left in its group goes with it.
  ::kill(-p.pid, SIGKILL);
  ForgetGroup(p.pid);
  RunnerEvent e;
  e.kind = RunnerEvent::Kind::kExit;
  e.handle = handle;
  if (WIFEXITED(status)) {
    e.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
    e.exit_code = 128 + e.signal;
  }
  spdlog::debug("pid {} exited: {}", p.pid, e.signal ? "signal " + std::to_string(e.signal) : "code " + std::to_string(e.exit_code));
  return e;
}

std::vector<RunnerEvent> PosixRunner::Wait(std::optional<int64_t> deadline) {
  std::vector<RunnerEvent> events;
  std::vector<pollfd> fds;
  std::vector<std::pair<int, int>> owners;  // (handle, 0 out | 1 err | 2 pidfd)
  fds.push_back({g_wake_pipe[0], POLLIN, 0});
  owners.push_back({0, -1});
  for (auto& [handle, p] : procs_) {
    if (p->out >= 0) fds.push_back({p->out, POLLIN, 0}), owners.push_back({handle, 0});
    if (p->err >= 0) fds.push_back({p->err, POLLIN, 0}), owners.push_back({handle, 1});
    fds.push_back({p->pidfd, POLLIN, 0});
    owners.push_back({handle, 2});
  }
  // The deadline is an absolute CLOCK_MONOTONIC time on a timerfd: poll's
  // relative timeout in whole ms, computed from a clock read before, could
  // wake up to a ms late (and then some, under load).
  int timeout = -1;
  if (deadline) {
    if (timer_fd_ >= 0 && *deadline > clock_->Now()) {
      itimerspec at{};
      at.it_value.tv_sec = *deadline / 1000;
      at.it_value.tv_nsec = (*deadline % 1000) * 1000000;
      if (::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &at, nullptr) == 0) {
        fds.push_back({timer_fd_, POLLIN, 0});
        owners.push_back({0, -1});
      } else {
        timeout = static_cast<int>(std::max<int64_t>(0, *deadline - clock_->Now()));
      }
    } else {
      timeout = timer_fd_ >= 0 ? 0 : static_cast<int>(std::max<int64_t>(0, *deadline - clock_->Now()));
    }
  }
  int n = ::poll(fds.data(), fds.size(), timeout);
  if (n <= 0) return events;  // timeout, or EINTR: the caller looks at its clock and flags
  if (fds[0].revents) {
    char buf[64];
    while (::read(g_wake_pipe[0], buf, sizeof buf) > 0) {
    }
  }
  std::set<int> readable, exited;
  for (size_t i = 1; i < fds.size(); ++i) {
    if (!fds[i].revents) continue;
    auto [handle, what] = owners[i];
    if (handle == 0) {  // the timer: the caller looks at its clock
      if (spdlog::should_log(spdlog::level::debug)) {
        timespec now{};
        ::clock_gettime(CLOCK_MONOTONIC, &now);
        double late_ms = (now.tv_sec - *deadline / 1000) * 1e3 + now.tv_nsec / 1e6 - (*deadline % 1000);
        spdlog::debug("woke for the deadline {} ms (CLOCK_MONOTONIC) {:.3f} ms after it", *deadline, late_ms);
      }
      continue;
    }
    (what == 2 ? exited : readable).insert(handle);
  }
  for (int handle : readable) Drain(handle, *procs_[handle], &events);
  for (int handle : exited) {
    Proc& p = *procs_[handle];
    RunnerEvent e = Reap(handle, p);
    Drain(handle, p, &events);  // what it wrote before exiting is still in the pipes
    e.out = p.out_tail.Take(p.limit);
    e.err = p.err_tail.Take(p.limit);
    e.truncated = p.out_tail.truncated || p.err_tail.truncated;
    events.push_back(std::move(e));
    procs_.erase(handle);
  }
  return events;
}

}  // namespace runbook
