// The record stays the truth under races, crashes and a changing disk: the
// real binary, real processes, a real SQLite file. Steps tell the test they
// have started through a FIFO the test reads (it blocks until the step
// writes, bounded by `timeout`), so nothing here sleeps to wait.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <sys/stat.h>

#include <thread>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class TrustTest : public ::testing::Test {
 protected:
  CliResult Cli(std::vector<std::string> args, const fs::path& cwd = {}) {
    return RunCli(args, cwd.empty() ? dir_.path() : cwd);
  }
  json Show(const std::string& run = "last") {
    auto r = Cli({"show", run, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }
  // Runs `script` with bash in the test folder (bounded by 120 s).
  void Bash(const std::string& script) {
    dir_.Write("go.sh", script);
    std::system(("cd " + ShellQuote(dir_.path().string()) + " && timeout 120 bash go.sh").c_str());
  }
  std::string Read(const std::string& f) { return ReadAll(dir_.path() / f); }
  int Lines(const std::string& f) {
    std::string t = Read(f);
    return static_cast<int>(std::count(t.begin(), t.end(), '\n'));
  }
  std::string Sql(const std::string& query, const std::string& db = ".runbook/state.db") {
    std::string out;
    if (UnderPostgres() && db == ".runbook/state.db") {  // the same question of the test's database
      std::string cmd = "psql -At -F '|' " + ShellQuote(std::getenv("RUNBOOK_STATE")) + " -c " + ShellQuote(query);
      if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[4096];
        while (fgets(buf, sizeof buf, p)) out += buf;
        pclose(p);
      }
      return out;
    }
    sqlite3* h = nullptr;
    if (sqlite3_open_v2((dir_.path() / db).c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return "?";
    sqlite3_exec(
        h, query.c_str(),
        [](void* o, int n, char** v, char**) {
          auto* s = static_cast<std::string*>(o);
          for (int i = 0; i < n; ++i) *s += std::string(i ? "|" : "") + (v[i] ? v[i] : "");
          *s += "\n";
          return 0;
        },
        &out, nullptr);
    sqlite3_close(h);
    return out;
  }
  const std::string bin_ = RUNBOOK_BINARY;
  TempDir dir_;
};

// A step that says it started (through the FIFO `started`) and then runs
// until the file `release` exists.
const char* kLong = R"Y(name: long
steps:
  - { id: a, run: "echo a >> a.log" }
  - id: hold
    needs: a
    run: |
      echo hold >> hold.log
      [ -e release ] && exit 0
      echo go > started
      while [ ! -e release ]; do sleep 0.05; done
  - { id: c, needs: hold, run: "echo c >> c.log" }
)Y";

// ---- item 5: exactly one driver --------------------------------------------------

TEST_F(TrustTest, OfTwoResumesOfOneRunExactlyOneDrivesTheOtherNamesTheOwner) {
  dir_.Write("runbooks/long.yaml", kLong);
  ::mkfifo((dir_.path() / "started").c_str(), 0600);
  // Interrupted while `hold` runs: open, and not live.
  Bash(bin_ + " run long > first.out 2>&1 &\npid=$!\nread x < started\nkill -INT $pid\nwait $pid\n");
  std::string id = Show()["id"];
  ASSERT_EQ(Show()["status"], "interrupted");
  for (int pair = 0; pair < 20; ++pair) {
    SCOPED_TRACE("pair " + std::to_string(pair));
    std::string gap = "0.0" + std::to_string(pair % 5) + std::to_string(pair % 10);  // 0 to 49 ms apart
    std::string target = pair % 2 ? " " + id : "";  // with and without a RUN argument
    Bash(bin_ + " resume" + target + " > r1.out 2>&1 &\np1=$!\nsleep " + gap + "\n" + bin_ + " resume" + target +
         " > r2.out 2>&1 &\np2=$!\nread x < started\n"
         // One of them drives and has started `hold`; the other has finished by now or soon.
         "for p in $p1 $p2; do :; done\n"
         "wait -n $p1 $p2; first=$?\n"
         "kill -INT $p1 $p2 2>/dev/null\nwait $p1; c1=$?\nwait $p2; c2=$?\necho \"$c1 $c2\" > codes\n");
    std::istringstream codes(Read("codes"));
    int c1 = -1, c2 = -1;
    codes >> c1 >> c2;
    // Exactly one was refused as locked (4) and one drove until interrupted (130).
    EXPECT_TRUE((c1 == 4 && c2 == 130) || (c1 == 130 && c2 == 4)) << c1 << " " << c2 << "\n"
                                                                  << Read("r1.out") << Read("r2.out");
    std::string refused = c1 == 4 ? Read("r1.out") : Read("r2.out");
    EXPECT_NE(refused.find("run " + id + " is live: driven by "), std::string::npos) << refused;
    EXPECT_EQ(refused.find("no run to resume"), std::string::npos) << refused;
  }
  EXPECT_EQ(Lines("a.log"), 1);
}

// ---- item 6: child runs resume with their parent ------------------------------------

TEST_F(TrustTest, AParentKilledDuringAChildRunContinuesThatChildOnResume) {
  dir_.Write("runbooks/child.yaml", std::string(kLong).replace(0, 10, "name: child"));
  dir_.Write("runbooks/parent.yaml",
             "name: parent\nsteps:\n  - { id: first, run: 'echo first >> first.log' }\n"
             "  - { id: sub, needs: first, runbook: child }\n  - { id: last, needs: sub, run: 'echo last >> last.log' }\n");
  ::mkfifo((dir_.path() / "started").c_str(), 0600);
  Bash(bin_ + " run parent > p.out 2>&1 &\npid=$!\nread x < started\nkill -9 $pid\nwait $pid\n");
  std::string parent = Show()["id"];
  std::string child = parent + ".sub";
  EXPECT_EQ(Show(child)["status"], "running");  // its engine went with the parent's
  // The parent's reaper stops the child's engine: wait (bounded) until it has.
  std::string owner = Sql("SELECT pid FROM runs WHERE id = '" + child + "'");
  Bash("for i in $(seq 1 500); do grep -qv ' Z ' /proc/" + owner.substr(0, owner.size() - 1) +
       "/stat 2>/dev/null || break; sleep 0.01; done\n");
  dir_.Write("release", "");
  auto resumed = Cli({"resume", parent});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_EQ(Show(parent)["status"], "succeeded");
  EXPECT_EQ(Show(child)["status"], "succeeded");  // the same child run, continued
  EXPECT_EQ(Lines("a.log"), 1);     // the child's finished step did not run again
  EXPECT_EQ(Lines("hold.log"), 2);  // its running step did, once
  EXPECT_EQ(Lines("first.log"), 1);
  EXPECT_EQ(Lines("last.log"), 1);
  EXPECT_EQ(Sql("SELECT count(*) FROM runs WHERE parent_run != ''"), "1\n");
}

// ---- item 7: read commands never write ------------------------------------------------

TEST_F(TrustTest, ReadsDuringARunsFirstSecondNeverFailAndNeverWrite) {
  dir_.Write("runbooks/r.yaml", "name: r\nsteps:\n  - { id: a, run: 'for i in 1 2 3 4 5; do echo $i; sleep 0.1; done' }\n");
  Bash(bin_ + " run r > run.out 2>&1 &\npid=$!\nfails=0\n"
       "for i in $(seq 1 200); do " + bin_ + " runs > /dev/null 2>> reads.err || fails=$((fails+1)); done\n"
       "echo $fails > fails\nwait $pid\necho $? > code\n");
  EXPECT_EQ(Read("fails"), "0\n") << Read("reads.err");
  EXPECT_EQ(Read("code"), "0\n") << Read("run.out");
  // A read of a file that is not there creates nothing.
  TempDir empty;
  auto r = Cli({"runs"}, empty.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(empty.path() / ".runbook"));
}

TEST_F(TrustTest, AVersionOneDatabaseIsReadAsItIsAndMigratedOnTheFirstWrite) {
  SKIP_UNDER_POSTGRES("a version 1 file migrated");
  fs::create_directories(dir_.path() / ".runbook");
  fs::copy_file(fs::path(RUNBOOK_SOURCE_DIR) / "tests/data/v1-interrupted.db", dir_.path() / ".runbook/state.db");
  dir_.Write("runbooks/fixture.yaml", ReadAll(fs::path(RUNBOOK_SOURCE_DIR) / "tests/data/v1-fixture.yaml"));
  // The fixture was written by the release before this one, in its own folder.
  ASSERT_EQ(std::system(("sqlite3 " + ShellQuote((dir_.path() / ".runbook/state.db").string()) +
                         " \"UPDATE runs SET workdir = '" + dir_.path().string() + "'\"")
                            .c_str()),
            0);
  json before = Show();
  EXPECT_EQ(before["status"], "interrupted");
  EXPECT_EQ(Sql("PRAGMA user_version"), "1\n");  // reading did not migrate
  EXPECT_EQ(Cli({"report", "last"}).exit_code, 0);
  EXPECT_EQ(Sql("PRAGMA user_version"), "1\n");
  dir_.Write("release", "");
  dir_.Write("flag", "");
  // The recorded runbook held a 30 s sleep: resume with the file as it is now.
  dir_.Write("runbooks/fixture.yaml",
             std::string(ReadAll(dir_.path() / "runbooks/fixture.yaml")).replace(
                 ReadAll(dir_.path() / "runbooks/fixture.yaml").find("sleep 30"), 8, "true"));
  auto resumed = Cli({"resume", "--allow-changed"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_EQ(Sql("PRAGMA user_version"), "2\n");
  EXPECT_EQ(Show()["status"], "succeeded");
  // Version 1's packed verification numbers are unpacked: check, try, attempt.
  EXPECT_EQ(Sql("SELECT name, number, check_no, try_no FROM attempts WHERE kind = 'verify' ORDER BY check_no, try_no"),
            "c1|1|1|1\nc1|1|1|2\nc2|1|2|1\n");
  EXPECT_EQ(Sql("SELECT number, status FROM attempts WHERE step_id = 'b' AND kind = 'run' ORDER BY number"),
            "1|interrupted\n2|succeeded\n");
  auto report = Cli({"report", "last"});
  EXPECT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(report.out.find("succeeded"), std::string::npos);
}

// ---- item 4: attempts keep their identity -------------------------------------------

TEST_F(TrustTest, EveryAttemptAndVerificationTryIsKeptInTheDatabase) {
  dir_.Write("runbooks/v.yaml", R"Y(name: v
on_failure: stop
steps:
  - id: twelve
    run: "true"
    retry: { attempts: 12, delay: 0s }
    verify:
      - { name: one, run: "true" }
      - { name: two, run: "false" }
  - id: polled
    run: "true"
    on_failure: continue
    verify: { name: poll, run: "false", retries: 150, interval: 0s }
)Y");
  EXPECT_EQ(Cli({"run", "v", "--jobs", "2"}).exit_code, 1);
  EXPECT_EQ(Sql("SELECT count(*) FROM attempts WHERE step_id = 'twelve' AND kind = 'verify'"), "24\n");
  EXPECT_EQ(Sql("SELECT count(*) FROM attempts WHERE step_id = 'polled' AND kind = 'verify'"), "151\n");
}

// ---- item 9: state is found like git finds .git --------------------------------------

TEST_F(TrustTest, ARunFromASubfolderSeesTheSameStateAndTheSameExclusivity) {
  SKIP_UNDER_POSTGRES("which .runbook/ a folder finds");
  dir_.Write("runbooks/long.yaml", kLong);
  ::mkfifo((dir_.path() / "started").c_str(), 0600);
  Bash(bin_ + " run long > first.out 2>&1 &\npid=$!\nread x < started\n"
       "(cd runbooks && " + bin_ + " run ./long.yaml > ../second.out 2>&1; echo $? > ../second.code)\n"
       "(cd runbooks && " + bin_ + " runs > ../runs.out 2> ../runs.err)\n"
       "touch release\nwait $pid\n");
  EXPECT_EQ(Read("second.code"), "4\n") << Read("second.out");
  EXPECT_NE(Read("second.out").find("is being run right now"), std::string::npos) << Read("second.out");
  EXPECT_NE(Read("runs.out").find("long"), std::string::npos) << Read("runs.out");
  EXPECT_NE(Read("runs.err").find("state database " + (dir_.path() / ".runbook/state.db").string()),
            std::string::npos)
      << Read("runs.err");
  EXPECT_FALSE(fs::exists(dir_.path() / "runbooks/.runbook"));
  auto show = Cli({"show", "last"}, dir_.path() / "runbooks");
  EXPECT_EQ(show.exit_code, 0) << show.err;
}

// ---- item 10: a database that disappears is noticed ----------------------------------

TEST_F(TrustTest, RemovingTheStateDuringARunStopsItAndNothingIsReportedSucceeded) {
  SKIP_UNDER_POSTGRES("the file removed under a run");
  dir_.Write("runbooks/long.yaml", kLong);
  ::mkfifo((dir_.path() / "started").c_str(), 0600);
  Bash(bin_ + " run long > run.out 2>&1 &\npid=$!\nread x < started\nrm -rf .runbook\ntouch release\n"
       "wait $pid\necho $? > code\n");
  EXPECT_EQ(Read("code"), "1\n") << Read("run.out");
  std::string out = Read("run.out");
  EXPECT_NE(out.find("the run stopped because the engine could not record it"), std::string::npos) << out;
  EXPECT_NE(out.find("was removed"), std::string::npos) << out;
  EXPECT_EQ(out.find("ok     hold"), std::string::npos) << out;  // its result was never recorded, so never shown
  EXPECT_EQ(out.find("run long succeeded"), std::string::npos) << out;
  EXPECT_EQ(Lines("c.log"), 0);  // nothing started after the record was lost
}

// ---- item 11: no leftovers ---------------------------------------------------------------

TEST_F(TrustTest, TheEngineThatTakesOverACrashedRunRemovesItsPrivateFolder) {
  dir_.Write("runbooks/long.yaml", kLong);
  ::mkfifo((dir_.path() / "started").c_str(), 0600);
  // A temporary folder of its own: engines of tests running beside this one
  // sweep the folders of dead engines in theirs.
  fs::path own_tmp = dir_.path() / "tmp";
  fs::create_directories(own_tmp);
  // The reaper too, as a kill of everything would: else it removes the folder itself.
  Bash("export TMPDIR=" + ShellQuote(own_tmp.string()) + "\n" + bin_ +
       " run long > run.out 2>&1 &\npid=$!\nread x < started\n"
       "pkill -KILL -x -P $pid runbook-reaper\nkill -9 $pid\nwait $pid\n");
  std::string tmp = Sql("SELECT tmp_dir FROM runs");
  tmp.pop_back();
  ASSERT_EQ(tmp.rfind((own_tmp / "runbook-").string(), 0), 0u) << tmp;
  EXPECT_TRUE(fs::is_directory(tmp));  // the dead engine could not clean up
  dir_.Write("release", "");
  EXPECT_EQ(RunCli({"resume"}, dir_.path(), {{"TMPDIR", own_tmp.string()}}).exit_code, 0);
  EXPECT_FALSE(fs::exists(tmp));
  std::string mine = Sql("SELECT tmp_dir FROM runs");
  mine.pop_back();
  EXPECT_FALSE(fs::exists(mine));  // and its own, when it ended
}

// A step's $RUNBOOK_OUTPUT file holds what it outputs, a secret too: when the
// engine is killed, the reaper removes the engine's private folder after
// stopping the steps, so nothing of it stays in /tmp.
TEST_F(TrustTest, AKilledEnginesPrivateFolderDoesNotOutliveIt) {
  fs::path own_tmp = dir_.path() / "tmp";
  fs::create_directories(own_tmp);
  dir_.Write("runbooks/r.yaml", "name: r\ninputs: { token: { secret: true } }\nsteps:\n"
                                "  - { id: a, run: 'echo \"key={{ inputs.token }}\" >> \"$RUNBOOK_OUTPUT\"; "
                                "echo go > started; sleep 300' }\n");
  ::mkfifo((dir_.path() / "started").c_str(), 0600);
  Bash("export TMPDIR=" + ShellQuote(own_tmp.string()) + "\n" + bin_ +
       " run r --input token=s3cret-in-a-file > run.out 2>&1 &\npid=$!\nread x < started\n"
       "reaper=$(pgrep -x runbook-reaper -P $pid)\nkill -9 $pid\nwait $pid\n"
       "for i in $(seq 1 500); do kill -0 $reaper 2>/dev/null || break; sleep 0.01; done\n");
  std::string left;
  for (const auto& e : fs::recursive_directory_iterator(own_tmp)) left += e.path().string() + "\n";
  EXPECT_EQ(left, "") << "left behind in TMPDIR";
}

TEST_F(TrustTest, PkillOfTheEngineByNameLeavesTheReaperToStopTheSteps) {
  dir_.Write("runbooks/r.yaml",
             "name: r\nsteps:\n  - { id: a, run: 'sleep 300 & echo $! > grandchild.pid; echo go > started; wait' }\n");
  ::mkfifo((dir_.path() / "started").c_str(), 0600);
  Bash(bin_ + " run r > run.out 2>&1 &\npid=$!\nread x < started\n"
       "pgrep -x runbook-reaper -P $pid > reaper.pid\n"
       "pkill -KILL -x -P $$ runbook\nwait $pid\necho $? > code\n"
       // The reaper kills the step's group, then exits: wait for the grandchild to go.
       "g=$(cat grandchild.pid)\nfor i in $(seq 1 500); do kill -0 $g 2>/dev/null || break; sleep 0.01; done\n"
       "kill -0 $g 2>/dev/null && echo alive > grandchild.state || echo gone > grandchild.state\n");
  EXPECT_EQ(Read("code"), "137\n");
  EXPECT_NE(Read("reaper.pid"), "") << "the reaper is not named runbook-reaper";
  EXPECT_EQ(Read("grandchild.state"), "gone\n");
}

}  // namespace
}  // namespace runbook::testing
