#include "steps/posix_host.h"

#include <limits.h>
#include <pwd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace runbook {
std::string ProcStartTimeOf(int pid);

namespace {

namespace fs = std::filesystem;

std::string UserName() {
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return std::to_string(getuid());
}

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// "runbook-PID-XXXXXX": the PID of the engine that made it, or 0 if the name
// is not one of ours.
int OwnerPidOf(const std::string& name) {
  if (name.rfind("runbook-", 0) != 0) return 0;
  size_t dash = name.find('-', 8);
  if (dash == std::string::npos || dash == 8 || name.size() != dash + 7) return 0;
  int pid = 0;
  for (size_t i = 8; i < dash; ++i) {
    if (name[i] < '0' || name[i] > '9' || pid > 10'000'000) return 0;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid;
}

bool OursToRemove(const fs::path& p) {
  struct stat st {};
  if (!OwnerPidOf(p.filename().string()) || ::lstat(p.c_str(), &st) != 0) return false;
  return S_ISDIR(st.st_mode) && st.st_uid == ::getuid();
}

// The engine that made a folder holds a lock on its `.owner` file for as
// long as it lives (a lock outlives no process, and holds across pid
// namespaces sharing the folder): a folder whose lock can be taken has no
// live engine.
bool OwnerGone(const fs::path& dir) {
  int fd = ::open((dir / ".owner").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ProcStartTimeOf(OwnerPidOf(dir.filename().string())).empty();  // made before locks
  bool gone = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return gone;
}

}  // namespace

std::string PosixHost::ProcStartTime(int pid) { return ProcStartTimeOf(pid); }

std::string ProcStartTimeOf(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  for (int i = 3; i <= 22 && fields >> f; ++i) {
    if (i == 3 && (f == "Z" || f == "X")) return "";
  }
  return f;
}

Identity PosixHost::Self() {
  Identity me;
  me.user = UserName();
  me.host = HostName();
  me.pid = static_cast<int>(::getpid());
  me.start = ProcStartTime(me.pid);
  return me;
}

bool PosixHost::IsLive(const RunRecord& r) {
  if (r.owner_host != HostName()) return true;  // another machine's processes cannot be seen: assume live
  if (r.pid <= 0) return false;
  std::string start = ProcStartTime(r.pid);
  return !start.empty() && start == r.owner_start;
}

Result<std::string> PosixHost::MakePrivateDir() {
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  if (ec) tmp = "/tmp";
  // Folders of engines killed before they recorded theirs: nobody else will.
  for (const auto& entry : fs::directory_iterator(tmp, ec))
    if (OursToRemove(entry.path()) && !owned_.count(entry.path().string()) && OwnerGone(entry.path()))
      fs::remove_all(entry.path(), ec);
  std::string tmpl = (tmp / ("runbook-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data()))
    return Status::IOError("cannot create a private folder in " + tmp.string() + ": " + std::strerror(errno));
  int fd = ::open((fs::path(tmpl) / ".owner").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || ::flock(fd, LOCK_EX) != 0) {
    if (fd >= 0) ::close(fd);
    fs::remove_all(tmpl, ec);
    return Status::IOError("cannot lock the private folder " + tmpl + ": " + std::strerror(errno));
  }
  owned_[tmpl] = fd;
  return tmpl;
}

void PosixHost::RemovePrivateDir(const std::string& path) {
  if (path.empty() || !OursToRemove(path)) return;
  auto mine = owned_.find(path);
  if (mine != owned_.end()) {
    ::close(mine->second);
    owned_.erase(mine);
  } else if (!OwnerGone(path)) {
    return;  // another engine's, and it lives
  }
  std::error_code ec;
  fs::remove_all(path, ec);
}

PosixHost::~PosixHost() {
  for (auto& [path, fd] : owned_) ::close(fd);
}

std::optional<std::string> PosixHost::Env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? std::optional<std::string>(v) : std::nullopt;
}

std::map<std::string, std::string> PosixHost::Environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("RUNBOOK_", 0) != 0) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

Result<std::string> PosixHost::ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string PosixHost::SelfExe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "runbook" : p.string();
}

std::string PosixHost::WorkingDir() {
  std::error_code ec;
  return fs::current_path(ec).string();
}

}  // namespace runbook
