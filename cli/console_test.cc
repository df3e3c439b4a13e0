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

}  // namespace
}  // namespace runbook::cli
