#include "engine/plan.h"

#include <gtest/gtest.h>

#include <set>

#include "engine/test_util.h"

namespace runbook {
namespace {

class PlanTest : public ::testing::Test {
 protected:
  void Load(const std::string& steps) {
    checked_ = testing::Check("name: t\nsteps:\n" + steps);
    ASSERT_FALSE(checked_.diags.HasErrors()) << checked_.Text();
    plan_ = std::make_unique<Plan>(checked_.runbook.steps);
  }
  int V(const std::string& id) { return *plan_->graph().Index(id); }
  std::vector<std::string> Ready(int slots = -1) {
    std::vector<std::string> out;
    for (int v : plan_->Ready(slots)) out.push_back(plan_->graph().step(v).id);
    return out;
  }
  void Run(const std::string& id, StepStatus end = StepStatus::kSucceeded) {
    ASSERT_TRUE(plan_->Transition(V(id), StepStatus::kRunning));
    ASSERT_TRUE(plan_->Transition(V(id), end));
  }
  void Skip(const std::string& id, bool propagates = true) {
    ASSERT_TRUE(plan_->Transition(V(id), StepStatus::kSkipped, propagates));
  }
  void Put(const std::string& id, StepStatus s) {
    StepRecord r = plan_->record(V(id));
    r.status = s;
    plan_->Restore(V(id), r, false);
  }

  testing::Checked checked_;
  std::unique_ptr<Plan> plan_;
};

TEST_F(PlanTest, AStepIsReadyWhenEveryNeedIsFinished) {
  Load("  - { id: a, run: x }\n  - { id: b, run: x }\n  - { id: c, run: x, needs: [a, b] }\n");
  EXPECT_EQ(Ready(), (std::vector<std::string>{"a", "b"}));
  Run("a");
  EXPECT_EQ(Ready(), std::vector<std::string>{"b"});
  Run("b", StepStatus::kFailed);  // failed counts as finished (on_failure: continue)
  EXPECT_EQ(Ready(), std::vector<std::string>{"c"});
  EXPECT_EQ(plan_->GateOf(V("c")), Plan::Gate::kRun);
}

TEST_F(PlanTest, WithFewSlotsOnlyTheFirstProcessStepsButEveryOtherStepIsReady) {
  Load("  - { id: a, run: x }\n  - { id: w, wait: 1s }\n  - { id: b, run: x }\n  - { id: c, run: x }\n"
       "  - { id: m, manual: check it }\n  - { id: j, run: x, needs: [a, b, c] }\n");
  EXPECT_EQ(Ready(), (std::vector<std::string>{"a", "w", "b", "c", "m"}));
  EXPECT_EQ(Ready(1), (std::vector<std::string>{"a", "w", "m"}));
  EXPECT_EQ(Ready(2), (std::vector<std::string>{"a", "w", "b", "m"}));
  EXPECT_EQ(Ready(0), (std::vector<std::string>{"w", "m"}));
  ASSERT_TRUE(plan_->Transition(V("a"), StepStatus::kRunning));
  EXPECT_EQ(Ready(1), (std::vector<std::string>{"w", "b", "m"}));
  // A state restored back from finished makes its dependents wait again.
  ASSERT_TRUE(plan_->Transition(V("a"), StepStatus::kSucceeded));
  Run("b");
  Run("c");
  EXPECT_EQ(Ready(), (std::vector<std::string>{"w", "m", "j"}));
  Put("c", StepStatus::kPending);
  EXPECT_EQ(Ready(), (std::vector<std::string>{"w", "c", "m"}));
  // Restoring the same finished state twice counts it once.
  Put("c", StepStatus::kSucceeded);
  Put("c", StepStatus::kSucceeded);
  Put("c", StepStatus::kPending);
  EXPECT_EQ(Ready(), (std::vector<std::string>{"w", "c", "m"}));
}

TEST_F(PlanTest, NothingIsReadyAfterHalt) {
  Load("  - { id: a, run: x }\n  - { id: b, run: x }\n");
  plan_->Halt();
  EXPECT_TRUE(Ready().empty());
}

TEST_F(PlanTest, SkipsJoinOnlyWhenEveryNeedWasSkipped) {
  Load("  - { id: a, run: x, when: 'false' }\n  - { id: b, run: x, when: 'false' }\n  - { id: c, run: x }\n"
       "  - { id: join-ab, run: x, needs: [a, b] }\n  - { id: join-ac, run: x, needs: [a, c] }\n");
  Skip("a");
  Skip("b");
  Run("c");
  EXPECT_EQ(plan_->GateOf(V("join-ab")), Plan::Gate::kSkipNeedsSkipped);
  EXPECT_EQ(plan_->GateOf(V("join-ac")), Plan::Gate::kRun);
}

TEST_F(PlanTest, APersonsSkipDoesNotPropagate) {
  Load("  - { id: check, manual: look }\n  - { id: after, run: x, needs: check }\n");
  Skip("check", /*propagates=*/false);
  EXPECT_EQ(Ready(), std::vector<std::string>{"after"});
  EXPECT_EQ(plan_->GateOf(V("after")), Plan::Gate::kRun);
}

TEST_F(PlanTest, AStepWithItsOwnWhenIsDecidedByItAlone) {
  Load("  - { id: a, run: x, when: 'false' }\n  - { id: else, run: x, needs: a, when: \"skipped('a')\" }\n");
  Skip("a");
  EXPECT_EQ(plan_->GateOf(V("else")), Plan::Gate::kEvaluateWhen);
}

TEST_F(PlanTest, UntakenBranchesAreSkippedAndTheJoinRunsAfterTheTakenOne) {
  Load(R"Y(  - id: d
    decision:
      choices:
        - { value: left, goto: [l1] }
        - { value: right, goto: [r1] }
      default: left
  - { id: l1, run: x }
  - { id: l2, run: x, needs: l1 }
  - { id: r1, run: x, when: 'true' }
  - { id: r2, run: x, needs: r1 }
  - { id: join, run: x, needs: [l2, r2] }
)Y");
  Run("d");
  plan_->Choose(V("d"), "left");
  EXPECT_EQ(Ready(), (std::vector<std::string>{"l1", "r1"}));
  EXPECT_EQ(plan_->GateOf(V("l1")), Plan::Gate::kRun);
  EXPECT_EQ(plan_->GateOf(V("r1")), Plan::Gate::kSkipUntakenBranch);  // its own when does not matter
  Skip("r1");
  EXPECT_EQ(plan_->GateOf(V("r2")), Plan::Gate::kSkipNeedsSkipped);
  Skip("r2");
  Run("l1");
  Run("l2");
  EXPECT_EQ(Ready(), std::vector<std::string>{"join"});
  EXPECT_EQ(plan_->GateOf(V("join")), Plan::Gate::kRun);
  Run("join");
  EXPECT_TRUE(plan_->Done());
}

TEST_F(PlanTest, ATargetOfTheTakenChoiceIsNeverSkippedEvenIfAnotherChoiceNamesIt) {
  Load("  - id: d\n    decision: { choices: [{ value: a, goto: [x, y] }, { value: b, goto: [y] }], default: a }\n"
       "  - { id: x, run: x }\n  - { id: y, run: x }\n");
  Run("d");
  plan_->Choose(V("d"), "b");
  EXPECT_EQ(plan_->GateOf(V("x")), Plan::Gate::kSkipUntakenBranch);
  EXPECT_EQ(plan_->GateOf(V("y")), Plan::Gate::kRun);
}

TEST_F(PlanTest, TheStatusLivesInTheRecordAndChangesOnlyAsTheLifecycleAllows) {
  Load("  - { id: a, run: x }\n");
  EXPECT_EQ(plan_->record(V("a")).status, StepStatus::kPending);
  EXPECT_FALSE(plan_->Transition(V("a"), StepStatus::kSucceeded));  // never ran
  EXPECT_EQ(plan_->state(V("a")), StepStatus::kPending);
  Run("a");
  EXPECT_EQ(plan_->record(V("a")).status, StepStatus::kSucceeded);
  EXPECT_FALSE(plan_->Transition(V("a"), StepStatus::kRunning));  // a succeeded step never runs again
  EXPECT_EQ(plan_->state(V("a")), StepStatus::kSucceeded);
}

// Every pair of statuses, against the diagram in engine/lifecycle.h.
TEST(LifecycleTest, OnlyTheDiagramsTransitionsAreAllowed) {
  using S = StepStatus;
  const std::vector<S> all = {S::kPending, S::kRunning, S::kWaiting, S::kSucceeded,
                              S::kFailed, S::kSkipped, S::kInterrupted, S::kRolledBack};
  const std::set<std::pair<S, S>> allowed = {
      {S::kPending, S::kRunning},     {S::kPending, S::kSkipped},      {S::kRunning, S::kSucceeded},
      {S::kRunning, S::kFailed},      {S::kRunning, S::kSkipped},      {S::kRunning, S::kInterrupted},
      {S::kRunning, S::kWaiting},     {S::kWaiting, S::kRunning},      {S::kWaiting, S::kSucceeded},
      {S::kWaiting, S::kFailed},      {S::kWaiting, S::kSkipped},      {S::kWaiting, S::kInterrupted},
      {S::kSucceeded, S::kRolledBack}, {S::kFailed, S::kRolledBack},
  };
  for (S from : all)
    for (S to : all)
      EXPECT_EQ(CanTransition(from, to), allowed.count({from, to}) == 1) << ToString(from) << " -> " << ToString(to);
}

TEST(LifecycleTest, EveryNameParsesBackToItsValue) {
  for (size_t i = 0; i < EnumNames<StepStatus>::kNames.size(); ++i)
    EXPECT_EQ(Parse<StepStatus>(ToString(static_cast<StepStatus>(i))), static_cast<StepStatus>(i));
  for (size_t i = 0; i < EnumNames<RunStatus>::kNames.size(); ++i)
    EXPECT_EQ(Parse<RunStatus>(ToString(static_cast<RunStatus>(i))), static_cast<RunStatus>(i));
  EXPECT_EQ(Parse<RunPhase>("rollback"), RunPhase::kRollback);
  EXPECT_EQ(Parse<Reason>(""), Reason::kNone);
  EXPECT_EQ(Parse<StepStatus>("done"), std::nullopt);
}

}  // namespace
}  // namespace runbook
