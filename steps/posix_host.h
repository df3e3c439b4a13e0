// The Host (engine/host.h) of a POSIX machine: $USER or the password
// database, gethostname, /proc/PID/stat for liveness, mkdtemp under
// $TMPDIR for private folders.
//
// Private folders are named runbook-PID-XXXXXX, and the engine that made one
// holds a lock on its .owner file while it lives. Making a folder also
// removes the folders of this user's engines whose lock is free (an engine
// killed before it could record its folder); removing another engine's
// folder (a crashed run's, when its run is taken over) is refused while its
// lock is held.
#pragma once

#include <map>

#include "engine/host.h"

namespace runbook {

class PosixHost : public Host {
 public:
  ~PosixHost() override;
  Identity Self() override;
  bool IsLive(const RunRecord& r) override;
  Result<std::string> MakePrivateDir() override;
  void RemovePrivateDir(const std::string& path) override;
  std::optional<std::string> Env(const std::string& name) override;
  std::map<std::string, std::string> Environment() override;
  Result<std::string> ReadFile(const std::string& path) override;
  std::string SelfExe() override;
  std::string WorkingDir() override;

  // The start time of process `pid` (field 22 of /proc/PID/stat); "" if it
  // is gone or dead (a zombie waiting to be reaped is no owner).
  static std::string ProcStartTime(int pid);

 private:
  std::map<std::string, int> owned_;  // this engine's private folders -> the fd holding their lock
};

}  // namespace runbook
