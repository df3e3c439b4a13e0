// The run page over a record an older or hostile engine may have written.
#include "serve/pages.h"

#include <gtest/gtest.h>

#include "engine/test_util.h"

namespace runbook::serve {
namespace {

TEST(PagesTest, NoRecordedTextCanCloseThePagesScript) {
  ReportInput in;
  in.run.id = "</script><script>alert(1)</script>";
  in.run.runbook = "rb";
  std::string page = RunPage(in);
  EXPECT_EQ(page.find("<script>alert(1)"), std::string::npos);
  EXPECT_NE(page.find("const run=\"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\""),
            std::string::npos);
  // One script element: the page's own.
  size_t scripts = 0;
  for (size_t at = page.find("<script"); at != std::string::npos; at = page.find("<script", at + 1)) ++scripts;
  EXPECT_EQ(scripts, 1u);
}

// Issue 22: the page showed "{{ steps.lag.outputs.lag_bytes }}" where the
// terminal had shown the number.
TEST(PagesTest, AQuestionIsShownRenderedAsTheTerminalShowedIt) {
  auto checked = runbook::testing::Check(R"(name: failover
inputs: { standby: { default: db2 } }
steps:
  - { id: lag, run: measure }
  - id: go
    name: Promote {{ inputs.standby }}
    needs: lag
    decision:
      prompt: "The standby is {{ steps.lag.outputs.lag_bytes }} bytes behind. Go?"
      choices: [{ value: promote }, { value: wait }]
  - { id: check, needs: go, manual: "Look at {{ env.HOME }} on {{ inputs.standby }}" }
)");
  ASSERT_FALSE(checked.diags.HasErrors()) << checked.Text();
  ReportInput in;
  in.runbook = &checked.runbook;
  in.run.id = "r1";
  in.run.inputs = {{"standby", "db2"}};
  StepRecord lag;
  lag.step_id = "lag";
  lag.status = StepStatus::kSucceeded;
  lag.outputs = {{"lag_bytes", "4096"}};
  StepRecord go;
  go.step_id = "go";
  go.status = StepStatus::kWaiting;
  StepRecord check;
  check.step_id = "check";
  check.status = StepStatus::kWaiting;
  in.steps = {lag, go, check};
  std::string page = LiveFragment(in);
  EXPECT_NE(page.find("The standby is 4096 bytes behind. Go?"), std::string::npos) << page;
  EXPECT_NE(page.find("Promote db2 waits for a person"), std::string::npos) << page;
  // What the record cannot know (the engine's environment) stays as written.
  EXPECT_NE(page.find("Look at {{ env.HOME }} on {{ inputs.standby }}"), std::string::npos) << page;
  EXPECT_EQ(page.find("{{ steps.lag"), std::string::npos) << page;
}

}  // namespace
}  // namespace runbook::serve
