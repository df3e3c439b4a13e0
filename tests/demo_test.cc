// runbooks/disaster-recovery.yaml run for real against the demo service in
// examples/demo, on a port and folders of the test's own; the checks look at
// the service afterwards, not only at the exit code.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class DemoTest : public ::testing::Test {
 protected:
  DemoTest() : port_(std::to_string(FreePort())) {}
  ~DemoTest() override { Ctl("stop"); }

  // Runs examples/demo/ctl with this test's port and folders; returns stdout.
  std::string Ctl(const std::string& args, int* code = nullptr) {
    std::string cmd = "cd " + ShellQuote(dir_.path().string()) + " && " + ShellQuote(kSource + "/examples/demo/ctl") +
                      " " + args + " --port " + port_ + " --data data --backups backups > ctl.out 2>&1";
    int status = std::system(cmd.c_str());
    if (code) *code = WEXITSTATUS(status);
    return ReadAll(dir_.path() / "ctl.out");
  }
  CliResult Recover(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", kSource + "/runbooks/disaster-recovery.yaml",
                                     "--input", "port=" + port_,
                                     "--input", "data_dir=data",
                                     "--input", "backup_dir=backups",
                                     "--input", "ctl=" + kSource + "/examples/demo/ctl",
                                     "--answer", "notify=done"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCli(args, dir_.path());
  }
  // Runs runbooks/NAME.yaml against this test's service.
  CliResult Runbook(const std::string& name, std::vector<std::string> extra = {}) {
    std::string file = kSource + "/runbooks/" + name + ".yaml";
    std::string text = ReadAll(file);
    std::vector<std::string> args = {"run", file};
    // Each runbook gets the standard inputs it declares.
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"port", port_}, {"data_dir", "data"}, {"backup_dir", "backups"}, {"ctl", kSource + "/examples/demo/ctl"}})
      if (text.find("\n  " + key + ":") != std::string::npos) args.insert(args.end(), {"--input", key + "=" + value});
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCli(args, dir_.path());
  }
  std::string Http(const std::string& method, const std::string& path) {
    dir_.Write("http.sh", "curl -s -X " + method + " http://127.0.0.1:" + port_ + path + " > http.out\n");
    std::system(("cd " + ShellQuote(dir_.path().string()) + " && bash http.sh").c_str());
    return ReadAll(dir_.path() / "http.out");
  }
  std::string Choice() {
    auto show = RunCli({"show", "last", "--json"}, dir_.path());
    size_t at = show.out.find("\"choice\": \"");
    return at == std::string::npos ? "" : show.out.substr(at + 11, show.out.find('"', at + 11) - at - 11);
  }

  const std::string kSource = RUNBOOK_SOURCE_DIR;
  TempDir dir_;
  std::string port_;
};

TEST_F(DemoTest, ACorruptedDatabaseIsRestoredFromTheNewestBackup) {
  Ctl("start");
  Ctl("backup");
  EXPECT_EQ(Http("GET", "/items"), "100\n");
  Ctl("break corrupt");
  EXPECT_NE(Http("GET", "/health").find("database"), std::string::npos);
  auto r = Recover();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Choice(), "restore");
  EXPECT_EQ(Http("GET", "/health"), "ok\n");
  EXPECT_EQ(Http("GET", "/items"), "100\n");  // the data is back
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "data/maintenance"));
  EXPECT_EQ(Http("POST", "/items"), "created\n");  // writes resumed
  bool kept = false;  // the damaged database is set aside, not destroyed
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "data"))
    kept |= e.path().filename().string().rfind("app.db.damaged.", 0) == 0;
  EXPECT_TRUE(kept);
}

TEST_F(DemoTest, ACrashedServiceIsRestartedAndItsDataLeftAlone) {
  Ctl("start");
  Ctl("backup");
  Http("POST", "/items");  // newer than the backup: a restore would lose it
  Ctl("break crash");
  int code = 0;
  Ctl("status", &code);
  EXPECT_EQ(code, 1);
  auto r = Recover();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Choice(), "restart");
  EXPECT_EQ(Http("GET", "/health"), "ok\n");
  EXPECT_EQ(Http("GET", "/items"), "101\n");
}

TEST_F(DemoTest, WithNoBackupInsideTheRpoItRollsBackAndResumesWrites) {
  Ctl("start");
  Ctl("break delete");  // and there is no backup at all
  auto r = Recover();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto show = RunCli({"show", "last", "--json"}, dir_.path());
  EXPECT_NE(show.out.find("\"status\": \"rolled_back\""), std::string::npos) << show.out;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "data/maintenance"));  // stop-writes undone, and finally
  EXPECT_NE(r.err.find("On-call DBA"), std::string::npos) << r.err;  // escalation printed
}

TEST_F(DemoTest, AHealthyReplicaIsPromotedRatherThanRestoringABackup) {
  Ctl("start");
  Ctl("backup");
  Http("POST", "/items");  // the replica has this, the backup does not
  Ctl("replicate");
  Ctl("break corrupt");
  auto r = Recover();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Choice(), "replica");
  EXPECT_EQ(Http("GET", "/items"), "101\n");
  EXPECT_EQ(Http("GET", "/health"), "ok\n");
}

TEST_F(DemoTest, IncidentResponseRecordsSeverityAndResolution) {
  Ctl("start");
  auto r = Runbook("incident-response", {"--input", "summary=checkout errors", "--answer", "severity=SEV-3", "--answer",
                                         "mitigate=done", "--answer", "communicate=done", "--answer", "post-mortem=done"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string record;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "data/incidents")) record = ReadAll(e.path());
  EXPECT_NE(record.find("summary: checkout errors"), std::string::npos) << record;
  EXPECT_NE(record.find("severity: SEV-3 (respond within 2 hours)"), std::string::npos) << record;
  EXPECT_NE(record.find("status: resolved"), std::string::npos) << record;
}

TEST_F(DemoTest, IncidentResponseCallsADownServiceSev1ByItself) {
  Ctl("start");
  Ctl("break crash");
  auto r = Runbook("incident-response", {"--input", "summary=site down", "--answer", "mitigate=done", "--answer",
                                         "communicate=done", "--answer", "post-mortem=done"});
  EXPECT_EQ(r.exit_code, 1);  // not resolved: the service is still down
  EXPECT_EQ(Choice(), "SEV-1");
  EXPECT_NE(r.err.find("Technical lead and product manager"), std::string::npos) << r.err;
}

TEST_F(DemoTest, SecurityIncidentContainsPreservesRotatesAndReopens) {
  Ctl("start");
  auto r = Runbook("security-incident", {"--answer", "assess=breach", "--answer", "notify=done"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  bool evidence = false;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "data/incidents"))
    if (e.path().filename().string().rfind("evidence-", 0) == 0)
      evidence = std::filesystem::exists(e.path() / "app.db") && std::filesystem::exists(e.path() / "SHA256SUMS");
  EXPECT_TRUE(evidence);
  std::string token = ReadAll(dir_.path() / "data/api-token");
  EXPECT_EQ(token.size(), 65u);  // 64 hex digits and a newline
  auto perms = std::filesystem::status(dir_.path() / "data/api-token").permissions();
  EXPECT_EQ(perms & std::filesystem::perms::group_read, std::filesystem::perms::none);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "data/maintenance"));
  EXPECT_EQ(Http("POST", "/items"), "created\n");
  EXPECT_NE(ReadAll(dir_.path() / "data/incidents/security.log").find(": breach;"), std::string::npos);
}

TEST_F(DemoTest, PerformanceDegradationFindsAndStopsSlowQueries) {
  Ctl("start");
  Ctl("break slow");
  auto r = Runbook("performance-degradation");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Choice(), "slow-queries");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "data/slow"));
  r = Runbook("performance-degradation", {"--answer", "nothing-to-do=done"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Choice(), "healthy");
}

TEST_F(DemoTest, DatabaseRecoveryRestoresADeletedDatabaseAndAsksBeforeOverwritingAGoodOne) {
  Ctl("start");
  Ctl("backup");
  Http("POST", "/items");
  auto cancel = Runbook("database-recovery", {"--answer", "confirm=cancel", "--answer", "cancelled=done"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(Http("GET", "/items"), "101\n");  // untouched
  Ctl("break delete");
  auto r = Runbook("database-recovery");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Choice(), "restore");
  EXPECT_EQ(Http("GET", "/items"), "100\n");
  EXPECT_EQ(Http("GET", "/health"), "ok\n");
}

TEST_F(DemoTest, ADeploymentThatVerifiesStaysDeployed) {
  Ctl("start");
  auto r = Runbook("deployment", {"--input", "version=v1.1.0", "--answer", "checklist=done"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Http("GET", "/version"), "v1.1.0\n");
  EXPECT_EQ(Http("GET", "/health"), "ok\n");
}

TEST_F(DemoTest, ABadDeploymentIsRolledBackAutomatically) {
  Ctl("start");
  auto r = Runbook("deployment", {"--input", "version=v1.2.0-bad", "--answer", "checklist=done"});
  EXPECT_EQ(r.exit_code, 1);
  auto show = RunCli({"show", "last", "--json"}, dir_.path());
  EXPECT_NE(show.out.find("\"status\": \"rolled_back\""), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("\"reason\": \"verification\""), std::string::npos) << show.out;
  EXPECT_EQ(Http("GET", "/version"), "v1.0.0\n");  // the release before it
  EXPECT_EQ(Http("GET", "/health"), "ok\n");
}

TEST_F(DemoTest, RollbackDeploymentTakesBackABadRelease) {
  Ctl("start");
  Ctl("deploy v1.1.0");
  Ctl("break deploy");
  EXPECT_NE(Http("GET", "/health").find("is broken"), std::string::npos);
  auto r = Runbook("rollback-deployment", {"--answer", "database-rollback=done", "--answer", "notify=done"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Http("GET", "/version"), "v1.1.0\n");
  EXPECT_EQ(Http("GET", "/health"), "ok\n");
}

TEST_F(DemoTest, BackupVerificationRestoresAScratchCopyAndKeepsTheNewestN) {
  Ctl("start");
  for (int i = 0; i < 4; ++i) {
    Ctl("backup");
    dir_.Write("backups/old-" + std::to_string(i) + ".db", "");  // older junk to clean up
    std::filesystem::last_write_time(dir_.path() / ("backups/old-" + std::to_string(i) + ".db"),
                                     std::filesystem::file_time_type::clock::now() - std::chrono::hours(24 + i));
  }
  auto r = Runbook("backup-verification", {"--input", "keep=3"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto show = RunCli({"show", "last", "--json"}, dir_.path());
  EXPECT_NE(show.out.find("\"rows\": \"100\""), std::string::npos) << show.out;
  int left = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "backups")) {
    ++left;
    EXPECT_EQ(e.path().filename().string().rfind("old-", 0), std::string::npos) << "old backup kept";
  }
  EXPECT_EQ(left, 3);
}

TEST_F(DemoTest, DailyOperationsChecksTheServiceAndFlagsAMissingBackup) {
  Ctl("start");
  auto r = Runbook("daily-operations", {"--answer", "overnight-alerts=done", "--answer", "summary=done"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;  // a missing backup is reported, not fatal
  EXPECT_NE(RunCli({"logs", "last", "health"}, dir_.path()).out.find("\nok\n"), std::string::npos);
  auto logs = RunCli({"logs", "last", "backup-completed"}, dir_.path());
  EXPECT_NE(logs.out.find("no backup at all"), std::string::npos) << logs.out;
  Ctl("backup");
  r = Runbook("daily-operations", {"--answer", "overnight-alerts=done", "--answer", "summary=done"});
  ASSERT_EQ(r.exit_code, 0);
  logs = RunCli({"logs", "last", "backup-completed"}, dir_.path());
  EXPECT_NE(logs.out.find("age_hours=0"), std::string::npos) << logs.out;
}

TEST_F(DemoTest, KilledMidRestoreItResumesAndFinishesTheRecovery) {
  Ctl("start");
  Ctl("backup");
  Ctl("break corrupt");
  // A cp that hangs the first time: the engine is killed while the restore copies.
  dir_.Write("bin/cp", "#!/bin/sh\nif [ ! -e \"$HANG_MARK\" ]; then touch \"$HANG_MARK\"; exec sleep 300; fi\nexec /bin/cp \"$@\"\n");
  std::filesystem::permissions(dir_.path() / "bin/cp", std::filesystem::perms::owner_all);
  std::string run = std::string(RUNBOOK_BINARY) + " run " + kSource + "/runbooks/disaster-recovery.yaml --input port=" +
                    port_ + " --input data_dir=data --input backup_dir=backups --input ctl=" + kSource +
                    "/examples/demo/ctl --answer notify=done";
  dir_.Write("go.sh", "export HANG_MARK=$PWD/restoring PATH=$PWD/bin:$PATH\n" + run + " > first.out 2>&1 &\npid=$!\n"
             "for i in $(seq 1 1000); do [ -e restoring ] && break; sleep 0.01; done\nkill -9 $pid\nwait $pid\n"
             "echo $? > code.txt\n");
  std::system(("cd " + ShellQuote(dir_.path().string()) + " && bash go.sh").c_str());
  EXPECT_EQ(ReadAll(dir_.path() / "code.txt"), "137\n");
  auto mid = RunCli({"show", "last", "--json"}, dir_.path());
  EXPECT_NE(mid.out.find("\"status\": \"running\""), std::string::npos);  // orphaned mid-restore
  std::string path = "PATH=" + (dir_.path() / "bin").string() + ":" + std::getenv("PATH");
  dir_.Write("resume.sh", "export HANG_MARK=$PWD/restoring " + path + "\n" + std::string(RUNBOOK_BINARY) +
                          " resume --answer notify=done > resume.out 2>&1\necho $? > resume.code\n");
  std::system(("cd " + ShellQuote(dir_.path().string()) + " && bash resume.sh").c_str());
  EXPECT_EQ(ReadAll(dir_.path() / "resume.code"), "0\n") << ReadAll(dir_.path() / "resume.out");
  EXPECT_EQ(Http("GET", "/health"), "ok\n");
  EXPECT_EQ(Http("GET", "/items"), "100\n");
  auto logs = RunCli({"logs", "last", "pick-backup"}, dir_.path());
  EXPECT_EQ(logs.out.find("attempt 2"), std::string::npos) << "pick-backup ran again";
  auto restore = RunCli({"logs", "last", "restore"}, dir_.path());
  EXPECT_NE(restore.out.find("run attempt 2: succeeded"), std::string::npos) << restore.out;
}

}  // namespace
}  // namespace runbook::testing
