// A write failure (a full disk) in the middle of a run, injected by a
// forwarding wrapper around the real SQLite store (leveldb's ErrorEnv): the
// run stops, its steps are killed, and what was recorded is consistent
// enough for resume to finish the run without repeating a succeeded step.
#include <gtest/gtest.h>

#include "engine/executor.h"
#include "engine/test_util.h"
#include "state/sqlite_store.h"
#include "tests/cli_harness.h"
#include "tests/fakes.h"

namespace runbook::testing {
namespace {

class FailingStore : public StateStore {
 public:
  FailingStore(StateStore* base, int fail_from) : base_(base), fail_from_(fail_from) {}
  Status Commit(const Batch& b) override {
    if (++commits_ >= fail_from_) return Status::IOError("disk I/O error (the disk is full)");
    return base_->Commit(b);
  }
  Result<std::optional<RunRecord>> CreateRun(const RunRecord& r, bool e, const LivenessCheck& l) override {
    return base_->CreateRun(r, e, l);
  }
  Result<Claim> ClaimRun(const std::string& id, const RunRecord& o, const LivenessCheck& l) override {
    return base_->ClaimRun(id, o, l);
  }
  Result<RunRecord> GetRun(const std::string& id) override { return base_->GetRun(id); }
  Result<std::string> ResolveRun(const std::string& r) override { return base_->ResolveRun(r); }
  Result<std::vector<RunRecord>> ListRuns(const RunFilter& f) override { return base_->ListRuns(f); }
  Result<std::vector<StepRecord>> GetSteps(const std::string& id) override { return base_->GetSteps(id); }
  Result<std::vector<AttemptRecord>> GetAttempts(const std::string& id) override { return base_->GetAttempts(id); }
  Result<std::vector<DecisionRecord>> GetDecisions(const std::string& id) override { return base_->GetDecisions(id); }
  Result<std::vector<EventRecord>> GetEvents(const std::string& id) override { return base_->GetEvents(id); }
  Status AddToken(const std::string& n, const std::string& h, int64_t at) override { return base_->AddToken(n, h, at); }
  Result<std::optional<std::string>> TokenName(const std::string& h) override { return base_->TokenName(h); }
  Result<std::vector<std::pair<std::string, int64_t>>> ListTokens() override { return base_->ListTokens(); }
  Result<PostedAnswer> PostAnswer(const InboxAnswer& a) override { return base_->PostAnswer(a); }
  Result<std::vector<InboxAnswer>> PendingAnswers(const std::string& id) override { return base_->PendingAnswers(id); }
  Result<bool> WaitForChange(int64_t ms) override { return base_->WaitForChange(ms); }

 private:
  StateStore* base_;
  int fail_from_;
  int commits_ = 0;
};

const char* kRunbook = R"Y(name: t
steps:
  - { id: a, run: step-a }
  - { id: b, run: step-b, needs: a }
  - { id: slow, run: step-slow }
  - { id: c, run: step-c, needs: [b, slow] }
)Y";

TEST(StoreFaultTest, AFailedWriteStopsTheRunAndResumeFinishesIt) {
  TempDir dir;
  std::string db = (dir.path() / "state.db").string();
  auto checked = Check(kRunbook);
  ASSERT_FALSE(checked.diags.HasErrors());
  FakeClock clock;
  FakeRunner runner(&clock);
  runner.script = {FakeCommand::Of("step-slow").Takes(60'000), FakeCommand::Of("step-").Takes(1'000)};
  RecordingReporter reporter;
  ScriptedAsker asker;
  ExecOptions o;
  o.run_id = "r1";
  o.workdir = dir.path().string();
  o.tmp_dir = dir.path().string();
  o.jobs = 4;
  {
    auto store = SqliteStore::Open(db, Durability::kCrash);
    ASSERT_TRUE(store.ok());
    // Commits: 1 run, 2 a running, 3 slow running, 4 a succeeded with b running (a step's result is
    // written with the next start), 5 b succeeded, written before the engine waits again: fails.
    FailingStore failing(store.value().get(), 5);
    RunOutcome out = Executor(checked.runbook, o, &failing, &runner, &clock, &reporter, &asker).Run();
    EXPECT_NE(out.error.find("the disk is full"), std::string::npos) << out.error;
    EXPECT_EQ(runner.running(), 0);  // slow was killed, not left behind
    EXPECT_EQ(runner.StartTimes("step-c").size(), 0u);
  }
  auto store = SqliteStore::Open(db, Durability::kCrash);
  ASSERT_TRUE(store.ok());
  auto steps = store.value()->GetSteps("r1");
  std::map<std::string, std::string> status;
  for (const auto& s : *steps) status[s.step_id] = ToString(s.status);
  EXPECT_EQ(status["a"], "succeeded");
  EXPECT_EQ(status["b"], "running");  // its result never landed: it will run again
  ResumeState st;
  st.run = *store.value()->GetRun("r1");
  st.steps = *steps;
  o.resume = st;
  o.run_exists = true;
  runner.started.clear();
  RunOutcome out = Executor(checked.runbook, o, store.value().get(), &runner, &clock, &reporter, &asker).Run();
  EXPECT_EQ(out.status, RunStatus::kSucceeded) << out.error;
  EXPECT_EQ(runner.StartTimes("step-a").size(), 0u);  // succeeded before the fault: never again
  EXPECT_EQ(runner.StartTimes("step-b").size(), 1u);
  EXPECT_EQ(runner.StartTimes("step-c").size(), 1u);
}

}  // namespace
}  // namespace runbook::testing
