// The crash torture test of SPEC 7: a 30-step runbook in five parallel
// branches whose steps append to a log; the engine is SIGKILLed at 20 seeded
// random moments and resumed each time. At the end the run has succeeded,
// every step ran at least once, a step ran more than once only if it was
// recorded running at a kill (then at most once more per such kill), and the
// database passes PRAGMA integrity_check.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <random>
#include <sstream>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

using nlohmann::json;

std::string TortureRunbook() {
  std::string y = "name: torture\nsteps:\n";
  for (int b = 0; b < 5; ++b)
    for (int i = 0; i < 6; ++i) {
      std::string id = "b" + std::to_string(b) + "-s" + std::to_string(i);
      y += "  - { id: " + id + ", run: 'echo " + id + " >> ran.log; sleep 0.1" + std::to_string(2 * ((b + i) % 5)) + "'";
      if (i > 0) y += ", needs: b" + std::to_string(b) + "-s" + std::to_string(i - 1);
      y += " }\n";
    }
  return y;
}

TEST(CrashTest, TwentyKillsAndResumesLoseNothingAndRepeatOnlyWhatWasRunning) {
  TempDir dir;
  dir.Write("runbooks/torture.yaml", TortureRunbook());
  std::mt19937 rng(20261125);  // seeded: the same moments every time
  std::uniform_int_distribution<int> delay_ms(15, 120);
  std::map<std::string, int> running_at_kill;
  int kills = 0;
  bool finished = false;
  for (int round = 0; round < 40 && kills < 20 && !finished; ++round) {
    std::string cmd = round == 0 ? "run torture --jobs 2" : "resume --jobs 2";
    int ms = delay_ms(rng);
    // The random moment is the point of the test, not a wait for something.
    dir.Write("go.sh", std::string(RUNBOOK_BINARY) + " " + cmd + " > /dev/null 2>&1 &\npid=$!\n"
              "sleep " + std::to_string(ms / 1000.0) + "\n"
              "if kill -9 $pid 2>/dev/null; then wait $pid; echo killed > what.txt; else wait $pid; echo done > what.txt; fi\n");
    std::system(("cd " + ShellQuote(dir.path().string()) + " && bash go.sh").c_str());
    auto show = RunCli({"show", "last", "--json"}, dir.path());
    ASSERT_EQ(show.exit_code, 0) << show.err;
    json run = json::parse(show.out);
    if (ReadAll(dir.path() / "what.txt") == "killed\n" && run["status"] == "running") {
      ++kills;
      for (const auto& s : run["steps"])
        if (s["status"] == "running") ++running_at_kill[s["id"]];
    }
    finished = run["status"] == "succeeded";
  }
  if (!finished) {
    auto last = RunCli({"resume"}, dir.path());
    ASSERT_EQ(last.exit_code, 0) << last.out << last.err;
  }
  std::cout << "kills: " << kills << ", steps running at a kill: " << running_at_kill.size() << "\n";
  EXPECT_EQ(kills, 20) << "the run ended before 20 kills landed: lengthen its steps";
  json run = json::parse(RunCli({"show", "last", "--json"}, dir.path()).out);
  EXPECT_EQ(run["status"], "succeeded");
  std::map<std::string, int> ran;
  std::istringstream log(ReadAll(dir.path() / "ran.log"));
  for (std::string id; std::getline(log, id);) ++ran[id];
  ASSERT_EQ(run["steps"].size(), 30u);
  for (const auto& s : run["steps"]) {
    std::string id = s["id"];
    EXPECT_EQ(s["status"], "succeeded") << id;
    EXPECT_GE(ran[id], 1) << id;
    EXPECT_LE(ran[id], 1 + running_at_kill[id]) << id << " ran again without being interrupted";
  }
  auto integrity = std::system(("cd " + ShellQuote(dir.path().string()) +
                                " && test \"$(sqlite3 .runbook/state.db 'PRAGMA integrity_check')\" = ok").c_str());
  EXPECT_EQ(integrity, 0);
}

}  // namespace
}  // namespace runbook::testing
