#include "engine/plan.h"

#include <gtest/gtest.h>

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
  void Run(const std::string& id, StepState end = StepState::kSucceeded) {
    plan_->Start(V(id));
    plan_->Finish(V(id), end);
  }

  testing::Checked checked_;
  std::unique_ptr<Plan> plan_;
};

TEST_F(PlanTest, AStepIsReadyWhenEveryNeedIsFinished) {
  Load("  - { id: a, run: x }\n  - { id: b, run: x }\n  - { id: c, run: x, needs: [a, b] }\n");
  EXPECT_EQ(Ready(), (std::vector<std::string>{"a", "b"}));
  Run("a");
  EXPECT_EQ(Ready(), std::vector<std::string>{"b"});
  Run("b", StepState::kFailed);  // failed counts as finished (on_failure: continue)
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
  plan_->Start(V("a"));
  EXPECT_EQ(Ready(1), (std::vector<std::string>{"w", "b", "m"}));
  // A state restored back from finished makes its dependents wait again.
  plan_->Finish(V("a"), StepState::kSucceeded);
  Run("b");
  Run("c");
  EXPECT_EQ(Ready(), (std::vector<std::string>{"w", "m", "j"}));
  plan_->Restore(V("c"), StepState::kPending, false);
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
  plan_->Finish(V("a"), StepState::kSkipped);
  plan_->Finish(V("b"), StepState::kSkipped);
  Run("c");
  EXPECT_EQ(plan_->GateOf(V("join-ab")), Plan::Gate::kSkipNeedsSkipped);
  EXPECT_EQ(plan_->GateOf(V("join-ac")), Plan::Gate::kRun);
}

TEST_F(PlanTest, APersonsSkipDoesNotPropagate) {
  Load("  - { id: check, manual: look }\n  - { id: after, run: x, needs: check }\n");
  plan_->Finish(V("check"), StepState::kSkipped, /*propagates=*/false);
  EXPECT_EQ(Ready(), std::vector<std::string>{"after"});
  EXPECT_EQ(plan_->GateOf(V("after")), Plan::Gate::kRun);
}

TEST_F(PlanTest, AStepWithItsOwnWhenIsDecidedByItAlone) {
  Load("  - { id: a, run: x, when: 'false' }\n  - { id: else, run: x, needs: a, when: \"skipped('a')\" }\n");
  plan_->Finish(V("a"), StepState::kSkipped);
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
  plan_->Finish(V("r1"), StepState::kSkipped);
  EXPECT_EQ(plan_->GateOf(V("r2")), Plan::Gate::kSkipNeedsSkipped);
  plan_->Finish(V("r2"), StepState::kSkipped);
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

}  // namespace
}  // namespace runbook
