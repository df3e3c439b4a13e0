// Interruption, engine death and resume (SPEC 7), with real signals sent to
// the engine's own pid, a real SIGKILL, and a real state file.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <thread>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

using nlohmann::json;

class ResumeTest : public ::testing::Test {
 protected:
  // Starts `runbook ARGS` in the background, waits until a step writes to the
  // FIFO `marker` (blocking on it, not polling), sends `signal` to the
  // engine's pid and waits for it.
  // Returns the engine's exit code (137 for SIGKILL).
  int SignalWhen(const std::string& args, const std::string& marker, const std::string& signal) {
    dir_.Write("go.sh", "mkfifo " + marker + "\n" + std::string(RUNBOOK_BINARY) + " " + args + " > bg.out 2>&1 &\n"
               "pid=$!\nread x < " + marker + "\n"
               "kill -" + signal + " $pid\nwait $pid\necho $? > code.txt\n");
    std::system(("cd " + ShellQuote(dir_.path().string()) + " && timeout 120 bash go.sh").c_str());
    return std::stoi(Read("code.txt"));
  }
  CliResult Cli(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
    return RunCli(args, dir_.path(), env);
  }
  json Show(const std::string& run = "last") { return json::parse(Cli({"show", run, "--json"}).out); }
  std::string StatusOf(const json& run, const std::string& step) {
    for (const auto& s : run["steps"])
      if (s["id"] == step) return s["status"];
    return "(none)";
  }
  std::string Read(const std::string& f) { return ReadAll(dir_.path() / f); }
  int Lines(const std::string& f) {
    std::string t = Read(f);
    return static_cast<int>(std::count(t.begin(), t.end(), '\n'));
  }
  static bool Gone(int pid) {
    for (int i = 0; i < 500; ++i) {  // reaped by init, not us: poll /proc, bounded
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string a, b, state;
      if (!(stat >> a >> b >> state) || state == "Z") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  TempDir dir_;
};

const char* kThree = R"Y(name: three
steps:
  - { id: a, run: "echo a >> a.log" }
  - id: slow
    needs: a
    run: |
      echo slow >> slow.log
      sleep 300 & echo $! > grandchild.pid
      [ -e release ] || { echo go > started; wait; }
  - { id: c, needs: slow, run: "echo c >> c.log" }
)Y";

TEST_F(ResumeTest, AfterTheEngineIsKilledNoStepSurvivesAndResumeFinishesWithoutRepeats) {
  dir_.Write("runbooks/three.yaml", kThree);
  EXPECT_EQ(SignalWhen("run three", "started", "9"), 137);
  EXPECT_TRUE(Gone(std::stoi(Read("grandchild.pid"))));
  json run = Show();
  EXPECT_EQ(run["status"], "running");  // as the dead engine left it: orphaned
  EXPECT_NE(Cli({"runs"}).out.find("running (orphaned)"), std::string::npos);
  EXPECT_EQ(json::parse(Cli({"runs", "--json"}).out)[0]["orphaned"], true);
  auto again = Cli({"run", "three"});
  EXPECT_EQ(again.exit_code, 4);
  EXPECT_NE(again.err.find("is orphaned (its engine died); continue it with:\n  runbook resume " +
                           run["id"].get<std::string>()),
            std::string::npos)
      << again.err;
  dir_.Write("release", "");
  auto resumed = Cli({"resume"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_EQ(Show()["status"], "succeeded");
  EXPECT_EQ(Lines("a.log"), 1);     // succeeded before the kill: never again
  EXPECT_EQ(Lines("slow.log"), 2);  // was running: run again from the start
  EXPECT_EQ(Lines("c.log"), 1);
}

TEST_F(ResumeTest, SigtermInterruptsAndASecondDriverIsRefusedWhileItLives) {
  dir_.Write("runbooks/three.yaml", kThree);
  // While the first engine runs, a second resume of the same run is refused.
  dir_.Write("go.sh", "mkfifo started\n" + std::string(RUNBOOK_BINARY) + " run three > bg.out 2>&1 &\npid=$!\n"
             "read x < started\n" +
             std::string(RUNBOOK_BINARY) + " resume last > second.out 2>&1; echo $? > second.code\n"
             "kill -TERM $pid\nwait $pid\necho $? > code.txt\n");
  std::system(("cd " + ShellQuote(dir_.path().string()) + " && timeout 120 bash go.sh").c_str());
  EXPECT_EQ(Read("second.code"), "4\n");
  EXPECT_NE(Read("second.out").find("is live: driven by "), std::string::npos) << Read("second.out");
  EXPECT_NE(Read("second.out").find("(pid "), std::string::npos);
  EXPECT_EQ(Read("code.txt"), "130\n") << Read("bg.out");
  json run = Show();
  EXPECT_EQ(run["status"], "interrupted");
  EXPECT_EQ(StatusOf(run, "slow"), "interrupted");
  EXPECT_TRUE(Gone(std::stoi(Read("grandchild.pid"))));
  dir_.Write("release", "");
  EXPECT_EQ(Cli({"resume", run["id"]}).exit_code, 0);
  EXPECT_EQ(Lines("a.log"), 1);
}

TEST_F(ResumeTest, SighupIsHandledLikeSigterm) {
  dir_.Write("runbooks/three.yaml", kThree);
  EXPECT_EQ(SignalWhen("run three", "started", "HUP"), 130);
  EXPECT_EQ(Show()["status"], "interrupted");
}

TEST_F(ResumeTest, ANonIdempotentStepThatWasRunningWaitsForAPerson) {
  dir_.Write("runbooks/once.yaml", R"Y(name: once
steps:
  - id: charge
    idempotent: false
    run: |
      echo charged >> charge.log
      # a second run (the bug) ends at once, so that the test fails rather than hangs
      [ -e release ] || [ "$(wc -l < charge.log)" -gt 1 ] || { echo go > started; sleep 300; }
  - { id: after, needs: charge, run: "echo after >> after.log" }
)Y");
  EXPECT_EQ(SignalWhen("run once", "started", "9"), 137);
  auto waiting = Cli({"resume"});
  EXPECT_EQ(waiting.exit_code, 3) << waiting.out << waiting.err;
  EXPECT_NE(waiting.err.find("--answer charge=rerun\n  runbook resume "), std::string::npos) << waiting.err;
  EXPECT_EQ(Lines("charge.log"), 1);  // not run again silently
  for (int i = 0; i < 2; ++i) {  // and it goes on asking, resume after resume, until a person answers
    auto again = Cli({"resume"});
    EXPECT_EQ(again.exit_code, 3) << again.out << again.err;
    EXPECT_NE(again.err.find("--answer charge=rerun"), std::string::npos) << again.err;
    EXPECT_EQ(Lines("charge.log"), 1);
    EXPECT_EQ(StatusOf(Show(), "charge"), "waiting");
  }
  auto done = Cli({"resume", "--answer", "charge=done"});
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(Lines("charge.log"), 1);
  EXPECT_EQ(Lines("after.log"), 1);
  EXPECT_EQ(Show()["decisions"][0]["value"], "done");
}

TEST_F(ResumeTest, AFailedStepIsRetriedOrAttestedDone) {
  dir_.Write("runbooks/f.yaml", "name: f\non_failure: stop\nsteps:\n  - { id: a, run: 'echo a >> a.log' }\n"
                                "  - { id: b, run: 'echo b >> b.log; test -e fixed', needs: a }\n"
                                "  - { id: c, run: 'echo c >> c.log', needs: b }\n");
  EXPECT_EQ(Cli({"run", "f"}).exit_code, 1);
  EXPECT_EQ(Show()["status"], "failed");
  EXPECT_EQ(Cli({"resume"}).exit_code, 1);  // retried, fails again
  EXPECT_EQ(Lines("b.log"), 2);
  dir_.Write("fixed", "");
  EXPECT_EQ(Cli({"resume"}).exit_code, 0);
  EXPECT_EQ(Lines("a.log"), 1);
  EXPECT_EQ(Lines("b.log"), 3);
  dir_.Write("runbooks/g.yaml", "name: g\non_failure: stop\nsteps:\n  - { id: x, run: 'exit 1' }\n  - { id: y, run: 'echo y >> y.log', needs: x }\n");
  EXPECT_EQ(Cli({"run", "g"}).exit_code, 1);
  auto r = Cli({"resume", "--answer", "x=done"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines("y.log"), 1);
  EXPECT_EQ(StatusOf(Show(), "x"), "succeeded");
}

TEST_F(ResumeTest, RerunRunsAStepAndEverythingAfterItAgain) {
  dir_.Write("runbooks/f.yaml", "name: f\non_failure: stop\nsteps:\n  - { id: a, run: 'echo a >> a.log' }\n"
                                "  - { id: b, run: 'echo b >> b.log', needs: a }\n"
                                "  - { id: c, run: 'echo c >> c.log; test -e fixed', needs: b }\n");
  EXPECT_EQ(Cli({"run", "f"}).exit_code, 1);
  dir_.Write("fixed", "");
  EXPECT_EQ(Cli({"resume", "--rerun", "b"}).exit_code, 0);
  EXPECT_EQ(Lines("a.log"), 1);
  EXPECT_EQ(Lines("b.log"), 2);
  EXPECT_EQ(Lines("c.log"), 2);
}

TEST_F(ResumeTest, AChangedRunbookIsRefusedUnlessAllowed) {
  dir_.Write("runbooks/f.yaml", "name: f\non_failure: stop\nsteps:\n  - { id: a, run: 'test -e fixed' }\n");
  EXPECT_EQ(Cli({"run", "f"}).exit_code, 1);
  dir_.Write("runbooks/f.yaml", "name: f\non_failure: stop\nsteps:\n  - { id: a, run: 'true' }\n");
  auto r = Cli({"resume"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find((dir_.path() / "runbooks/f.yaml").string() + " changed since run"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--allow-changed"), std::string::npos);
  EXPECT_EQ(Cli({"resume", "--allow-changed"}).exit_code, 0);
}

TEST_F(ResumeTest, SecretsMustBeGivenAgainAndAreNeverStored) {
  dir_.Write("runbooks/s.yaml", "name: s\non_failure: stop\ninputs: { token: { secret: true, from_env: TOK } }\n"
                                "steps:\n  - { id: a, run: 'test \"{{ inputs.token }}\" = \"$WANT\" && test -e ok' }\n");
  const std::map<std::string, std::string> want = {{"WANT", "hunter2-xyz"}};
  EXPECT_EQ(Cli({"run", "s", "--input", "token=hunter2-xyz"}, want).exit_code, 1);
  dir_.Write("ok", "");
  auto r = Cli({"resume"}, want);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "runbook: secret input 'token' must be given again: --input token=... or $TOK\n");
  EXPECT_EQ(Cli({"resume", "--input", "token=hunter2-xyz"}, want).exit_code, 0);
  std::string db = Read(".runbook/state.db") + Read(".runbook/state.db-wal");
  EXPECT_EQ(db.find("hunter2-xyz"), std::string::npos);
}

TEST_F(ResumeTest, NewStartsAFreshRunAndAbandonEndsAnOpenOne) {
  dir_.Write("runbooks/f.yaml", "name: f\non_failure: stop\nsteps:\n  - { id: a, run: 'exit 1' }\n");
  EXPECT_EQ(Cli({"run", "f"}).exit_code, 1);
  std::string first = Show()["id"];
  EXPECT_EQ(Cli({"run", "f"}).exit_code, 4);
  EXPECT_EQ(Cli({"run", "f", "--new"}).exit_code, 1);
  EXPECT_NE(Show()["id"], first);
  auto a = Cli({"abandon", first});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(Show(first)["status"], "abandoned");
  EXPECT_EQ(Cli({"abandon", first}).exit_code, 2);  // already ended
  EXPECT_EQ(Cli({"resume", first}).exit_code, 2);
}

TEST_F(ResumeTest, ANoteJoinsTheTimeline) {
  SKIP_UNDER_POSTGRES("it reads the file");
  dir_.Write("runbooks/f.yaml", "name: f\nsteps:\n  - { id: a, run: 'true' }\n");
  ASSERT_EQ(Cli({"run", "f"}).exit_code, 0);
  auto n = Cli({"note", "last", "DBA confirmed replication lag is zero"});
  EXPECT_EQ(n.exit_code, 0) << n.err;
  std::string db = Read(".runbook/state.db") + Read(".runbook/state.db-wal");
  EXPECT_NE(db.find("DBA confirmed replication lag is zero"), std::string::npos);
}

}  // namespace
}  // namespace runbook::testing

namespace runbook::testing {
namespace {

class OpsTest : public ResumeTest {};

TEST_F(OpsTest, ListShowsEachRunbooksLastRunAndItsResult) {
  dir_.Write("runbooks/ok.yaml", "name: ok\ntitle: Fine\nsteps: [{ id: a, run: 'true' }]\n");
  dir_.Write("runbooks/never.yaml", "name: never\nsteps: [{ id: a, run: 'true' }]\n");
  ASSERT_EQ(Cli({"run", "ok"}).exit_code, 0);
  std::string id = Show()["id"];
  auto r = Cli({"list"});
  EXPECT_NE(r.out.find("succeeded (" + id + ")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("never"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nlast runs from "), std::string::npos) << r.out;
}

TEST_F(OpsTest, ListSaysNeverOnlyOfAStateItRead) {
  SKIP_UNDER_POSTGRES("a folder without a file");
  dir_.Write("runbooks/ok.yaml", "name: ok\nsteps: [{ id: a, run: 'true' }]\n");
  auto r = Cli({"list"});  // nothing ran here: no .runbook/ to read
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("never"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("last runs unknown: no state database at "), std::string::npos) << r.out;
}

TEST_F(OpsTest, PruneDeletesOnlyFinishedRunsOlderThanTheAge) {
  SKIP_UNDER_POSTGRES("prune is the SQLite file's");
  dir_.Write("runbooks/ok.yaml", "name: ok\nsteps: [{ id: a, run: 'true' }]\n");
  dir_.Write("runbooks/bad.yaml", "name: bad\non_failure: stop\nsteps: [{ id: a, run: 'false' }]\n");
  ASSERT_EQ(Cli({"run", "ok"}).exit_code, 0);
  ASSERT_EQ(Cli({"run", "bad"}).exit_code, 1);  // failed: resumable, never pruned
  EXPECT_EQ(Cli({"prune", "--older-than", "1h"}).out, "pruned 0 finished runs older than 1h\n");
  EXPECT_EQ(Cli({"prune", "--older-than", "0s"}).out, "pruned 1 finished run older than 0s\n");
  auto runs = json::parse(Cli({"runs", "--json"}).out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["runbook"], "bad");
  EXPECT_EQ(Cli({"prune", "--older-than", "soon"}).exit_code, 2);
}

TEST_F(OpsTest, LogsFollowPrintsUntilTheRunStops) {
  // The step says it runs (FIFO `up`), then waits (FIFO `go`) until the
  // follower, started while it runs, has shown its start.
  dir_.Write("runbooks/f.yaml",
             "name: f\nsteps:\n  - { id: a, run: 'echo first; echo up > up; read x < go; echo second' }\n");
  dir_.Write("go.sh", "mkfifo up go\n" + std::string(RUNBOOK_BINARY) + " run f > bg.out 2>&1 &\npid=$!\n"
             "read x < up\n" + std::string(RUNBOOK_BINARY) + " logs last --follow > follow.out &\nfollow=$!\n"
             "until grep -q 'step.running a' follow.out; do sleep 0.01; done\n"
             "echo go > go\nwait $follow\necho $? > code.txt\nwait $pid\n");
  std::system(("cd " + ShellQuote(dir_.path().string()) + " && timeout 120 bash go.sh").c_str());
  EXPECT_EQ(Read("code.txt"), "0\n");
  std::string out = Read("follow.out");
  EXPECT_NE(out.find("step.running a"), std::string::npos) << out;
  // A running attempt's output is printed as it is committed (maybe before the step ends), each line once.
  size_t first = out.find("\nfirst\n"), second = out.find("\nsecond\n");  // lines of their own
  EXPECT_NE(first, std::string::npos) << out;
  EXPECT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second) << out;
  EXPECT_EQ(out.find("\nfirst\n", first + 1), std::string::npos) << out;
  EXPECT_EQ(out.find("\nsecond\n", second + 1), std::string::npos) << out;
  EXPECT_NE(out.find("run.succeeded"), std::string::npos) << out;
}

TEST_F(OpsTest, ALockedDatabaseIsWaitedForThenReportedClearly) {
  SKIP_UNDER_POSTGRES("a file locked by another process");
  dir_.Write("runbooks/f.yaml", "name: f\nsteps: [{ id: a, run: 'touch ran' }]\n");
  ASSERT_EQ(Cli({"run", "f"}).exit_code, 0);
  std::filesystem::remove(dir_.path() / "ran");
  // Another process holds a write lock for longer than our bounded wait.
  // It says it holds the lock through the FIFO `held`, and keeps it until
  // the run has given up (the FIFO `done`).
  dir_.Write("lock.sh", "mkfifo held done\n"
             "sqlite3 .runbook/state.db 'BEGIN EXCLUSIVE; SELECT 1;' '.shell echo go > held; read x < done' 'COMMIT;' &\n"
             "read x < held\n" + std::string(RUNBOOK_BINARY) + " run f > locked.out 2>&1; echo $? > code.txt\n"
             "echo go > done\nwait\n");
  std::system(("cd " + ShellQuote(dir_.path().string()) + " && RUNBOOK_BUSY_TIMEOUT_MS=300 timeout 120 bash lock.sh").c_str());
  EXPECT_EQ(Read("code.txt"), "4\n");  // locked: as for a run another engine holds
  EXPECT_NE(Read("locked.out").find("another process holds the state database locked"), std::string::npos)
      << Read("locked.out");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "ran"));  // nothing ran unrecorded
}

TEST_F(OpsTest, ASecondSigintSkipsTheGracePeriod) {
  dir_.Write("runbooks/stubborn.yaml", R"Y(name: stubborn
steps:
  - id: s
    run: |
      trap 'echo got > termed' TERM
      echo go > started
      while true; do sleep 0.05; done
)Y");
  // The second Ctrl-C comes once the step has had the first one's SIGTERM
  // (it says so through the FIFO `termed`, and ignores it).
  dir_.Write("go.sh", "mkfifo started termed\n" + std::string(RUNBOOK_BINARY) +
             " run stubborn --grace 1h > bg.out 2>&1 &\npid=$!\nread x < started\n"
             "kill -INT $pid\nread x < termed\nkill -INT $pid\nwait $pid\necho $? > code.txt\n");
  std::system(("cd " + ShellQuote(dir_.path().string()) + " && timeout 60 bash go.sh").c_str());
  EXPECT_EQ(Read("code.txt"), "130\n");  // not an hour later
  EXPECT_EQ(Show()["status"], "interrupted");
}

TEST_F(OpsTest, ResumeRunsCommandsInTheFolderTheRunStartedIn) {
  dir_.Write("work/runbooks/w.yaml", "name: w\non_failure: stop\nsteps:\n  - { id: a, run: 'pwd > where.txt; test -e ok' }\n");
  ASSERT_EQ(RunCli({"run", "w", "--state", "../state.db"}, dir_.path() / "work").exit_code, 1);
  dir_.Write("work/ok", "");
  auto r = RunCli({"resume", "--state", "state.db"}, dir_.path());  // from elsewhere
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Read("work/where.txt"), (dir_.path() / "work").string() + "\n");
}

}  // namespace
}  // namespace runbook::testing

namespace runbook::testing {
namespace {

class ResumeMoreTest : public ResumeTest {};

TEST_F(ResumeMoreTest, RollbackRunsAStoppedRunsHooksInReverseThenFinally) {
  dir_.Write("runbooks/r.yaml", R"Y(name: r
on_failure: stop
steps:
  - { id: a, run: 'true', rollback: "echo undo-a >> undo.log" }
  - { id: b, run: 'true', needs: a, rollback: "echo undo-b >> undo.log" }
  - { id: c, run: 'exit 1', needs: b }
finally:
  - { id: f, run: "echo {{ run.status }} > fin.log" }
)Y");
  ASSERT_EQ(Cli({"run", "r"}).exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "fin.log"));  // `failed` runs no finally
  auto r = Cli({"rollback", "last"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Read("undo.log"), "undo-b\nundo-a\n");
  EXPECT_EQ(Read("fin.log"), "rolled_back\n");
  EXPECT_EQ(Show()["status"], "rolled_back");
  dir_.Write("runbooks/bad-undo.yaml", "name: bad-undo\non_failure: stop\nsteps:\n  - { id: a, run: 'true', rollback: 'exit 3' }\n"
                                       "  - { id: b, run: 'exit 1', needs: a }\n");
  ASSERT_EQ(Cli({"run", "bad-undo"}).exit_code, 1);
  EXPECT_EQ(Cli({"rollback", "last"}).exit_code, 1);
  EXPECT_EQ(Show()["status"], "rollback_failed");
}

TEST_F(ResumeMoreTest, OutputsAndInputsAreReusedAndSecretsComeBackFromTheirVariable) {
  dir_.Write("runbooks/o.yaml", R"Y(name: o
on_failure: stop
inputs: { env: { default: staging }, token: { secret: true, from_env: TOK } }
steps:
  - { id: pick, run: "echo backup-$RANDOM >> picked.log; tail -1 picked.log", outputs: { file: stdout } }
  - { id: use, needs: pick, run: "test -e ok && echo {{ steps.pick.outputs.file }} {{ inputs.env }} > used.txt && test \"{{ inputs.token }}\" = \"$WANT\"" }
)Y");
  std::map<std::string, std::string> env = {{"TOK", "tok-123"}, {"WANT", "tok-123"}};
  ASSERT_EQ(Cli({"run", "o", "--input", "env=production"}, env).exit_code, 1);
  dir_.Write("ok", "");
  auto r = Cli({"resume"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string picked = Read("picked.log");
  EXPECT_EQ(Lines("picked.log"), 1);  // not picked again
  EXPECT_EQ(Read("used.txt"), picked.substr(0, picked.size() - 1) + " production\n");
}

TEST_F(ResumeMoreTest, ASecondRunOfAnExclusiveRunbookIsRefusedWhileOneIsLive) {
  dir_.Write("runbooks/three.yaml", kThree);
  dir_.Write("go.sh", "mkfifo started\n" + std::string(RUNBOOK_BINARY) + " run three > bg.out 2>&1 &\npid=$!\n"
             "read x < started\n" +
             std::string(RUNBOOK_BINARY) + " run three > second.out 2>&1; echo $? > second.code\n"
             "kill -TERM $pid\nwait $pid\n");
  std::system(("cd " + ShellQuote(dir_.path().string()) + " && timeout 120 bash go.sh").c_str());
  EXPECT_EQ(Read("second.code"), "4\n");
  EXPECT_NE(Read("second.out").find("three is being run right now: run "), std::string::npos) << Read("second.out");
  EXPECT_NE(Read("second.out").find("@"), std::string::npos);
}

TEST_F(ResumeMoreTest, NoSecretInJsonOutput) {
  dir_.Write("runbooks/s.yaml", "name: s\ninputs: { token: { secret: true } }\nsteps:\n  - { id: a, run: 'echo \"{{ inputs.token }}\"' }\n");
  auto r = Cli({"run", "s", "--input", "token=sekrit-42", "--output", "json"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.find("sekrit-42"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("***"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace runbook::testing
