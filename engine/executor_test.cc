// The executor over a fake clock and a scripted runner: deadlines, retries,
// backoff and ordering are exact, and a run of hours takes no time.
#include "engine/executor.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/memory_store.h"
#include "engine/test_util.h"
#include "tests/fakes.h"

namespace runbook {
namespace {

using testing::FakeClock;
using testing::FakeCommand;
using testing::FakeRunner;

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest() : runner_(&clock_) {}

  RunOutcome Run(const std::string& yaml, int jobs = 4) {
    checked_ = testing::Check(yaml);
    EXPECT_FALSE(checked_.diags.HasErrors()) << checked_.Text();
    ExecOptions o;
    o.run_id = "run-1";
    o.workdir = "/tmp";
    o.user = "ops";
    o.host = "db1";
    o.jobs = jobs;
    o.grace_ms = 10'000;
    o.tmp_dir = "/tmp";
    o.answers = answers_;
    Executor ex(checked_.runbook, o, &store_, &runner_, &clock_, &reporter_, &asker_);
    return ex.Run();
  }
  const StepRecord& Step(const std::string& id) {
    const StepRecord* s = store_.Step("run-1", id);
    EXPECT_NE(s, nullptr) << id;
    static StepRecord none;
    return s ? *s : none;
  }

  FakeClock clock_;
  FakeRunner runner_;
  MemoryStore store_;
  testing::RecordingReporter reporter_;
  testing::ScriptedAsker asker_;
  std::map<std::string, std::string> answers_;
  testing::Checked checked_;
};

TEST_F(ExecutorTest, ATimeoutSendsTermAtTheDeadlineAndKillAfterTheGrace) {
  runner_.script = {FakeCommand::Of("stuck").Hangs().IgnoresTerm()};
  auto out = Run("name: t\non_failure: stop\nsteps:\n  - { id: s, run: stuck, timeout: 30s }\n");
  EXPECT_EQ(out.status, RunStatus::kFailed);
  ASSERT_EQ(runner_.signals.size(), 2u);
  EXPECT_EQ(runner_.signals[0], (std::pair<std::string, int64_t>{"TERM set -eo pipefail\nstuck", 30'000}));
  EXPECT_EQ(runner_.signals[1].second, 40'000);
  EXPECT_EQ(Step("s").reason, Reason::kTimeout);
  EXPECT_EQ(Step("s").exit_code, 137);
}

TEST_F(ExecutorTest, RetriesWaitTheBackoffDelaysExactly) {
  runner_.script = {FakeCommand::Of("flaky").Exit(1).Takes(500).Times(3), FakeCommand::Of("flaky")};
  auto out = Run("name: t\nsteps:\n  - id: f\n    run: flaky\n    retry: { attempts: 5, delay: 1s, backoff: 2, max_delay: 3s }\n");
  EXPECT_EQ(out.status, RunStatus::kSucceeded);
  // Each try lasts 0.5s; then 1s, 2s, 3s (capped) before the next.
  EXPECT_EQ(runner_.StartTimes("flaky"), (std::vector<int64_t>{0, 1'500, 4'000, 7'500}));
  EXPECT_EQ(Step("f").attempts, 4);
}

TEST_F(ExecutorTest, AStepFailsWhenItsRetriesAreSpent) {
  runner_.script = {FakeCommand::Of("bad").Exit(3)};
  auto out = Run("name: t\non_failure: stop\nsteps:\n  - { id: b, run: bad, retry: { attempts: 3, delay: 10s } }\n");
  EXPECT_EQ(out.status, RunStatus::kFailed);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(runner_.StartTimes("bad"), (std::vector<int64_t>{0, 10'000, 20'000}));
  EXPECT_EQ(Step("b").reason, Reason::kExit);
  EXPECT_EQ(Step("b").exit_code, 3);
}

TEST_F(ExecutorTest, VerificationPollsAtItsIntervalThenRetriesTheStep) {
  runner_.script = {FakeCommand::Of("probe").Prints("not yet\n").Times(4), FakeCommand::Of("probe").Prints("ok\n"),
                    FakeCommand::Of("deploy").Takes(100)};
  auto out = Run(R"Y(name: t
steps:
  - id: d
    run: deploy
    retry: { attempts: 2, delay: 1m }
    verify: { run: probe, expect: { stdout: "^ok$" }, retries: 2, interval: 5s }
)Y");
  EXPECT_EQ(out.status, RunStatus::kSucceeded);
  // Attempt 1: deploy at 0, probes at 0.1, 5.1, 10.1 (1 + 2 retries), all "not yet";
  // attempt 2 one minute later: deploy at 70.1, probes at 70.2 (not yet), 75.2 (ok).
  EXPECT_EQ(runner_.StartTimes("deploy"), (std::vector<int64_t>{0, 70'100}));
  EXPECT_EQ(runner_.StartTimes("probe"), (std::vector<int64_t>{100, 5'100, 10'100, 70'200, 75'200}));
}

TEST_F(ExecutorTest, AVerificationTryHasItsOwnTimeout) {
  runner_.script = {FakeCommand::Of("probe").Hangs(), FakeCommand::Of("deploy")};
  auto out = Run("name: t\non_failure: stop\nsteps:\n  - id: d\n    run: deploy\n"
                 "    verify: { run: probe, timeout: 2s, retries: 1, interval: 1s }\n");
  EXPECT_EQ(out.status, RunStatus::kFailed);
  EXPECT_EQ(Step("d").reason, Reason::kVerification);
  // Try 1 at 0, TERM at 2s; try 2 after the 1s interval at 3s, TERM at 5s.
  EXPECT_EQ(runner_.StartTimes("probe"), (std::vector<int64_t>{0, 3'000}));
  ASSERT_EQ(runner_.signals.size(), 2u);
  EXPECT_EQ(runner_.signals[0].second, 2'000);
  EXPECT_EQ(runner_.signals[1].second, 5'000);
}

TEST_F(ExecutorTest, NoMoreThanJobsProcessesRunAtOnce) {
  runner_.script = {FakeCommand::Of("work").Takes(10'000)};
  auto out = Run("name: t\nsteps:\n  - { id: a, run: work a }\n  - { id: b, run: work b }\n  - { id: c, run: work c }\n", 2);
  EXPECT_EQ(out.status, RunStatus::kSucceeded);
  EXPECT_EQ(runner_.StartTimes("work"), (std::vector<int64_t>{0, 0, 10'000}));
}

TEST_F(ExecutorTest, TheRunTimeoutFailsRunningStepsAndRollsBack) {
  runner_.script = {FakeCommand::Of("long").Hangs(), FakeCommand::Of("undo")};
  auto out = Run("name: t\ntimeout: 1h\nsteps:\n  - { id: a, run: 'true', rollback: undo }\n  - { id: l, run: long, needs: a }\n");
  EXPECT_EQ(out.status, RunStatus::kRolledBack);
  EXPECT_EQ(runner_.signals[0].second, 3'600'000);
  EXPECT_EQ(Step("l").reason, Reason::kTimeout);
  EXPECT_EQ(Step("a").status, StepStatus::kRolledBack);
}

TEST_F(ExecutorTest, AWaitStepLastsExactlyItsDuration) {
  auto out = Run("name: t\nsteps:\n  - { id: w, wait: 1h30m }\n  - { id: after, run: after, needs: w }\n");
  EXPECT_EQ(out.status, RunStatus::kSucceeded);
  EXPECT_EQ(runner_.StartTimes("after"), std::vector<int64_t>{5'400'000});
}

TEST_F(ExecutorTest, AResumedWaitWaitsOnlyForWhatRemains) {
  auto checked = testing::Check("name: t\nsteps:\n  - { id: w, wait: 1h }\n  - { id: after, run: after, needs: w }\n");
  ResumeState st;
  st.run.id = "run-1";
  StepRecord w;
  w.run_id = "run-1";
  w.step_id = "w";
  w.status = StepStatus::kInterrupted;
  w.started_at = clock_.WallMs() - 40 * 60'000;  // 40 minutes of the hour had passed
  st.steps = {w};
  ExecOptions o;
  o.run_id = "run-1";
  o.workdir = "/tmp";
  o.tmp_dir = "/tmp";
  o.resume = st;
  o.run_exists = true;
  store_.runs["run-1"] = st.run;
  auto out = Executor(checked.runbook, o, &store_, &runner_, &clock_, &reporter_, &asker_).Run();
  EXPECT_EQ(out.status, RunStatus::kSucceeded);
  EXPECT_EQ(runner_.StartTimes("after"), std::vector<int64_t>{20 * 60'000});
}

TEST_F(ExecutorTest, AfterAResumeAVerificationSeesTheSameAttemptNumberAsItsCommand) {
  auto checked = testing::Check("name: t\nsteps:\n  - { id: d, run: deploy, verify: { run: probe } }\n");
  ResumeState st;
  st.run.id = "run-1";
  StepRecord d;
  d.run_id = "run-1";
  d.step_id = "d";
  d.status = StepStatus::kFailed;
  d.attempts = 2;  // two attempts before the engine stopped
  st.steps = {d};
  ExecOptions o;
  o.run_id = "run-1";
  o.workdir = "/tmp";
  o.tmp_dir = "/tmp";
  o.resume = st;
  o.run_exists = true;
  store_.runs["run-1"] = st.run;
  std::map<std::string, std::string> attempt;
  runner_.on_start = [&](const ProcessSpec& spec) { attempt[spec.argv.back()] = spec.env.at("RUNBOOK_ATTEMPT"); };
  ASSERT_EQ(Executor(checked.runbook, o, &store_, &runner_, &clock_, &reporter_, &asker_).Run().status, RunStatus::kSucceeded);
  EXPECT_EQ(attempt["set -eo pipefail\ndeploy"], "3");
  EXPECT_EQ(attempt["set -eo pipefail\nprobe"], "3");
}

TEST_F(ExecutorTest, AStepWhoseEnvCannotBeRenderedFailsWithReasonErrorAndRunsNothing) {
  auto out = Run("name: t\non_failure: stop\nsteps:\n  - { id: a, run: 'true' }\n"
                 "  - { id: b, needs: a, run: x, env: { V: '{{ steps.a.outputs.none }}' }, verify: { run: probe } }\n");
  EXPECT_EQ(out.status, RunStatus::kFailed);
  EXPECT_EQ(Step("b").reason, Reason::kError);
  EXPECT_TRUE(runner_.StartTimes("probe").empty());
}

TEST_F(ExecutorTest, RunningIsCommittedBeforeTheProcessStarts) {
  int checked = 0;
  runner_.on_start = [&](const ProcessSpec& spec) {
    const StepRecord* s = store_.Step("run-1", spec.env.at("RUNBOOK_STEP_ID"));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->status, StepStatus::kRunning);
    ++checked;
  };
  Run("name: t\nsteps:\n  - { id: a, run: x }\n  - { id: b, run: y, needs: a }\n");
  EXPECT_EQ(checked, 2);
}

TEST_F(ExecutorTest, ADependentStartsOnlyAfterItsNeedsResultIsCommitted) {
  runner_.on_start = [&](const ProcessSpec& spec) {
    if (spec.env.at("RUNBOOK_STEP_ID") == "b") {
      EXPECT_EQ(store_.Step("run-1", "a")->status, StepStatus::kSucceeded);
    }
  };
  EXPECT_EQ(Run("name: t\nsteps:\n  - { id: a, run: x }\n  - { id: b, run: y, needs: a }\n").status, RunStatus::kSucceeded);
}

TEST_F(ExecutorTest, TheStartOfANonIdempotentStepIsSynced) {
  Run("name: t\nsteps:\n  - { id: a, run: x }\n  - { id: b, run: y, needs: a, idempotent: false }\n");
  int synced = 0;
  for (bool s : store_.synced) synced += s;
  EXPECT_EQ(synced, 1);
}

TEST_F(ExecutorTest, AFailedWriteStopsTheRunAndKillsWhatRuns) {
  runner_.script = {FakeCommand::Of("slow").Takes(60'000)};
  // The run and the starts of a and b land; then the disk is full: the commit
  // carrying a's and b's results with c's start fails.
  store_.fail_commit_after = 3;
  auto out = Run("name: t\nsteps:\n  - { id: a, run: slow a }\n  - { id: b, run: slow b }\n  - { id: c, run: x, needs: [a, b] }\n");
  EXPECT_FALSE(out.error.empty());
  EXPECT_NE(out.error.find("disk full"), std::string::npos);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_TRUE(runner_.StartTimes("x").empty());  // nothing new started
  EXPECT_EQ(runner_.running(), 0);
}

// Group commit: a step's result travels with the next start.
TEST_F(ExecutorTest, AStepsResultIsCommittedWithTheStartOfTheStepThatNeedsIt) {
  Run("name: t\nsteps:\n  - { id: a, run: x }\n  - { id: b, run: x, needs: a }\n  - { id: c, run: x, needs: b }\n");
  // run started; a running; a succeeded + b running; b succeeded + c running; c succeeded; run ended.
  EXPECT_EQ(store_.commits, 6);
  EXPECT_EQ(Step("c").status, StepStatus::kSucceeded);
  std::vector<std::string> kinds;
  for (const auto& e : store_.events) kinds.push_back(e.kind + (e.step_id.empty() ? "" : " " + e.step_id));
  EXPECT_EQ(kinds, (std::vector<std::string>{"run.started", "step.running a", "step.succeeded a", "step.running b",
                                             "step.succeeded b", "step.running c", "step.succeeded c",
                                             "run.succeeded"}));
}

// Whatever the engine shows or asks, the record already holds.
class StoreCheckingReporter : public Reporter {
 public:
  explicit StoreCheckingReporter(MemoryStore* store) : store_(store) {}
  void Event(const ReportEvent& e) override {
    if (e.kind != "step.finished") return;
    const StepRecord* r = store_->Step("run-1", e.step);
    seen.push_back(e.step + ":" + e.status + "/" + (r ? ToString(r->status) : "none"));
  }
  std::vector<std::string> seen;

 private:
  MemoryStore* store_;
};

class StoreCheckingAsker : public testing::ScriptedAsker {
 public:
  explicit StoreCheckingAsker(MemoryStore* store) : store_(store) {}
  std::optional<std::string> Ask(const std::string& step, const std::string& text, const std::vector<std::string>& c,
                                 const std::vector<std::string>& v, const std::function<bool()>& elsewhere) override {
    const StepRecord* before = store_->Step("run-1", "a");
    recorded_before_asking = before ? ToString(before->status) : "none";
    return ScriptedAsker::Ask(step, text, c, v, elsewhere);
  }
  std::string recorded_before_asking;

 private:
  MemoryStore* store_;
};

TEST_F(ExecutorTest, NoResultIsShownOrAskedAboutBeforeItIsCommitted) {
  checked_ = testing::Check(
      "name: t\nsteps:\n  - { id: a, run: x }\n  - { id: f, run: boom, on_failure: continue }\n"
      "  - { id: m, manual: check a, needs: [a, f] }\n  - { id: s, run: x, needs: m, when: 'false' }\n");
  ASSERT_FALSE(checked_.diags.HasErrors()) << checked_.Text();
  runner_.script = {FakeCommand::Of("boom").Exit(1)};
  ExecOptions o;
  o.run_id = "run-1";
  o.workdir = o.tmp_dir = "/tmp";
  o.jobs = 1;
  StoreCheckingReporter reporter(&store_);
  StoreCheckingAsker asker(&store_);
  asker.tty = true;
  asker.answers = {"done"};
  EXPECT_EQ(Executor(checked_.runbook, o, &store_, &runner_, &clock_, &reporter, &asker).Run().status, RunStatus::kSucceeded);
  EXPECT_EQ(asker.recorded_before_asking, "succeeded");
  EXPECT_EQ(reporter.seen, (std::vector<std::string>{"a:succeeded/succeeded", "f:failed/failed",
                                                     "m:succeeded/succeeded", "s:skipped/skipped"}));
}

TEST_F(ExecutorTest, APersonAtATerminalIsAskedOnlyWhenNothingElseRuns) {
  asker_.tty = true;
  asker_.answers = {"done"};
  runner_.script = {FakeCommand::Of("slow").Takes(5'000)};
  auto out = Run("name: t\nsteps:\n  - { id: m, manual: check }\n  - { id: s, run: slow }\n  - { id: after, run: x, needs: m }\n");
  EXPECT_EQ(out.status, RunStatus::kSucceeded);
  EXPECT_EQ(asker_.asked, std::vector<std::string>{"m"});
  EXPECT_EQ(runner_.StartTimes("x"), std::vector<int64_t>{5'000});
}

TEST_F(ExecutorTest, WithoutATerminalOtherBranchesRunThenTheRunWaits) {
  runner_.script = {FakeCommand::Of("other").Takes(1'000)};
  auto out = Run("name: t\nsteps:\n  - { id: m, manual: check }\n  - { id: o, run: other }\n  - { id: after, run: x, needs: m }\n");
  EXPECT_EQ(out.status, RunStatus::kWaiting);
  EXPECT_EQ(out.exit_code, 3);
  EXPECT_EQ(Step("o").status, StepStatus::kSucceeded);
  EXPECT_EQ(Step("m").status, StepStatus::kWaiting);
  EXPECT_EQ(Step("after").status, StepStatus::kPending);
  EXPECT_EQ(out.waiting_commands,
            (std::vector<std::string>{"runbook resume run-1 --answer m=done", "runbook resume run-1 --answer m=skip",
                                      "runbook resume run-1 --answer m=fail"}));
}

// The web page's answers reach a live engine through the store's inbox.
TEST_F(ExecutorTest, AnAnswerFromTheWebIsTakenWhileOtherBranchesRun) {
  reporter_.on_event = [&](const ReportEvent& e) {
    if (e.kind == "step.waiting" && e.step == "go")
      store_.inbox.push_back({0, "run-1", "go", "b", "alice (web)", clock_.WallMs()});
  };
  runner_.script = {FakeCommand::Of("other").Takes(5'000)};
  auto out = Run(R"(name: t
steps:
  - id: go
    decision: { prompt: "Which way?", choices: [{ value: a, goto: left }, { value: b, goto: right }] }
  - { id: left, run: x-left, needs: go }
  - { id: right, run: x-right, needs: go }
  - { id: o, run: other }
)");
  EXPECT_EQ(out.status, RunStatus::kSucceeded);
  ASSERT_EQ(store_.decisions["run-1"].size(), 1u);
  const DecisionRecord& d = store_.decisions["run-1"][0];
  EXPECT_EQ(d.value, "b");
  EXPECT_EQ(d.source, AnswerSource::kWeb);
  EXPECT_EQ(d.by, "alice (web)");
  // Taken while `other` still ran, not after it: the branch started before 5 s.
  ASSERT_EQ(runner_.StartTimes("x-right").size(), 1u);
  EXPECT_LT(runner_.StartTimes("x-right")[0], 5'000);
  EXPECT_EQ(Step("left").status, StepStatus::kSkipped);
  EXPECT_TRUE(store_.inbox.empty());  // the decision's commit took it
}

TEST_F(ExecutorTest, AnAnswerTheStepDoesNotTakeIsLeftAndTheRunWaits) {
  reporter_.on_event = [&](const ReportEvent& e) {
    if (e.kind == "step.waiting") store_.inbox.push_back({0, "run-1", "m", "maybe", "mallory (web)", 0});
  };
  runner_.script = {FakeCommand::Of("other").Takes(1'000)};
  auto out = Run("name: t\nsteps:\n  - { id: m, manual: check }\n  - { id: o, run: other }\n");
  EXPECT_EQ(out.status, RunStatus::kWaiting);
  EXPECT_TRUE(store_.decisions["run-1"].empty());
}

TEST_F(ExecutorTest, AnAnswerFromTheWebEndsTheQuestionOnTheTerminal) {
  asker_.tty = true;
  asker_.answers = {"done"};  // what the person would have typed, too late
  asker_.while_asked = [&] { store_.inbox.push_back({0, "run-1", "m", "skip", "bob (web)", 0}); };
  auto out = Run("name: t\nsteps:\n  - { id: m, manual: check }\n  - { id: after, run: x, needs: m }\n");
  EXPECT_EQ(asker_.asked, std::vector<std::string>{"m"});
  ASSERT_EQ(store_.decisions["run-1"].size(), 1u);
  EXPECT_EQ(store_.decisions["run-1"][0].value, "skip");
  EXPECT_EQ(store_.decisions["run-1"][0].by, "bob (web)");
  EXPECT_EQ(store_.decisions["run-1"][0].source, AnswerSource::kWeb);
  EXPECT_EQ(Step("m").status, StepStatus::kSkipped);
  EXPECT_EQ(out.status, RunStatus::kSucceeded);
}

// notify: and escalation after: (issue 15, item 5).
struct Told {
  std::string kind, step, stdin_json;
  int64_t at;
};

TEST_F(ExecutorTest, NotifiersGetTheEventOnStdinAndInTheirEnvironmentAndAFailingOneFailsNothing) {
  std::vector<Told> told;
  runner_.on_start = [&](const ProcessSpec& spec) {
    if (spec.argv.back().find("tell") == std::string::npos) return;
    std::ifstream in(spec.stdin_file);
    std::stringstream json;
    json << in.rdbuf();
    told.push_back({spec.env.at("RUNBOOK_EVENT_KIND"), spec.env.at("RUNBOOK_EVENT_STEP"), json.str(), clock_.now});
  };
  runner_.script = {FakeCommand::Of("tell-broken").Exit(22), FakeCommand::Of("slow").Takes(2'000)};
  answers_ = {};
  auto out = Run(R"Y(name: t
notify:
  - { on: [waiting, succeeded], run: tell-ok }
  - { on: succeeded, run: tell-broken }
steps:
  - { id: s, run: slow }
  - { id: m, manual: "Check $(touch /tmp/pwned)", needs: s }
)Y");
  EXPECT_EQ(out.status, RunStatus::kWaiting);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].kind, "waiting");
  EXPECT_EQ(told[0].step, "m");
  EXPECT_NE(told[0].stdin_json.find("\"event\":\"waiting\""), std::string::npos) << told[0].stdin_json;
  EXPECT_NE(told[0].stdin_json.find("\"run\":\"run-1\""), std::string::npos);

  // Answered: the run succeeds, both notifiers run, the broken one is recorded and fails nothing.
  told.clear();
  store_ = MemoryStore();
  answers_ = {{"m", "done"}};
  out = Run(R"Y(name: t
notify:
  - { on: [waiting, succeeded], run: tell-ok }
  - { on: succeeded, run: tell-broken }
steps:
  - { id: m, manual: check }
)Y");
  EXPECT_EQ(out.status, RunStatus::kSucceeded);
  EXPECT_EQ(out.exit_code, 0);
  ASSERT_EQ(told.size(), 2u);
  EXPECT_EQ(told[0].kind, "succeeded");
  std::vector<std::string> kinds;
  for (const auto& e : store_.events) kinds.push_back(e.kind + ": " + e.message);
  auto has = [&](const std::string& text) {
    return std::any_of(kinds.begin(), kinds.end(), [&](const std::string& k) { return k.find(text) != k.npos; });
  };
  EXPECT_TRUE(has("notify.sent: notify #1 (succeeded) sent"));
  EXPECT_TRUE(has("notify.failed: notify #2 (succeeded) exited 22")) << ::testing::PrintToString(kinds);
  EXPECT_EQ(runner_.running(), 0);  // nothing outlives the engine
}

TEST_F(ExecutorTest, EscalationsFireOnceWhenTheirTimeHasComeWhileTheRunGoesOn) {
  std::vector<Told> told;
  runner_.on_start = [&](const ProcessSpec& spec) {
    if (spec.argv.back().find("tell") != std::string::npos)
      told.push_back({spec.env.at("RUNBOOK_EVENT_CONTACT"), spec.env.at("RUNBOOK_EVENT_STEP"), "", clock_.now});
  };
  runner_.script = {FakeCommand::Of("long").Takes(3'600'000)};
  auto out = Run(R"(name: t
escalation:
  - { contact: DBA, when: waiting, after: 5m }
  - { contact: CTO, when: always, after: 30m }
  - { contact: never, when: always, after: 2h }
  - { contact: on failure, when: failure }
notify:
  - { on: escalation, run: tell }
steps:
  - { id: long, run: long }
  - { id: m, manual: check }
)");
  EXPECT_EQ(out.status, RunStatus::kWaiting);
  ASSERT_EQ(told.size(), 2u);
  EXPECT_EQ(told[0].kind, "DBA");
  EXPECT_EQ(told[0].step, "m");
  EXPECT_GE(told[0].at, 300'000);
  EXPECT_LE(told[0].at, 300'000 + 250);  // looked at with the inbox, four times a second
  EXPECT_EQ(told[1].kind, "CTO");
  EXPECT_EQ(told[1].at, 1'800'000);  // a deadline of the loop: on the dot
  int due = 0;
  for (const auto& e : store_.events)
    if (e.kind == "escalation.due") {
      ++due;
      EXPECT_TRUE(e.message.rfind("escalate to ", 0) == 0) << e.message;
    }
  EXPECT_EQ(due, 2);  // once each, recorded
}

// Issue 22: a failed run whose steps had no hooks said `rolled_back`.
TEST_F(ExecutorTest, AFailedRunWithNothingToUndoIsFailedNotRolledBack) {
  runner_.script = {FakeCommand::Of("bad").Exit(1)};
  auto out = Run("name: t\non_failure: rollback\nsteps:\n  - { id: a, run: 'true' }\n"
                 "  - { id: b, run: bad, needs: a }\n");
  EXPECT_EQ(out.status, RunStatus::kFailed);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(Step("a").rollback, HookStatus::kNone);
}

TEST_F(ExecutorTest, AFailedRunWithAHookToRunIsRolledBack) {
  runner_.script = {FakeCommand::Of("bad").Exit(1)};
  auto out = Run("name: t\non_failure: rollback\nsteps:\n  - { id: a, run: 'true', rollback: undo }\n"
                 "  - { id: b, run: bad, needs: a }\n");
  EXPECT_EQ(out.status, RunStatus::kRolledBack);
  EXPECT_EQ(Step("a").rollback, HookStatus::kSucceeded);
}

// Issue 22: `when: timeout` fell due nowhere (the CLI passed timed_out=false).
TEST_F(ExecutorTest, ATimeoutEscalationIsRecordedAndToldWhenAStepTimesOut) {
  std::vector<std::string> told;
  runner_.on_start = [&](const ProcessSpec& spec) {
    if (spec.argv.back().find("tell") != std::string::npos) told.push_back(spec.env.at("RUNBOOK_EVENT_CONTACT"));
  };
  runner_.script = {FakeCommand::Of("stuck").Hangs()};
  auto out = Run(R"(name: t
on_failure: stop
escalation:
  - { contact: CTO, when: timeout }
  - { contact: DBA, when: failure }
notify:
  - { on: escalation, run: tell }
steps:
  - { id: s, run: stuck, timeout: 8s }
)");
  EXPECT_EQ(out.status, RunStatus::kFailed);
  EXPECT_TRUE(out.timed_out);
  EXPECT_EQ(told, std::vector<std::string>{"CTO"});
  std::vector<std::string> due;
  for (const auto& e : store_.events)
    if (e.kind == "escalation.due") due.push_back(e.step_id + ": " + e.message);
  EXPECT_EQ(due, std::vector<std::string>{"s: escalate to CTO: step s timed out after 8s"});
}

TEST_F(ExecutorTest, ATimeoutEscalationFallsDueWhenTheRunTimesOut) {
  runner_.script = {FakeCommand::Of("long").Takes(3'600'000)};
  auto out = Run("name: t\ntimeout: 1m\nescalation: [{ contact: CTO, when: timeout }]\n"
                 "steps:\n  - { id: a, run: long }\n");
  EXPECT_TRUE(out.timed_out);
  int due = 0;
  for (const auto& e : store_.events)
    if (e.kind == "escalation.due") {
      ++due;
      EXPECT_EQ(e.message, "escalate to CTO: the run timeout of 1m expired");
    }
  EXPECT_EQ(due, 1);
}

TEST_F(ExecutorTest, NoTimeoutEscalationWhenNothingTimedOut) {
  runner_.script = {FakeCommand::Of("bad").Exit(1)};
  auto out = Run("name: t\non_failure: stop\nescalation: [{ contact: CTO, when: timeout }]\n"
                 "steps:\n  - { id: a, run: bad }\n");
  EXPECT_FALSE(out.timed_out);
  for (const auto& e : store_.events) EXPECT_NE(e.kind, "escalation.due");
}

TEST_F(ExecutorTest, AnEngineThatLostItsRunStopsItsStepsAtTheNextHeartbeat) {
  runner_.script = {FakeCommand::Of("long").Takes(3'600'000)};
  runner_.on_start = [&](const ProcessSpec&) { store_.heartbeat_error = "run run-1 was taken over by ops@db2"; };
  auto out = Run("name: t\nsteps:\n  - { id: long, run: long }\n  - { id: next, run: x, needs: long }\n");
  EXPECT_NE(out.error.find("taken over by ops@db2"), std::string::npos) << out.error;
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(runner_.running(), 0);  // stopped, not left to run beside the new owner's
  ASSERT_FALSE(runner_.signals.empty());
  EXPECT_LE(runner_.signals.back().second, 5'000 + 1'000);  // within a heartbeat
  EXPECT_TRUE(runner_.StartTimes("x").empty());
}

}  // namespace
}  // namespace runbook
