// The run and resume use cases over the memory store and a fake host: who
// drives a run, what a resume needs again, and what is refused, exactly.
#include "engine/session.h"

#include <gtest/gtest.h>

#include <set>

#include "engine/memory_store.h"
#include "engine/test_util.h"
#include "tests/fakes.h"

namespace runbook {
namespace {

class FakeHost : public Host {
 public:
  Identity me{"ops", "db1", 100, "t0"};
  std::set<int> live;  // pids of engines alive on db1
  std::map<std::string, std::string> env, files;
  std::vector<std::string> made, removed;
  Identity Self() override { return me; }
  bool IsLive(const RunRecord& r) override { return r.owner_host != me.host || live.count(r.pid); }
  Result<std::string> MakePrivateDir() override {
    made.push_back("/tmp/runbook-100-" + std::to_string(made.size()));
    return made.back();
  }
  void RemovePrivateDir(const std::string& path) override {
    if (!path.empty()) removed.push_back(path);
  }
  std::optional<std::string> Env(const std::string& n) override {
    auto it = env.find(n);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  std::map<std::string, std::string> Environment() override { return env; }
  Result<std::string> ReadFile(const std::string& p) override {
    auto it = files.find(p);
    if (it == files.end()) return Status::NotFound(p);
    return it->second;
  }
  std::string SelfExe() override { return "/usr/bin/runbook"; }
  std::string WorkingDir() override { return "/elsewhere"; }
};

const char* kYaml =
    "name: dr\ninputs:\n  env: { required: true }\n  token: { secret: true, from_env: TOKEN }\n"
    "steps:\n  - { id: a, run: x }\n  - { id: ok, manual: check it, needs: a }\n";

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() {
    checked_ = testing::Check(kYaml, "/srv/runbooks/dr.yaml");
    host_.files["/srv/runbooks/dr.yaml"] = kYaml;
    settings_.state_path = "/srv/.runbook/state.db";
    settings_.runbook_path = {"runbooks"};
  }
  // A run of dr recorded as left by an engine `pid` (dead unless made live).
  std::string Recorded(RunStatus status, int pid = 7) {
    RunRecord r;
    r.id = "run-" + std::to_string(store_.runs.size() + 1);
    r.runbook = "dr";
    r.path = "runbooks/dr.yaml";
    r.source = kYaml;
    r.sha256 = Sha256(kYaml);
    r.workdir = "/srv";
    r.inputs = {{"env", "prod"}, {"token", "***"}};
    r.status = status;
    r.pid = pid;
    r.owner_user = "alice";
    r.owner_host = "db1";
    r.owner_start = "t7";
    r.tmp_dir = "/tmp/runbook-7-dead";
    r.started_at = static_cast<int64_t>(store_.runs.size());
    store_.runs[r.id] = r;
    return r.id;
  }
  Result<std::unique_ptr<PreparedRun>> Resume(ResumeRequest req) {
    return PrepareResume(req, settings_, store_, host_, clock_);
  }

  testing::Checked checked_;
  FakeHost host_;
  MemoryStore store_;
  testing::FakeClock clock_;
  EngineSettings settings_;
};

TEST_F(SessionTest, AResumeTakesOverAnOrphanedRunWithTheSecretFromItsVariable) {
  std::string id = Recorded(RunStatus::kRunning);
  host_.env["TOKEN"] = "s3cret";
  auto run = Resume({});
  ASSERT_TRUE(run.ok()) << run.status().message();
  const ExecOptions& o = (*run)->options();
  EXPECT_EQ(o.run_id, id);
  EXPECT_EQ(o.workdir, "/srv");  // the run's folder, not where resume was typed
  EXPECT_EQ(o.runbook_path, std::vector<std::string>{"/srv/runbooks"});
  EXPECT_EQ(o.inputs, (std::map<std::string, std::string>{{"env", "prod"}, {"token", "s3cret"}}));
  EXPECT_EQ(store_.runs[id].pid, 100);  // claimed
  EXPECT_EQ(store_.runs[id].tmp_dir, "/tmp/runbook-100-0");
  EXPECT_EQ(host_.removed, std::vector<std::string>{"/tmp/runbook-7-dead"});  // the dead owner's folder
  run->reset();
  EXPECT_EQ(host_.removed.back(), "/tmp/runbook-100-0");  // and its own, when done
}

TEST_F(SessionTest, ALiveOwnerIsNamedWithOrWithoutARunArgument) {
  std::string id = Recorded(RunStatus::kRunning);
  host_.live.insert(7);
  for (std::string target : {std::string(""), id}) {
    ResumeRequest req;
    req.target = target;
    auto run = Resume(req);
    ASSERT_FALSE(run.ok());
    EXPECT_TRUE(run.status().IsBusy());
    EXPECT_EQ(run.status().message().rfind("run " + id + " is live: driven by alice@db1 (pid 7) since ", 0), 0u)
        << run.status().message();
  }
  EXPECT_EQ(store_.runs[id].pid, 7);  // untouched
}

TEST_F(SessionTest, ASecretMustBeGivenAgainAndOnlySecretsMayBe) {
  Recorded(RunStatus::kInterrupted);
  auto run = Resume({});
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().message(), "secret input 'token' must be given again: --input token=... or $TOKEN");
  ResumeRequest req;
  req.inputs = {{"env", "staging"}};
  run = Resume(req);
  EXPECT_EQ(run.status().message(), "input 'env' is recorded with the run; resume takes only secret inputs");
  EXPECT_TRUE(host_.removed.empty() && host_.made.empty());  // refused before anything was made
}

TEST_F(SessionTest, AChangedRunbookIsRefusedUnlessAllowedThenTheNewTextIsUsed) {
  Recorded(RunStatus::kFailed);
  host_.env["TOKEN"] = "x";
  std::string changed = std::string(kYaml) + "  - { id: later, run: y, needs: ok }\n";
  host_.files["/srv/runbooks/dr.yaml"] = changed;
  auto run = Resume({});
  ASSERT_FALSE(run.ok());
  EXPECT_TRUE(run.status().IsInvalid());
  EXPECT_NE(run.status().message().find("/srv/runbooks/dr.yaml changed since run run-1 started"), std::string::npos);
  ResumeRequest req;
  req.allow_changed = true;
  run = Resume(req);
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_NE((*run)->runbook().FindStep("later"), nullptr);
}

TEST_F(SessionTest, AFinishedRunHasNothingToResumeAndAnswersAreChecked) {
  Recorded(RunStatus::kRolledBack);
  auto run = Resume({});
  EXPECT_TRUE(run.status().IsNotFound()) << run.status().message();
  ResumeRequest req;
  req.target = "run-1";
  EXPECT_EQ(Resume(req).status().message(), "run run-1 ended rolled_back; there is nothing to resume");
  req.rollback_only = true;
  EXPECT_EQ(Resume(req).status().message(), "run run-1 ended rolled_back; there is nothing to roll back");
  req.rollback_only = false;
  Recorded(RunStatus::kWaiting);
  host_.env["TOKEN"] = "x";
  req.target = "run-2";
  req.answers = {{"ok", "yes"}};
  EXPECT_EQ(Resume(req).status().message(), "'yes' is not an answer for step 'ok': expected one of done, skip, fail");
}

TEST_F(SessionTest, AnExclusiveRunbookThatIsOpenIsRefusedAndInputsAreCheckedFirst) {
  RunRequest req;
  auto run = PrepareRun(checked_.runbook, req, settings_, &store_, host_, clock_);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().message(), "missing required input 'env' (--input env=...)");
  EXPECT_EQ(PrepareRun(testing::Check("name: e\ninputs: { env: { enum: [staging, production], required: true } }\n"
                                      "steps: [{ id: a, run: x }]\n").runbook,
                       req, settings_, &store_, host_, clock_)
                .status()
                .message(),
            "missing required input 'env' (--input env=...): one of staging, production");
  EXPECT_EQ(store_.commits, 0);
  EXPECT_TRUE(host_.made.empty());
  req.inputs = {{"env", "prod"}};
  std::string open = Recorded(RunStatus::kRunning);
  host_.live.insert(7);
  run = PrepareRun(checked_.runbook, req, settings_, &store_, host_, clock_);
  ASSERT_FALSE(run.ok());
  EXPECT_TRUE(run.status().IsBusy());
  EXPECT_EQ(run.status().message().rfind("dr is being run right now: run " + open + " by alice@db1", 0), 0u);
  EXPECT_EQ(host_.removed, host_.made);  // its folder went with the refusal
  req.new_run = true;
  run = PrepareRun(checked_.runbook, req, settings_, &store_, host_, clock_);
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_TRUE((*run)->options().run_exists);
  EXPECT_EQ(store_.runs.size(), 2u);
  EXPECT_EQ(store_.runs[(*run)->options().run_id].tmp_dir, (*run)->options().tmp_dir);
}

TEST_F(SessionTest, APreparedResumeExecutesWithTheFakeRunnerAndRepeatsNothingFinished) {
  std::string id = Recorded(RunStatus::kWaiting);
  StepRecord a;
  a.run_id = id;
  a.step_id = "a";
  a.status = StepStatus::kSucceeded;
  a.attempts = 1;
  StepRecord ok;
  ok.run_id = id;
  ok.step_id = "ok";
  ok.status = StepStatus::kWaiting;
  store_.steps[id] = {a, ok};
  host_.env["TOKEN"] = "x";
  ResumeRequest req;
  req.answers = {{"ok", "done"}};
  auto run = Resume(req);
  ASSERT_TRUE(run.ok()) << run.status().message();
  testing::FakeRunner runner(&clock_);
  testing::RecordingReporter reporter;
  testing::ScriptedAsker asker;
  RunOutcome out =
      Executor((*run)->runbook(), (*run)->options(), &store_, &runner, &clock_, &reporter, &asker).Run();
  EXPECT_EQ(out.status, RunStatus::kSucceeded) << out.error;
  EXPECT_TRUE(runner.started.empty());  // `a` had succeeded: only the answer was needed
  EXPECT_EQ(store_.runs[id].status, RunStatus::kSucceeded);
  EXPECT_EQ(store_.decisions[id].back().by, "ops@db1");
}

}  // namespace
}  // namespace runbook
