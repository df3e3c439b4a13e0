// Runs step processes with Boost.Process (v1). The only code that includes it.
//
// Each process is the leader of a new process group, so that a timeout or an
// interrupt reaches everything the step started (SIGTERM, then SIGKILL to the
// group). Its exit is noticed through a pidfd, not through EOF on its pipes,
// so a backgrounded grandchild holding the pipes cannot hang the engine.
// When the leader exits, anything left in its group is killed. The leader
// gets SIGKILL if the engine dies (PR_SET_PDEATHSIG), and so does everything
// else in its group: a reaper process, forked when the runner is made, shares
// a table of the running groups with the engine and holds the read end of a
// pipe only the engine writes to; when the engine dies, even by SIGKILL, the
// pipe closes and the reaper SIGKILLs every group still in the table.
// Destroying the runner kills every group still running.
//
// Interrupt(): an async-signal-safe way to wake Wait() from a signal handler.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "engine/runner.h"

namespace runbook {

class SystemClock : public Clock {
 public:
  int64_t Now() override;
  int64_t WallMs() override;
};

class PosixRunner : public ProcessRunner {
 public:
  // `private_dir`: the engine's private folder (a step's $RUNBOOK_OUTPUT
  // file may hold a secret): should the engine die, the reaper removes it
  // after stopping the steps.
  explicit PosixRunner(Clock* clock, std::string private_dir = "");
  ~PosixRunner() override;

  Result<int> Start(const ProcessSpec& spec) override;
  void Terminate(int handle) override;
  void Kill(int handle) override;
  std::vector<RunnerEvent> Wait(std::optional<int64_t> deadline) override;
  int running() const override { return static_cast<int>(procs_.size()); }

  // Wakes Wait(); safe to call from a signal handler.
  static void Interrupt();

 private:
  struct Proc;
  void Drain(int handle, Proc& p, std::vector<RunnerEvent>* events);
  RunnerEvent Reap(int handle, Proc& p);

  void StartReaper(const std::string& private_dir);
  std::atomic<int32_t>* ReserveSlot();  // a free slot of the reaper's table, or null
  void ReleaseSlot(std::atomic<int32_t>* slot);
  void ForgetGroup(int pgid);  // the group ended: its slot is free again

  Clock* clock_;
  pid_t self_pid_;  // the engine: a step whose parent is another has lost it
  std::map<int, std::unique_ptr<Proc>> procs_;
  static constexpr size_t kReaperSlots = 65536;  // steps running at once; pages touched only as used
  int reaper_pid_ = -1;
  int reaper_fd_ = -1;
  std::atomic<int32_t>* reaper_slots_ = nullptr;  // shared with the reaper: pgids, 0 = free
  std::vector<size_t> free_slots_;
  size_t next_slot_ = 0;
  std::map<int, std::atomic<int32_t>*> slot_of_;  // pgid -> its slot
  int timer_fd_ = -1;
  int next_handle_ = 1;
};

}  // namespace runbook
