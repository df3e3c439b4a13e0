// A throwaway PostgreSQL server for tests: initdb and pg_ctl from Debian's
// postgresql-15 (pg_config --bindir), a unix socket in a temp folder, no
// TCP port; run as the `postgres` account when the tests run as root
// (initdb refuses root). Speed-ups (fsync off) are for functional tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace runbook::testing {

class PgServer {
 public:
  // Starts it; ok() says whether it runs, error() why not.
  PgServer() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "runbook-pg-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    std::string as = geteuid() == 0 ? "runuser -u postgres -- " : "";
    std::string bin = Output("pg_config --bindir");
    while (!bin.empty() && bin.back() == '\n') bin.pop_back();
    if (bin.empty()) {
      error_ = "pg_config not found (libpq-dev)";
      return;
    }
    std::string q = "'" + dir_ + "'";
    std::string script = "set -e; chmod 755 " + q + (geteuid() == 0 ? "; chown postgres " + q : std::string()) + "; " +
                         as + bin + "/initdb -D " + q + "/data -A trust -U runbook --no-sync -E UTF8 --locale=C.UTF-8 "
                         ">" + q + "/initdb.log 2>&1; " + as + bin + "/pg_ctl -D " + q + "/data -l " + q +
                         "/log -w -o \"-k " + dir_ +
                         " -c listen_addresses='' -c fsync=off -c full_page_writes=off -c synchronous_commit=off\" "
                         "start >/dev/null";
    if (std::system(script.c_str()) != 0) {
      error_ = "could not start PostgreSQL (" + bin + "/initdb, pg_ctl): see " + dir_;
      return;
    }
    stop_ = as + bin + "/pg_ctl -D '" + dir_ + "/data' -m immediate stop >/dev/null 2>&1";
    ok_ = true;
  }
  ~PgServer() {
    if (ok_) (void)std::system(stop_.c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  // libpq's key=value string for database `db` on this server.
  std::string Conninfo(const std::string& db = "postgres") const {
    return "host=" + dir_ + " user=runbook dbname=" + db;
  }
  // postgresql:// form (the socket folder as the host parameter).
  std::string Uri(const std::string& db) const { return "postgresql:///" + db + "?host=" + dir_ + "&user=runbook"; }
  const std::string& dir() const { return dir_; }

 private:
  static std::string Output(const std::string& cmd) {
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[256];
      while (fgets(buf, sizeof buf, p)) out += buf;
      pclose(p);
    }
    return out;
  }
  std::string dir_, stop_, error_;
  bool ok_ = false;
};

}  // namespace runbook::testing
