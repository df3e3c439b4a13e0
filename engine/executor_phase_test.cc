// The executor across its phases (preflight, steps, rollback, finally), with
// the engine stopped at every commit and resumed from what the store holds:
// a failed write stops the engine exactly as a crash after the last commit
// would, so every crash point of a run is tried, not a sample of them.
#include <gtest/gtest.h>

#include "engine/executor.h"
#include "engine/memory_store.h"
#include "engine/test_util.h"
#include "tests/fakes.h"

namespace runbook {
namespace {

using testing::FakeClock;
using testing::FakeCommand;
using testing::FakeRunner;

// Commands name their unit: do-X (step X), check-X (its verification),
// undo-X (its rollback hook), pre-N (a preflight check), fin-X (finally).
constexpr const char* kFailing = R"Y(name: t
preflight:
  - { name: disk, run: pre-1 }
  - { name: net, run: pre-2 }
steps:
  - { id: a, run: do-a, rollback: undo-a, verify: { run: check-a } }
  - { id: b, run: do-b, needs: a, rollback: undo-b }
  - { id: p, run: do-p, needs: a, rollback: undo-p }
  - { id: c, run: do-c, needs: [b, p] }
finally:
  - { id: f1, run: fin-f1 }
  - { id: f2, run: fin-f2, needs: f1 }
)Y";

struct Engine {
  FakeClock clock;
  FakeRunner runner{&clock};
  testing::RecordingReporter reporter;
  testing::ScriptedAsker asker;
  std::vector<std::string> unrecorded;  // processes started without a running attempt in the store
};

ExecOptions Options() {
  ExecOptions o;
  o.run_id = "run-1";
  o.workdir = o.tmp_dir = "/tmp";
  o.user = "ops";
  o.host = "db1";
  o.jobs = 2;
  return o;
}

// The unit a command belongs to, and whether it is a forward step's command.
std::string Unit(const std::string& script) {
  size_t at = script.rfind('\n');
  return script.substr(at == std::string::npos ? 0 : at + 1);
}

RunOutcome RunOnce(const testing::Checked& c, MemoryStore& store, Engine& e, std::optional<ResumeState> resume) {
  e.runner.script = {FakeCommand::Of("do-c").Exit(1).Takes(50), FakeCommand::Of("").Takes(100)};
  e.runner.on_start = [&](const ProcessSpec& spec) {
    std::string cmd = Unit(spec.argv.back());
    bool found = false;
    for (const auto& a : store.attempts["run-1"])
      if (a.status == AttemptStatus::kRunning && a.command == cmd) found = true;
    if (!found) e.unrecorded.push_back(cmd);
  };
  ExecOptions o = Options();
  o.resume = std::move(resume);
  o.run_exists = o.resume.has_value();
  return Executor(c.runbook, o, &store, &e.runner, &e.clock, &e.reporter, &e.asker).Run();
}

ResumeState FromStore(MemoryStore& store) {
  ResumeState st;
  st.run = store.runs.at("run-1");
  st.steps = store.steps["run-1"];
  st.attempts = store.attempts["run-1"];
  st.decisions = store.decisions["run-1"];
  return st;
}

std::vector<std::string> Started(const Engine& e) {
  std::vector<std::string> out;
  for (const auto& s : e.runner.started) out.push_back(Unit(s.command));
  return out;
}

// What had finished well by the crash: those must never run again.
std::set<std::string> DoneAtCrash(MemoryStore& store) {
  std::set<std::string> done;
  for (const auto& s : store.steps["run-1"]) {
    std::string prefix = s.phase == "finally" ? "fin-" : "do-";
    if (s.status == StepStatus::kSucceeded || s.status == StepStatus::kRolledBack) done.insert(prefix + s.step_id);
    if (s.rollback == HookStatus::kSucceeded || s.rollback == HookStatus::kFailed) done.insert("undo-" + s.step_id);
  }
  return done;
}

class CrashEverywhereTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CrashEverywhereTest, ResumeAfterACrashAtAnyCommitRepeatsNothingFinishedAndEndsAsAnUnbrokenRun) {
  auto c = testing::Check(GetParam());
  ASSERT_FALSE(c.diags.HasErrors()) << c.Text();
  MemoryStore reference;
  Engine whole;
  RunOutcome want = RunOnce(c, reference, whole, std::nullopt);
  ASSERT_TRUE(want.error.empty()) << want.error;
  ASSERT_TRUE(whole.unrecorded.empty());
  int commits = reference.commits;
  ASSERT_GT(commits, 10);
  for (int n = 1; n < commits; ++n) {
    SCOPED_TRACE("crash after commit " + std::to_string(n));
    MemoryStore store;
    store.fail_commit_after = n;
    Engine first;
    RunOutcome crashed = RunOnce(c, store, first, std::nullopt);
    ASSERT_FALSE(crashed.error.empty());
    EXPECT_TRUE(first.unrecorded.empty()) << first.unrecorded[0];
    EXPECT_EQ(first.runner.running(), 0);  // a broken engine leaves nothing running
    store.fail_commit_after = -1;
    RunPhase phase = store.runs.at("run-1").phase;
    std::set<std::string> done = DoneAtCrash(store);
    Engine second;
    RunOutcome resumed = RunOnce(c, store, second, FromStore(store));
    EXPECT_TRUE(resumed.error.empty()) << resumed.error;
    EXPECT_EQ(resumed.status, want.status);
    EXPECT_TRUE(second.unrecorded.empty()) << second.unrecorded[0];
    for (const auto& cmd : Started(second)) {
      EXPECT_FALSE(done.count(cmd)) << cmd << " had finished before the crash and ran again";
      bool forward = cmd.rfind("do-", 0) == 0 || cmd.rfind("check-", 0) == 0;
      if (phase == RunPhase::kRollback || phase == RunPhase::kFinally) {
        EXPECT_FALSE(forward) << cmd << " ran after the run had entered " << ToString(phase);
      }
      if (phase == RunPhase::kFinally) {
        EXPECT_NE(cmd.rfind("undo-", 0), 0u) << cmd << " ran in finally";
      }
    }
    // Everything the uninterrupted run finished, this one finished too.
    for (const auto& s : reference.steps["run-1"])
      EXPECT_EQ(store.Step("run-1", s.step_id)->status, s.status) << s.step_id;
  }
}

INSTANTIATE_TEST_SUITE_P(Runbooks, CrashEverywhereTest,
                         ::testing::Values(kFailing,
                                           // The same, succeeding: finally after success.
                                           R"Y(name: t
preflight:
  - { name: disk, run: pre-1 }
steps:
  - { id: a, run: do-a, rollback: undo-a, verify: { run: check-a } }
  - { id: b, run: do-b, needs: a, rollback: undo-b }
  - { id: p, run: do-p, needs: a }
finally:
  - { id: f1, run: fin-f1 }
  - { id: f2, run: fin-f2, needs: f1 }
)Y"));

TEST(ExecutorPhaseTest, ThePhaseIsCommittedBeforeItsFirstTaskStarts) {
  auto c = testing::Check(kFailing);
  MemoryStore store;
  Engine e;
  std::vector<std::string> phase_at_start;
  RunOnce(c, store, e, std::nullopt);
  // Replay: each start saw the phase it belongs to already recorded.
  MemoryStore again;
  Engine e2;
  e2.runner.script = {FakeCommand::Of("do-c").Exit(1).Takes(50), FakeCommand::Of("").Takes(100)};
  e2.runner.on_start = [&](const ProcessSpec& spec) {
    phase_at_start.push_back(Unit(spec.argv.back()) + "@" + ToString(again.runs.at("run-1").phase));
  };
  ExecOptions o = Options();
  Executor(c.runbook, o, &again, &e2.runner, &e2.clock, &e2.reporter, &e2.asker).Run();
  EXPECT_EQ(phase_at_start,
            (std::vector<std::string>{"pre-1@preflight", "pre-2@preflight", "do-a@steps", "check-a@steps",
                                      "do-b@steps", "do-p@steps", "do-c@steps", "undo-p@rollback",
                                      "undo-b@rollback", "undo-a@rollback", "fin-f1@finally", "fin-f2@finally"}));
  EXPECT_EQ(again.runs.at("run-1").phase, RunPhase::kDone);
  EXPECT_EQ(again.runs.at("run-1").status, RunStatus::kRolledBack);
}

TEST(ExecutorPhaseTest, AHookThatTimesOutIsStoppedLikeAStepAndTheOthersStillRun) {
  auto c = testing::Check(
      "name: t\nsteps:\n  - { id: a, run: do-a, rollback: undo-a }\n"
      "  - { id: b, run: do-b, needs: a, rollback: { run: undo-b, timeout: 30s } }\n  - { id: c, run: do-c, needs: b }\n");
  ASSERT_FALSE(c.diags.HasErrors()) << c.Text();
  MemoryStore store;
  Engine e;
  e.runner.script = {FakeCommand::Of("do-c").Exit(1), FakeCommand::Of("undo-b").Hangs().IgnoresTerm(),
                     FakeCommand::Of("")};
  ExecOptions o = Options();
  o.grace_ms = 5'000;
  auto out = Executor(c.runbook, o, &store, &e.runner, &e.clock, &e.reporter, &e.asker).Run();
  EXPECT_EQ(out.status, RunStatus::kRollbackFailed);
  ASSERT_EQ(e.runner.signals.size(), 2u);
  EXPECT_EQ(e.runner.signals[0].first, "TERM set -eo pipefail\nundo-b");
  EXPECT_EQ(e.runner.signals[0].second, 30'000);
  EXPECT_EQ(e.runner.signals[1].second, 35'000);  // SIGKILL after the grace
  EXPECT_EQ(store.Step("run-1", "b")->rollback, HookStatus::kFailed);
  EXPECT_EQ(store.Step("run-1", "a")->rollback, HookStatus::kSucceeded);
  EXPECT_EQ(Started(e).back(), "undo-a");
}

TEST(ExecutorPhaseTest, AnInterruptDuringRollbackStopsTheHookAndResumeGoesOnRollingBack) {
  auto c = testing::Check(
      "name: t\nsteps:\n  - { id: a, run: do-a, rollback: undo-a }\n"
      "  - { id: b, run: do-b, needs: a, rollback: undo-b }\n  - { id: c, run: do-c, needs: b }\n");
  MemoryStore store;
  Engine e;
  volatile std::sig_atomic_t interrupt = 0;
  e.runner.script = {FakeCommand::Of("do-c").Exit(1), FakeCommand::Of("undo-b").Takes(10'000),
                     FakeCommand::Of("")};
  e.runner.on_start = [&](const ProcessSpec& spec) {
    if (Unit(spec.argv.back()) == "undo-b") interrupt = 1;  // Ctrl-C while the first hook runs
  };
  ExecOptions o = Options();
  o.interrupt = &interrupt;
  auto out = Executor(c.runbook, o, &store, &e.runner, &e.clock, &e.reporter, &e.asker).Run();
  EXPECT_EQ(out.status, RunStatus::kInterrupted);
  EXPECT_EQ(store.runs.at("run-1").phase, RunPhase::kRollback);
  EXPECT_EQ(store.Step("run-1", "b")->rollback, HookStatus::kPending);  // stopped: it runs again
  EXPECT_EQ(Started(e), (std::vector<std::string>{"do-a", "do-b", "do-c", "undo-b"}));

  Engine second;
  second.runner.script = {FakeCommand::Of("")};
  o.interrupt = nullptr;
  o.resume = FromStore(store);
  o.run_exists = true;
  out = Executor(c.runbook, o, &store, &second.runner, &second.clock, &second.reporter, &second.asker).Run();
  EXPECT_EQ(out.status, RunStatus::kRolledBack);
  EXPECT_EQ(Started(second), (std::vector<std::string>{"undo-b", "undo-a"}));
  // Each hook's attempts keep their own numbers.
  std::vector<int> b_hook;
  for (const auto& a : store.attempts["run-1"])
    if (a.step_id == "b" && a.kind == AttemptKind::kRollback) b_hook.push_back(a.number);
  EXPECT_EQ(b_hook, (std::vector<int>{1, 2}));
}

TEST(ExecutorPhaseTest, EveryVerificationTryKeepsItsOwnAttemptRecord) {
  auto c = testing::Check(
      "name: t\non_failure: stop\nsteps:\n  - id: a\n    run: do-a\n    retry: { attempts: 12, delay: 0s }\n"
      "    verify:\n      - { name: one, run: check-one }\n      - { name: two, run: check-two, retries: 1, interval: 0s }\n");
  ASSERT_FALSE(c.diags.HasErrors()) << c.Text();
  MemoryStore store;
  Engine e;
  e.runner.script = {FakeCommand::Of("check-two").Exit(1), FakeCommand::Of("")};
  ExecOptions o = Options();
  auto out = Executor(c.runbook, o, &store, &e.runner, &e.clock, &e.reporter, &e.asker).Run();
  EXPECT_EQ(out.status, RunStatus::kFailed);
  int runs = 0, verifies = 0;
  std::set<std::tuple<int, int, int>> keys;
  for (const auto& a : store.attempts["run-1"]) {
    if (a.kind == AttemptKind::kRun) ++runs;
    if (a.kind == AttemptKind::kVerify) {
      ++verifies;
      keys.insert({a.number, a.check, a.try_number});
    }
  }
  EXPECT_EQ(runs, 12);
  EXPECT_EQ(verifies, 12 * 3);  // check one once, check two twice, per attempt
  EXPECT_EQ(keys.size(), 36u);
  EXPECT_TRUE(keys.count({12, 2, 2}));
}

}  // namespace
}  // namespace runbook
