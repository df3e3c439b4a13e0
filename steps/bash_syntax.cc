#include "steps/bash_syntax.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "engine/template.h"

namespace runbook {

namespace {

// "FILE: line 3: syntax error near unexpected token `)'" -> {3, "syntax error ..."}.
SyntaxError ParseBashError(const std::string& err) {
  SyntaxError e;
  e.message = "syntax error";
  size_t at = err.find(": line ");
  if (at == std::string::npos) return e;
  e.line = std::atoi(err.c_str() + at + 7);
  if (e.line < 1) e.line = 1;
  size_t colon = err.find(": ", at + 7);
  if (colon == std::string::npos) return e;
  size_t nl = err.find('\n', colon);
  e.message = err.substr(colon + 2, nl == std::string::npos ? std::string::npos : nl - colon - 2);
  if (e.message.size() > 200) e.message = e.message.substr(0, 197) + "...";
  return e;
}

}  // namespace

BashSyntax::BashSyntax(std::string bash) : bash_(std::move(bash)) {
  if (!bash_.empty()) return;
  for (const char* candidate : {"/bin/bash", "/usr/bin/bash"})
    if (access(candidate, X_OK) == 0) {
      bash_ = candidate;
      break;
    }
}

// bash -n on `text`, from a temporary file, with nothing of this process's
// environment (BASH_ENV would make even a syntax check read a file) and no
// startup files.
BashSyntax::Outcome BashSyntax::RunBash(const std::string& text) {
  Outcome o;
  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/runbook-syntax-XXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0) return o;
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  close(fd);
  int pipe_fds[2];
  if (written != text.size() || pipe2(pipe_fds, O_CLOEXEC) != 0) {
    unlink(path.c_str());
    return o;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  std::string norc = "--norc", noprofile = "--noprofile", n = "-n";
  char* argv[] = {bash_.data(), norc.data(), noprofile.data(), n.data(), path.data(), nullptr};
  std::string env_path = "PATH=/usr/bin:/bin", env_lang = "LC_ALL=C";
  char* envp[] = {env_path.data(), env_lang.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, bash_.c_str(), &actions, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (rc == 0) {
    ++processes_;
    char buf[4096];
    for (ssize_t got; (got = read(pipe_fds[0], buf, sizeof buf)) != 0;) {
      if (got < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (o.err.size() < 65536) o.err.append(buf, static_cast<size_t>(got));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    o.ran = WIFEXITED(status);
    o.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  close(pipe_fds[0]);
  unlink(path.c_str());
  return o;
}

void BashSyntax::CheckRange(const std::vector<std::string>& scripts, const std::vector<size_t>& which,
                            std::vector<std::optional<SyntaxError>>* out) {
  if (which.empty()) return;
  if (which.size() == 1) {
    Outcome o = RunBash(scripts[which[0]]);
    if (o.ran && o.status != 0) (*out)[which[0]] = ParseBashError(o.err);
    return;
  }
  // Each script the body of its own function: one parse for all of them. A
  // script that cannot end its function (a trailing '\', an open heredoc)
  // fails the batch, and is then judged alone, as bash reads it.
  std::string batch;
  for (size_t i : which)
    batch += "runbook_check_" + std::to_string(i) + "() {\n:\n" + scripts[i] + "\n}\n";
  Outcome o = RunBash(batch);
  if (!o.ran || o.status == 0) return;
  size_t half = which.size() / 2;
  CheckRange(scripts, std::vector<size_t>(which.begin(), which.begin() + static_cast<long>(half)), out);
  CheckRange(scripts, std::vector<size_t>(which.begin() + static_cast<long>(half), which.end()), out);
}

std::vector<std::optional<SyntaxError>> BashSyntax::Check(const std::vector<std::string>& scripts) {
  std::vector<std::optional<SyntaxError>> out(scripts.size());
  if (!available()) return out;
  // A script that leaves a quote, a substitution or a here-document open
  // would read the scripts after it as its own: it is checked alone.
  std::vector<size_t> which;
  for (size_t i = 0; i < scripts.size(); ++i) {
    if (scripts[i].find_first_not_of(" \t\n") == std::string::npos) continue;
    if (ShellTextCloses(scripts[i]))
      which.push_back(i);
    else
      CheckRange(scripts, {i}, &out);
  }
  CheckRange(scripts, which, &out);
  return out;
}

}  // namespace runbook
