// The Host (engine/host.h) of a POSIX machine: $USER or the password
// database, gethostname, /proc/PID/stat for liveness, mkdtemp under
// $TMPDIR for private folders.
//
// Private folders are named runbook-PID-XXXXXX. Making one also removes the
// folders this user's engines left behind on this host whose PID is no
// longer alive (an engine killed before it could record its folder).
#pragma once

#include "engine/host.h"

namespace runbook {

class PosixHost : public Host {
 public:
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
};

}  // namespace runbook
