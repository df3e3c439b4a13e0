// `runbook report` and `runbook postmortem` with the real binary, and the
// report every run writes when it ends.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

class ReportCliTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(ReportCliTest, EveryRunWritesItsReportAndPrintsWhere) {
  dir_.Write("runbooks/r.yaml", "name: r\ntitle: Restart the app\nsteps:\n  - { id: a, run: 'echo hi' }\n");
  auto r = RunCli({"run", "r"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto show = RunCli({"runs", "--json"}, dir_.path());
  std::string id = show.out.substr(show.out.find("\"id\": \"") + 7, 20);
  std::string path = ".runbook/reports/" + id + ".md";
  EXPECT_NE(r.err.find("report: " + (dir_.path() / path).string() + "\n"), std::string::npos) << r.err;
  std::string report = ReadAll(dir_.path() / path);
  EXPECT_EQ(report.rfind("# Restart the app\n", 0), 0u) << report;
  EXPECT_NE(report.find("| `a` | succeeded |"), std::string::npos) << report;
  EXPECT_EQ(RunCli({"report", "last"}, dir_.path()).out, report);
}

TEST_F(ReportCliTest, OutputFileIsWrittenAtomicallyAndTemplatesReplaceTheBuiltIns) {
  dir_.Write("runbooks/r.yaml", "name: r\nsteps:\n  - { id: a, run: 'exit 2' }\n");
  ASSERT_EQ(RunCli({"run", "r"}, dir_.path()).exit_code, 1);
  auto pm = RunCli({"postmortem", "last", "-o", "out/pm.md"}, dir_.path());
  ASSERT_EQ(pm.exit_code, 0) << pm.err;
  std::string text = ReadAll(dir_.path() / "out/pm.md");
  EXPECT_NE(text.find("| Status | **Draft** |"), std::string::npos) << text;
  EXPECT_NE(text.find("The run was stopped by `a` (exit, exit code 2)."), std::string::npos) << text;
  EXPECT_EQ(RunCli({"postmortem", "last"}, dir_.path()).out, text);
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "out"))
    EXPECT_EQ(e.path().filename(), "pm.md");  // no temporary left behind
  dir_.Write("mine.mustache", "Run {{run.id}} ended {{run.status}}.\n{{#steps}}- {{id}}: {{status}}\n{{/steps}}");
  auto mine = RunCli({"report", "last", "--template", "mine.mustache"}, dir_.path());
  ASSERT_EQ(mine.exit_code, 0) << mine.err;
  EXPECT_NE(mine.out.find(" ended failed.\n- a: failed\n"), std::string::npos) << mine.out;
  dir_.Write("bad.mustache", "{{#steps}} never closed");
  auto bad = RunCli({"report", "last", "--template", "bad.mustache"}, dir_.path());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad.mustache: template: "), std::string::npos) << bad.err;
}

TEST_F(ReportCliTest, ASecretNeverAppearsInEitherDocument) {
  dir_.Write("runbooks/s.yaml", "name: s\ninputs: { token: { secret: true } }\nsteps:\n"
                                "  - { id: a, run: 'echo \"using {{ inputs.token }}\"; exit 1', outputs: { t: stdout } }\n");
  RunCli({"run", "s", "--input", "token=tops3cret-99"}, dir_.path());
  for (const char* cmd : {"report", "postmortem"}) {
    auto r = RunCli({cmd, "last"}, dir_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("tops3cret-99"), std::string::npos) << cmd << ":\n" << r.out;
    EXPECT_NE(r.out.find("***"), std::string::npos) << cmd;
  }
}

TEST_F(ReportCliTest, EverySeedDocumentImportsIntoADraftThatValidates) {
  std::filesystem::path seeds = std::filesystem::path(RUNBOOK_SOURCE_DIR) / ".." / "shared" / "seeds";
  if (!std::filesystem::exists(seeds)) GTEST_SKIP() << "no ../shared/seeds beside the checkout";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(seeds)) {
    if (e.path().extension() != ".txt" || e.path().filename() == "README.md") continue;
    std::string out = e.path().stem().string() + ".yaml";
    auto r = RunCli({"import", e.path().string(), "-o", out}, dir_.path());
    ASSERT_EQ(r.exit_code, 0) << e.path() << r.err;
    auto v = RunCli({"validate", out}, dir_.path());
    EXPECT_EQ(v.exit_code, 0) << out << ": " << v.err;
    ++n;
  }
  EXPECT_EQ(n, 5);
  auto to_stdout = RunCli({"import", (seeds / "004_6440acc7fe501c75.txt").string()}, dir_.path());
  EXPECT_EQ(to_stdout.out.rfind("# Imported from 004_6440acc7fe501c75.txt", 0), 0u);
  EXPECT_EQ(RunCli({"import", "missing.md"}, dir_.path()).exit_code, 2);
}

}  // namespace
}  // namespace runbook::testing
