#include "engine/step_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>

#include "engine/regex.h"

namespace runbook {

void Masker::Add(const std::string& secret) {
  if (secret.empty()) return;
  secrets_.push_back(secret);
  // A multi-line secret (a PEM key) reaches the terminal and the JSON events
  // a line at a time: each of its lines is a secret too. Lines of fewer than
  // four characters would mask common text and say little of the secret.
  if (secret.find('\n') != std::string::npos) {
    std::istringstream lines(secret);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.size() >= 4) secrets_.push_back(line);
    }
  }
  std::sort(secrets_.begin(), secrets_.end(), [](auto& a, auto& b) { return a.size() > b.size(); });
}

std::string Masker::Mask(const std::string& text) const {
  std::string out = text;
  for (const auto& s : secrets_) {
    size_t at = 0;
    while ((at = out.find(s, at)) != std::string::npos) {
      out.replace(at, s.size(), "***");
      at += 3;
    }
  }
  return out;
}

bool Masker::Contains(const std::string& text) const {
  return std::any_of(secrets_.begin(), secrets_.end(), [&](auto& s) { return text.find(s) != std::string::npos; });
}

std::vector<std::string> ShellArgv(const std::string& shell, const std::string& script) {
  if (shell == "bash") return {"bash", "-c", "set -eo pipefail\n" + script};
  if (shell == "sh") return {"/bin/sh", "-c", script};
  std::vector<std::string> argv;
  std::istringstream words(shell);
  for (std::string w; words >> w;) argv.push_back(w);
  argv.push_back("-c");
  argv.push_back(script);
  return argv;
}

std::map<std::string, std::string> ParseOutputFile(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

namespace {
std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}
}  // namespace

ExtractedOutputs ExtractOutputs(const Step& step, const std::string& out, int exit_code,
                                const std::map<std::string, std::string>& from_file) {
  ExtractedOutputs r;
  r.values = from_file;
  for (const auto& o : step.outputs) {
    switch (o.source) {
      case OutputSpec::Source::kStdout: r.values[o.name] = Trim(out); break;
      case OutputSpec::Source::kExitCode: r.values[o.name] = std::to_string(exit_code); break;
      case OutputSpec::Source::kRegex: {
        std::string value;
        if (!RegexSearch(o.regex, out, &value)) {
          r.error = "output '" + o.name + "': /" + o.regex + "/ matched nothing in stdout";
          return r;
        }
        r.values[o.name] = value;
        break;
      }
    }
  }
  return r;
}

std::optional<std::string> CheckExpectation(const Expectation& e, int exit_code, const std::string& out,
                                            const std::string& err) {
  if (e.exit_code && exit_code != *e.exit_code)
    return "exit code " + std::to_string(exit_code) + ", expected " + std::to_string(*e.exit_code);
  if (!e.stdout_regex.empty() && !RegexSearch(e.stdout_regex, out))
    return "stdout does not match /" + e.stdout_regex + "/";
  if (!e.stderr_regex.empty() && !RegexSearch(e.stderr_regex, err))
    return "stderr does not match /" + e.stderr_regex + "/";
  return std::nullopt;
}

std::string TailLines(const std::string& text, int lines) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  size_t at = t.size();
  for (int i = 0; i < lines && at != std::string::npos && at > 0; ++i) at = t.rfind('\n', at - 1);
  return at == std::string::npos || at == t.size() ? t : t.substr(at + 1);
}

std::string FailureLines(const std::string& text, int lines) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  int count = t.empty() ? 0 : 1 + static_cast<int>(std::count(t.begin(), t.end(), '\n'));
  if (count <= lines || lines < 3) return TailLines(t, lines);
  std::string first = t.substr(0, t.find('\n'));
  int left_out = count - 1 - (lines - 2);
  return first + "\n... (" + std::to_string(left_out) + " more line" + (left_out == 1 ? "" : "s") + ")\n" +
         TailLines(t, lines - 2);
}

std::string LineBuffer::Take(int handle, bool is_stderr, const std::string& data, bool flush,
                             const Masker& masker) {
  std::string& buf = partial_[{handle, is_stderr}];
  buf += data;
  size_t end = flush ? buf.size() : buf.rfind('\n');
  if (end == std::string::npos) return "";
  if (!flush) ++end;  // include the newline
  std::string chunk = buf.substr(0, end);
  buf.erase(0, end);
  if (flush) partial_.erase({handle, is_stderr});
  return chunk.empty() ? "" : masker.Mask(chunk);
}

// Most steps never create the file: one failed open(2) says so, without the
// second syscall of a remove() and the allocations of an ifstream per step.
std::string TakeOutputFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fd);
  ::unlink(path.c_str());
  return text;
}

}  // namespace runbook
