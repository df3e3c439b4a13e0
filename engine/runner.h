// The executor's view of processes (ninja's CommandRunner / SubprocessSet)
// and of time. Real implementations: steps/posix_runner.h (Boost.Process,
// one process group per step), steps/dry_run_runner.h (starts nothing). The
// test double in tests/fakes.h scripts exits and advances a fake clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"

namespace runbook {

// Milliseconds. Now() is monotonic (deadlines); WallMs() is the epoch time
// that gets recorded.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t Now() = 0;
  virtual int64_t WallMs() = 0;
};

struct ProcessSpec {
  std::vector<std::string> argv;             // argv[0] is run as given (an absolute path or on PATH)
  std::map<std::string, std::string> env;    // the whole environment
  std::string workdir;
  size_t output_limit = 1 << 20;             // per stream; the tail is kept
  std::string display;                       // what a dry run shows instead of argv
  std::string stdin_file;                    // read as standard input; "" is /dev/null
};

struct RunnerEvent {
  enum class Kind { kOutput, kExit };
  Kind kind = Kind::kExit;
  int handle = 0;
  // kOutput: a chunk as it arrived.
  bool is_stderr = false;
  std::string data;
  // kExit: the whole captured output (tail) and how it ended.
  int exit_code = 0;   // 128 + signal when killed by one
  int signal = 0;
  std::string out, err;
  bool truncated = false;
  bool simulated = false;  // a dry run's pretend exit
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Starts a process in a process group of its own. Returns its handle.
  virtual Result<int> Start(const ProcessSpec& spec) = 0;
  // SIGTERM / SIGKILL to the handle's whole process group.
  virtual void Terminate(int handle) = 0;
  virtual void Kill(int handle) = 0;
  // Blocks until output arrives, a process exits, `deadline` (Clock::Now
  // scale) passes, or Interrupt() is called; returns what happened (maybe
  // nothing). When a process's main command exits, whatever it left running
  // in its group is killed: no step leaves processes behind.
  virtual std::vector<RunnerEvent> Wait(std::optional<int64_t> deadline) = 0;
  virtual int running() const = 0;
};

}  // namespace runbook
