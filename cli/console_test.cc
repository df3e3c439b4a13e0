// The console's live line, on its own: its clock is the run's, not the
// engine's, so a resumed run's RTO budget goes on from the first start.
#include "cli/console.h"

#include <gtest/gtest.h>

#include <sstream>

namespace runbook::cli {
namespace {

TEST(TextReporterTest, TheRtoBudgetCountsFromTheRunsFirstStartAcrossAResume) {
  std::ostringstream out;
  TextReporter console(&out, /*live=*/true, /*color=*/false, /*rto_ms=*/60'000);
  // Resumed at t=100 s, 20 s after the run first started.
  ReportEvent started = ReportEvent::Of("run.started", "", "", "rb (resumed)");
  started.run_id = "run-1";
  started.at = 100'000;
  started.duration_ms = 20'000;
  console.Event(started);
  ReportEvent a = ReportEvent::Of("step.started", "a");
  a.at = 100'000;
  console.Event(a);
  ReportEvent b = ReportEvent::Of("step.started", "b");
  b.at = 100'500;
  console.Event(b);
  console.Tick(101'000);
  // 60 s of budget, 21 s gone since the first start.
  EXPECT_NE(out.str().find("running: a 1.0s, b 0.5s | RTO left 39.0s"), std::string::npos) << out.str();
}

TEST(TextReporterTest, StepOutputNeverHidesTheLiveLine) {
  std::ostringstream out;
  TextReporter console(&out, /*live=*/true, /*color=*/false, std::nullopt);
  ReportEvent a = ReportEvent::Of("step.started", "a");
  a.at = 1'000;
  console.Event(a);
  console.Tick(3'000);
  ReportEvent o = ReportEvent::Of("step.output", "a");
  o.stream = "stdout";
  o.data = "copying\n";
  console.Event(o);
  // The output line, then the live line again under it.
  std::string text = out.str();
  size_t line = text.find("copying\n");
  ASSERT_NE(line, std::string::npos) << text;
  EXPECT_NE(text.find("  running: a 2.0s", line), std::string::npos) << text;
}

// Issue 22: "RTO left 9m58scontinue it with: ..." - the live line was drawn
// again under the run's last line and glued to what came after.
TEST(TextReporterTest, TheLiveLineEndsWithTheRun) {
  std::ostringstream out;
  TextReporter console(&out, /*live=*/true, /*color=*/false, /*rto_ms=*/600'000);
  ReportEvent started = ReportEvent::Of("run.started", "", "", "rb");
  started.run_id = "run-1";
  started.at = 1'000;
  console.Event(started);
  ReportEvent a = ReportEvent::Of("step.started", "a");
  a.at = 1'000;
  console.Event(a);
  console.Tick(3'000);
  ReportEvent finished = ReportEvent::Of("run.finished", "", "interrupted");
  finished.run_id = "run-1";
  console.Event(finished);
  std::string text = out.str();
  ASSERT_NE(text.find("run run-1 interrupted"), std::string::npos) << text;
  // Nothing after the run's last line: the next output starts on a clean line.
  EXPECT_EQ(text.substr(text.size() - 1), "\n") << text;
  EXPECT_EQ(text.find("running:", text.find("run run-1 interrupted")), std::string::npos) << text;
}

TEST(TextReporterTest, AStepThatWaitsForAPersonTakesTheLiveLineAway) {
  std::ostringstream out;
  TextReporter console(&out, /*live=*/true, /*color=*/false, std::nullopt);
  ReportEvent a = ReportEvent::Of("step.started", "a");
  a.at = 1'000;
  console.Event(a);
  console.Tick(2'000);
  console.Event(ReportEvent::Of("step.waiting", "a", "", "Approve"));
  console.Tick(3'000);
  std::string text = out.str();
  size_t wait = text.find("needs a person: Approve\n");
  ASSERT_NE(wait, std::string::npos) << text;
  EXPECT_EQ(text.find("running:", wait), std::string::npos) << text;  // not drawn again while nothing runs
}

}  // namespace
}  // namespace runbook::cli
