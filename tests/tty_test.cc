// `runbook run` on a real terminal: util-linux `script` gives it a pty, so
// the live display, colours and questions to a person are the real ones.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sqlite3.h>

#include <regex>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

class TtyTest : public ::testing::Test {
 protected:
  // Runs `runbook ARGS` under a pty with `input` typed at it.
  CliResult OnTty(const std::string& args, const std::string& input, const std::string& env = "") {
    dir_.Write("input.txt", input);
    std::string cmd = env + " " + std::string(RUNBOOK_BINARY) + " " + args;
    return RunCliShell("script -qefc " + ShellQuote(cmd) + " /dev/null < input.txt");
  }
  CliResult RunCliShell(const std::string& shell) {
    dir_.Write("tty.sh", shell + "\n");
    CliResult r;
    std::string full = "cd " + ShellQuote(dir_.path().string()) + " && bash tty.sh > out.txt 2> err.txt";
    int status = std::system(full.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadAll(dir_.path() / "out.txt");
    r.err = ReadAll(dir_.path() / "err.txt");
    return r;
  }
  TempDir dir_;
};

TEST_F(TtyTest, APersonChoosesAtTheTerminalAndTheAnswerIsRecorded) {
  dir_.Write("rb.yaml", R"Y(name: rb
steps:
  - id: assess
    decision:
      prompt: Fail over to the replica?
      choices: [{ value: failover, goto: [promote] }, { value: wait, goto: [hold] }]
  - { id: promote, run: echo promoting }
  - { id: hold, run: echo holding }
  - { id: check, manual: "Confirm traffic is back", checklist: [dashboards green] }
)Y");
  auto r = OnTty("run rb.yaml", "nonsense\nfailover\ndone\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Fail over to the replica?"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'nonsense' is not one of the answers."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[ ] dashboards green"), std::string::npos) << r.out;
  auto show = RunCli({"show", "last", "--json"}, dir_.path());
  auto run = nlohmann::json::parse(show.out);
  EXPECT_EQ(run["decisions"][0]["value"], "failover");
  EXPECT_EQ(run["decisions"][0]["source"], "tty");
  EXPECT_EQ(run["decisions"][1]["value"], "done");
}

TEST_F(TtyTest, ALongStepShowsElapsedTimeAndTheRtoBudgetLive) {
  // The step lasts until the terminal shows the live line (out.txt is what
  // `script` copies from the pty), bounded by its timeout: no fixed sleep.
  dir_.Write("rb.yaml", "name: rb\ntargets: { rto: 1h }\nsteps:\n  - { id: slow, timeout: 30s, run: "
                        "'until grep -q \"RTO left\" out.txt; do sleep 0.05; done' }\n");
  auto r = OnTty("run rb.yaml", "");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("running: slow"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RTO left 59m"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\033[32m"), std::string::npos) << "colour on a TTY";
}

// Interrupted runs keep their RTO clock: a run whose first start was 30
// minutes ago (its start moved back in the record, as if the first attempt
// had failed then) shows 29-and-some minutes left when resumed, and every
// view counts the recovery from that first start.
TEST_F(TtyTest, TheRtoClockCountsFromTheFirstStartAcrossAResume) {
  dir_.Write("rb.yaml", "name: rb\ntargets: { rto: 1h }\non_failure: stop\nsteps:\n"
                        "  - { id: a, run: 'test -f go' }\n"
                        "  - { id: slow, needs: [a], timeout: 30s, run: "
                        "'until grep -q \"RTO left\" out.txt; do sleep 0.05; done' }\n");
  ASSERT_EQ(RunCli({"run", "rb.yaml"}, dir_.path()).exit_code, 1);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / ".runbook/state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE runs SET started_at = started_at - 1800000", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  dir_.Write("go", "");
  auto r = OnTty("resume", "");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("RTO left 29m[0-9]{2}s"))) << r.out;
  auto show = RunCli({"show", "last"}, dir_.path());
  EXPECT_TRUE(std::regex_search(show.out, std::regex("\nRTO      1h: recovered in 30m[0-9]{2}s, within the RTO\n")))
      << show.out;
  auto json = nlohmann::json::parse(RunCli({"show", "last", "--json"}, dir_.path()).out);
  EXPECT_EQ(json["rto"]["target_ms"], 3600000);
  EXPECT_GE(json["rto"]["elapsed_ms"].get<int64_t>(), 1800000);
  auto report = RunCli({"report", "last"}, dir_.path());
  EXPECT_TRUE(std::regex_search(report.out, std::regex("\\| Recovery time \\| 30m[0-9]{2}s against an RTO of 1h: within")))
      << report.out;
  auto pm = RunCli({"postmortem", "last"}, dir_.path());
  EXPECT_TRUE(std::regex_search(pm.out, std::regex("Recovered in 30m[0-9]{2}s, within the RTO of 1h"))) << pm.out;
}

TEST_F(TtyTest, NoColourWithNoColorSetOrWithoutATty) {
  dir_.Write("rb.yaml", "name: rb\nsteps:\n  - { id: a, run: echo hi }\n");
  const std::regex colour("\033\\[[0-9;]*m");  // SGR; ESC[K (clear line) is not colour
  auto r = OnTty("run rb.yaml", "", "NO_COLOR=1");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(std::regex_search(r.out, colour)) << r.out;
  EXPECT_TRUE(std::regex_search(OnTty("run rb.yaml", "").out, colour));
  auto plain = RunCli({"run", "rb.yaml"}, dir_.path());
  EXPECT_EQ(plain.out.find("\033["), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("  ok     a"), std::string::npos) << plain.out;
}

}  // namespace
}  // namespace runbook::testing
