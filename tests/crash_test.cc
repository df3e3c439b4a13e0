// The crash torture test of SPEC 7, in every phase a run goes through: the
// engine is SIGKILLed at seeded random moments and resumed each time, until
// at least 20 kills have landed in the phase under test (steps, rollback or
// finally). Each command logs its unit, and leaves a long-lived grandchild
// that only the reaper can stop if the engine dies. At the end: the run
// ended as an unbroken one does; a step or hook ran more than once only if
// it was recorded running at a kill (then at most once more per such kill);
// no step process outlived its engine; PRAGMA integrity_check is ok.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <random>
#include <sstream>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

using nlohmann::json;

struct PhaseCase {
  const char* phase;        // where the kills must land
  const char* final_status;
  std::string (*yaml)(const std::string& token);
};

// `token` names the grandchild each command leaves: `pgrep -f TOKEN` finds survivors.
std::string Cmd(const std::string& unit, const std::string& token, int ms) {
  return "'echo " + unit + " >> ran-$RUNBOOK_RUN_ID.log; (exec -a " + token + " sleep 300) & sleep 0.0" +
         std::to_string(ms) + "'";
}

std::string StepsPhase(const std::string& token) {
  std::string y = "name: torture\nsteps:\n";
  for (int b = 0; b < 5; ++b)
    for (int i = 0; i < 6; ++i) {
      std::string id = "b" + std::to_string(b) + "-s" + std::to_string(i);
      y += "  - { id: " + id + ", run: " + Cmd(id, token, 2 * (1 + (b + i) % 4));
      if (i > 0) y += ", needs: b" + std::to_string(b) + "-s" + std::to_string(i - 1);
      y += " }\n";
    }
  return y;
}

std::string RollbackPhase(const std::string& token) {
  std::string y = "name: torture\nsteps:\n";
  for (int i = 0; i < 12; ++i) {
    std::string id = "s" + std::to_string(i);
    y += "  - { id: " + id + ", run: " + Cmd(id, token, 1) + ", rollback: " + Cmd("undo-" + id, token, 3);
    if (i > 0) y += ", needs: s" + std::to_string(i - 1);
    y += " }\n";
  }
  return y + "  - { id: boom, run: 'echo boom >> ran-$RUNBOOK_RUN_ID.log; false', needs: s11 }\n";
}

std::string FinallyPhase(const std::string& token) {
  std::string y = "name: torture\nsteps:\n  - { id: s, run: " + Cmd("s", token, 1) + " }\nfinally:\n";
  for (int i = 0; i < 12; ++i) {
    std::string id = "f" + std::to_string(i);
    y += "  - { id: " + id + ", run: " + Cmd(id, token, 3);
    if (i > 0) y += ", needs: f" + std::to_string(i - 1);
    y += " }\n";
  }
  return y;
}

json Show(const TempDir& dir, const std::string& run) {
  auto show = RunCli({"show", run, "--json"}, dir.path());
  EXPECT_EQ(show.exit_code, 0) << show.err;
  return json::parse(show.out);
}

class CrashTest : public ::testing::TestWithParam<PhaseCase> {};

TEST_P(CrashTest, KillsInThisPhaseLoseNothingRepeatOnlyWhatWasRunningAndLeaveNoProcess) {
  const PhaseCase& c = GetParam();
  TempDir dir;
  std::string token = "rbcrash-" + dir.path().filename().string();
  dir.Write("runbooks/torture.yaml", c.yaml(token));
  std::mt19937 rng(20261201);  // seeded: the same moments every time
  std::uniform_int_distribution<int> delay_ms(10, 220);
  std::map<std::string, std::map<std::string, int>> running_at_kill;  // run -> unit -> kills
  std::vector<std::string> runs;
  int kills = 0, in_phase = 0, survivors = 0;
  bool open = false;  // a run is under way (killed, to be resumed)
  for (int round = 0; round < 400 && (in_phase < 20 || open); ++round) {
    std::string cmd = open ? "resume --jobs 2" : "run torture --jobs 2";
    int ms = in_phase < 20 ? delay_ms(rng) : 60'000;  // after 20: let it finish
    // The random moment is the point of the test, not a wait for something.
    dir.Write("go.sh", std::string(RUNBOOK_BINARY) + " " + cmd + " > /dev/null 2>&1 &\npid=$!\n"
              "for i in $(seq 1 " + std::to_string(ms) + "); do kill -0 $pid 2>/dev/null || break; sleep 0.001; done\n"
              "if kill -9 $pid 2>/dev/null; then wait $pid; echo killed > what.txt; else wait $pid; echo done > what.txt; fi\n"
              // The reaper stops what the dead engine ran; give it a bounded moment.
              "for i in $(seq 1 200); do pgrep -f " + token + " > /dev/null || break; sleep 0.01; done\n"
              "pgrep -f " + token + " > /dev/null && echo yes > survivors.txt || echo no > survivors.txt\n"
              "pkill -f " + token + "\n");
    std::system(("cd " + ShellQuote(dir.path().string()) + " && timeout 120 bash go.sh").c_str());
    if (ReadAll(dir.path() / "survivors.txt") == "yes\n") ++survivors;
    auto last = RunCli({"show", "last", "--json"}, dir.path());
    if (last.exit_code != 0) continue;  // killed before it recorded a run: start again
    json run = json::parse(last.out);
    std::string id = run["id"];
    if (runs.empty() || runs.back() != id) runs.push_back(id);
    if (ReadAll(dir.path() / "what.txt") == "killed\n" && run["status"] == "running") {
      ++kills;
      if (run["phase"] == c.phase) ++in_phase;
      for (const auto& s : run["steps"]) {
        if (s["status"] == "running") ++running_at_kill[id][s["id"]];
        if (s["rollback"] == "running") ++running_at_kill[id]["undo-" + s["id"].get<std::string>()];
      }
    }
    open = run["status"] == "running" || run["status"] == "interrupted";
  }
  std::cout << "kills: " << kills << ", " << in_phase << " during " << c.phase << ", over " << runs.size()
            << " run(s)\n";
  EXPECT_GE(in_phase, 20);
  EXPECT_EQ(survivors, 0) << "a step process outlived its engine";
  for (const auto& id : runs) {
    json run = Show(dir, id);
    EXPECT_EQ(run["status"], c.final_status) << id;
    std::map<std::string, int> ran;
    std::istringstream log(ReadAll(dir.path() / ("ran-" + id + ".log")));
    for (std::string unit; std::getline(log, unit);) ++ran[unit];
    for (const auto& [unit, n] : ran)
      EXPECT_LE(n, 1 + running_at_kill[id][unit]) << id << ": " << unit << " ran again without being interrupted";
    for (const auto& s : run["steps"]) {
      std::string sid = s["id"];
      // As an unbroken run ends: every step done (or, in rollback, undone; boom failed).
      std::string want = sid == "boom" ? "failed" : std::string(c.phase) == "rollback" ? "rolled_back" : "succeeded";
      EXPECT_EQ(s["status"], want) << id << ": " << sid;
      EXPECT_GE(ran[sid], 1) << sid;
      if (s["rollback"] == "succeeded") {
        EXPECT_GE(ran["undo-" + sid], 1) << sid;
      }
    }
  }
  auto integrity = std::system(("cd " + ShellQuote(dir.path().string()) +
                                " && test \"$(sqlite3 .runbook/state.db 'PRAGMA integrity_check')\" = ok").c_str());
  EXPECT_EQ(integrity, 0);
}

INSTANTIATE_TEST_SUITE_P(Phases, CrashTest,
                         ::testing::Values(PhaseCase{"steps", "succeeded", StepsPhase},
                                           PhaseCase{"rollback", "rolled_back", RollbackPhase},
                                           PhaseCase{"finally", "succeeded", FinallyPhase}),
                         [](const auto& info) { return std::string(info.param.phase); });

}  // namespace
}  // namespace runbook::testing
