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
      // Each run logs to its own file, so every run is checked on its own.
      y += "  - { id: " + id + ", run: 'echo " + id + " >> ran-$RUNBOOK_RUN_ID.log; sleep 0.0" +
           std::to_string(2 * (1 + (b + i) % 4)) + "'";
      if (i > 0) y += ", needs: b" + std::to_string(b) + "-s" + std::to_string(i - 1);
      y += " }\n";
    }
  return y;
}

json Show(const TempDir& dir, const std::string& run) {
  auto show = RunCli({"show", run, "--json"}, dir.path());
  EXPECT_EQ(show.exit_code, 0) << show.err;
  return json::parse(show.out);
}

// The run ended well: every step succeeded, ran at least once, and more than
// once only as often as it was caught running by a kill.
void CheckRun(const TempDir& dir, const std::string& id, std::map<std::string, int>& running_at_kill) {
  json run = Show(dir, id);
  EXPECT_EQ(run["status"], "succeeded") << id;
  std::map<std::string, int> ran;
  std::istringstream log(ReadAll(dir.path() / ("ran-" + id + ".log")));
  for (std::string step; std::getline(log, step);) ++ran[step];
  ASSERT_EQ(run["steps"].size(), 30u);
  for (const auto& s : run["steps"]) {
    std::string step = s["id"];
    EXPECT_EQ(s["status"], "succeeded") << step;
    EXPECT_GE(ran[step], 1) << step;
    EXPECT_LE(ran[step], 1 + running_at_kill[step]) << id << ": " << step << " ran again without being interrupted";
  }
}

TEST(CrashTest, TwentyKillsAndResumesLoseNothingAndRepeatOnlyWhatWasRunning) {
  TempDir dir;
  dir.Write("runbooks/torture.yaml", TortureRunbook());
  std::mt19937 rng(20261125);  // seeded: the same moments every time
  std::uniform_int_distribution<int> delay_ms(15, 150);
  std::map<std::string, std::map<std::string, int>> running_at_kill;  // run -> step -> kills
  std::vector<std::string> runs;
  int kills = 0;
  bool open = false;  // a run is under way (killed, to be resumed)
  for (int round = 0; round < 200 && (kills < 20 || open); ++round) {
    std::string cmd = open ? "resume --jobs 2" : "run torture --jobs 2";
    int ms = kills < 20 ? delay_ms(rng) : 60'000;  // after 20 kills: let it finish
    // The random moment is the point of the test, not a wait for something.
    dir.Write("go.sh", std::string(RUNBOOK_BINARY) + " " + cmd + " > /dev/null 2>&1 &\npid=$!\n"
              "for i in $(seq 1 " + std::to_string(ms) + "); do kill -0 $pid 2>/dev/null || break; sleep 0.001; done\n"
              "if kill -9 $pid 2>/dev/null; then wait $pid; echo killed > what.txt; else wait $pid; echo done > what.txt; fi\n");
    std::system(("cd " + ShellQuote(dir.path().string()) + " && bash go.sh").c_str());
    json run = Show(dir, "last");
    std::string id = run["id"];
    if (runs.empty() || runs.back() != id) runs.push_back(id);
    if (ReadAll(dir.path() / "what.txt") == "killed\n" && run["status"] == "running") {
      ++kills;
      for (const auto& s : run["steps"])
        if (s["status"] == "running") ++running_at_kill[id][s["id"]];
    }
    open = run["status"] != "succeeded";
  }
  std::cout << "kills: " << kills << " over " << runs.size() << " run(s)\n";
  EXPECT_EQ(kills, 20);
  for (const auto& id : runs) CheckRun(dir, id, running_at_kill[id]);
  auto integrity = std::system(("cd " + ShellQuote(dir.path().string()) +
                                " && test \"$(sqlite3 .runbook/state.db 'PRAGMA integrity_check')\" = ok").c_str());
  EXPECT_EQ(integrity, 0);
}

}  // namespace
}  // namespace runbook::testing
