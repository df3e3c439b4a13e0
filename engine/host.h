// What the engine asks of the machine it runs on, for the run and resume use
// cases (engine/session.h): who and where it is, whether another engine is
// alive, its private folder, the environment and files. Implemented over
// POSIX and /proc by steps/posix_host.h; a fake in tests.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "engine/status.h"
#include "engine/store.h"

namespace runbook {

// This engine process, as recorded as a run's owner.
struct Identity {
  std::string user, host;
  int pid = 0;
  std::string start;  // the process's start time: with the pid, it tells a reused pid apart
};

class Host {
 public:
  virtual ~Host() = default;
  virtual Identity Self() = 0;
  // Whether the engine recorded as `r`'s owner is alive: pid, host and start
  // time all match. Another host's processes cannot be seen: assumed alive.
  virtual bool IsLive(const RunRecord& r) = 0;
  // A new folder only this user can enter, for $RUNBOOK_OUTPUT files.
  virtual Result<std::string> MakePrivateDir() = 0;
  // Removes a private folder: only a real folder (not a link) named as
  // MakePrivateDir names them, owned by this user, on this host.
  virtual void RemovePrivateDir(const std::string& path) = 0;
  virtual std::optional<std::string> Env(const std::string& name) = 0;
  // The engine's own environment, without RUNBOOK_* (those are per run).
  virtual std::map<std::string, std::string> Environment() = 0;
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // The path of this very binary, to run child runbooks.
  virtual std::string SelfExe() = 0;
  // The absolute folder the engine was started in.
  virtual std::string WorkingDir() = 0;
};

}  // namespace runbook
