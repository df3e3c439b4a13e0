#include "state/private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace runbook {

Status CheckOwnPath(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Status::Ok() : Status::IOError(what + " " + path + ": " + std::strerror(errno));
  if (S_ISLNK(st.st_mode))
    return Status::Invalid(what + " " + path + " is a symbolic link: refusing to use it (a link there could "
                           "redirect what runbook writes; replace it with a real folder or file)");
  if (st.st_uid != ::geteuid())
    return Status::Invalid(what + " " + path + " belongs to another user (uid " + std::to_string(st.st_uid) +
                           "): refusing to use it; use your own (--state PATH)");
  return Status::Ok();
}

Status MakeOwnFolder(const std::string& path, const std::string& what) {
  namespace fs = std::filesystem;
  if (Status s = CheckOwnPath(path, what); !s.ok()) return s;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return Status::Ok();
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::exists(parent, ec)) fs::create_directories(parent, ec);
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::IOError("cannot create " + what + " " + path + ": " + std::strerror(errno));
  return CheckOwnPath(path, what);  // what is there now is ours, not a link raced in
}

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  fs::path target(path);
  std::string folder = target.has_parent_path() ? target.parent_path().string() : ".";
  std::string tmpl = (fs::path(folder) / ("." + target.filename().string() + ".XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());  // O_CREAT | O_EXCL, 0600
  if (fd < 0) return Status::IOError("cannot write " + path + ": " + std::strerror(errno));
  struct stat old {};
  if (::lstat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode) && old.st_uid == ::geteuid())
    ::fchmod(fd, old.st_mode & 07777);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmpl.c_str());
      return Status::IOError("cannot write " + path + ": " + std::strerror(n < 0 ? e : ENOSPC));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmpl.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmpl.c_str());
    return Status::IOError("cannot write " + path + ": " + std::strerror(e));
  }
  return Status::Ok();
}

}  // namespace runbook
