// Runs the real runbook binary for end-to-end tests: a real process, real
// files in a fresh temporary folder, exit code and both streams captured.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace runbook::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A folder removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "runbook-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  // Writes `text` to `relative` (creating folders) and returns its path.
  std::filesystem::path Write(const std::string& relative, const std::string& text) const {
    std::filesystem::path p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
};

inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Under tests/pg/with_server.py the binary's record is a PostgreSQL database
// (tests/pg_per_test.cc): a test that looks at the SQLite file itself says so.
inline bool UnderPostgres() {
  const char* d = std::getenv("RUNBOOK_TEST_PG_DIR");
  return d && *d;
}
#define SKIP_UNDER_POSTGRES(why) \
  if (::runbook::testing::UnderPostgres()) GTEST_SKIP() << "the SQLite file itself: " << why

// Runs RUNBOOK_BINARY with `args` in `cwd`, stdin from /dev/null, with `env`
// added to (or, with an empty value, removed from) the environment.
inline CliResult RunCli(const std::vector<std::string>& args, const std::filesystem::path& cwd,
                        const std::map<std::string, std::string>& env = {}) {
  static int counter = 0;
  std::filesystem::path out = cwd / (".cli-out-" + std::to_string(++counter));
  std::filesystem::path err = cwd / (".cli-err-" + std::to_string(counter));
  std::string cmd = "cd " + ShellQuote(cwd.string()) + " && env";
  for (const auto& [k, v] : env) cmd += v.empty() ? " -u " + k : " " + ShellQuote(k + "=" + v);
  cmd += " " + ShellQuote(RUNBOOK_BINARY);
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  cmd += " >" + ShellQuote(out.string()) + " 2>" + ShellQuote(err.string()) + " </dev/null";
  int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

}  // namespace runbook::testing
