// End-to-end tests of `runbook run`: the real binary, real child processes,
// a real SQLite state file in a fresh folder.
#include <gtest/gtest.h>

#include <sstream>
#include <sys/stat.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <thread>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

using nlohmann::json;

class RunTest : public ::testing::Test {
 protected:
  CliResult Run(const std::string& yaml, std::vector<std::string> extra = {},
                const std::map<std::string, std::string>& env = {}) {
    dir_.Write("rb.yaml", yaml);
    std::vector<std::string> args = {"run", "rb.yaml"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCli(args, dir_.path(), env);
  }
  json Show(const std::string& run = "last") {
    auto r = RunCli({"show", run, "--json"}, dir_.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }
  json StepOf(const json& run, const std::string& id) {
    for (const auto& s : run["steps"])
      if (s["id"] == id) return s;
    ADD_FAILURE() << "no step " << id;
    return {};
  }
  bool Exists(const std::string& f) { return std::filesystem::exists(dir_.path() / f); }
  std::string Read(const std::string& f) { return ReadAll(dir_.path() / f); }

  TempDir dir_;
};

TEST_F(RunTest, SigintStopsTheStepsTreeRecordsInterruptedAndExits130) {
  dir_.Write("rb.yaml", R"Y(name: rb
escalation: [{ contact: "On-call (#ops)", when: failure }]
steps:
  - id: long
    run: |
      sleep 300 & echo $! > child.pid
      echo go > started
      wait
  - { id: after, run: touch after-ran, needs: long }
)Y");
  // The engine's own pid gets the signal, as an operator's kill would send it,
  // once the step says (through a FIFO) that it runs.
  dir_.Write("go.sh", "mkfifo started\n" + std::string(RUNBOOK_BINARY) + " run rb.yaml --grace 1s > out.txt 2>&1 &\n"
             "pid=$!\nread x < started\nkill -INT $pid\nwait $pid\necho $? > code.txt\n");
  std::system(("cd " + ShellQuote(dir_.path().string()) + " && timeout 120 bash go.sh").c_str());
  EXPECT_EQ(Read("code.txt"), "130\n") << Read("out.txt");
  EXPECT_EQ(Read("out.txt").find("On-call"), std::string::npos) << "a person's stop is no failure to escalate";
  json run = Show();
  EXPECT_EQ(run["status"], "interrupted");
  EXPECT_EQ(StepOf(run, "long")["status"], "interrupted");
  EXPECT_EQ(StepOf(run, "after")["status"], "pending");
  EXPECT_FALSE(Exists("after-ran"));
  int pid = std::stoi(Read("child.pid"));
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string a, b, state;
    gone = !(stat >> a >> b >> state) || state == "Z";
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone);
}

TEST_F(RunTest, ASuccessfulRunIsRecordedStepByStep) {
  SKIP_UNDER_POSTGRES("where the file is made");
  auto r = Run("name: rb\nsteps:\n  - { id: a, run: echo hello }\n  - { id: b, run: echo world, needs: a }\n");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Exists(".runbook/state.db"));
  json run = Show();
  EXPECT_EQ(run["status"], "succeeded");
  EXPECT_EQ(run["runbook"], "rb");
  EXPECT_EQ(run["steps"].size(), 2u);
  EXPECT_EQ(StepOf(run, "a")["status"], "succeeded");
  EXPECT_EQ(StepOf(run, "a")["attempts"], 1);
  EXPECT_EQ(StepOf(run, "b")["exit_code"], 0);
  std::string started = run["started_at"];
  EXPECT_EQ(started.size(), 24u);  // 2026-11-25T15:33:00.123Z
  EXPECT_EQ(started.back(), 'Z');
  auto logs = RunCli({"logs", "last", "b"}, dir_.path());
  EXPECT_NE(logs.out.find("world\n"), std::string::npos) << logs.out;
}

TEST_F(RunTest, TheDiagnosticLogIsOffUnlessRunbookLogAsksAndGoesToStderr) {
  const std::string yaml = "name: rb\nsteps:\n  - { id: a, run: 'sleep 5', timeout: 50ms, on_failure: continue }\n";
  auto quiet = Run(yaml, {}, {{"RUNBOOK_LOG", ""}});
  EXPECT_EQ(quiet.err.find("debug:"), std::string::npos) << quiet.err;
  auto r = Run(yaml, {}, {{"RUNBOOK_LOG", "debug"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* line : {"bash as pid ", "debug: woke for the deadline ",
                           "debug: SIGTERM to process group ", "exited: signal 15"})
    EXPECT_NE(r.err.find(line), std::string::npos) << line << "\n" << r.err;
  EXPECT_EQ(r.out.find("debug:"), std::string::npos) << "the log never goes to stdout";
}

TEST_F(RunTest, CommandsGetTheRunbookEnvironmentWorkdirAndShell) {
  dir_.Write("sub/.keep", "");
  auto r = Run(R"Y(name: rb
inputs: { who: { default: ops }, token: { secret: true } }
env: { GREETING: "hi {{ inputs.who }}" }
steps:
  - id: env
    run: |
      echo "$GREETING|$RUNBOOK_STEP_ID|$RUNBOOK_ATTEMPT|$RUNBOOK_INPUT_WHO|$(basename "$PWD")|${RUNBOOK_RUN_ID:+has-run-id}|$STEP_VAR"
    env: { STEP_VAR: "step {{ inputs.who }}" }
    workdir: sub
  - id: pipefail
    run: false | true
    on_failure: continue
  - id: posix
    shell: sh
    run: echo "sh $0"
)Y");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto logs = RunCli({"logs", "last", "env"}, dir_.path());
  EXPECT_NE(logs.out.find("hi ops|env|1|ops|sub|has-run-id|step ops\n"), std::string::npos) << logs.out;
  EXPECT_EQ(StepOf(Show(), "pipefail")["status"], "failed");  // bash runs with pipefail
  EXPECT_NE(RunCli({"logs", "last", "posix"}, dir_.path()).out.find("sh /bin/sh"), std::string::npos);
}

TEST_F(RunTest, AnInputCanNeverInjectShellSyntax) {
  const std::string evil = "$(touch x); `touch y`; \"'";
  auto r = Run(R"Y(name: rb
inputs: { v: {} }
steps:
  - id: word
    run: printf '%s\n' {{ inputs.v }} > word.txt
  - id: dquoted
    run: printf '%s\n' "<{{ inputs.v }}>" > dq.txt
  - id: heredoc
    run: |
      cat > here.txt <<EOF
      {{ inputs.v }}
      EOF
)Y",
               {"--input", "v=" + evil});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(Exists("x"));
  EXPECT_FALSE(Exists("y"));
  EXPECT_EQ(Read("word.txt"), evil + "\n");
  EXPECT_EQ(Read("dq.txt"), "<" + evil + ">\n");
  EXPECT_EQ(Read("here.txt"), evil + "\n");
}

TEST_F(RunTest, ASecretReachesTheCommandThroughItsEnvironmentOnly) {
  auto r = Run(R"Y(name: rb
inputs: { token: { secret: true, from_env: MY_TOKEN } }
steps:
  - id: use
    run: |
      test "{{ inputs.token }}" = "$EXPECTED"
      echo "token is {{ inputs.token }}"
      tr '\0' ' ' < /proc/$$/cmdline
)Y",
               {}, {{"MY_TOKEN", "s3cr3t-value"}, {"EXPECTED", "s3cr3t-value"}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("s3cr3t-value"), std::string::npos) << r.out;
  auto logs = RunCli({"logs", "last"}, dir_.path());
  EXPECT_EQ(logs.out.find("s3cr3t-value"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("token is ***"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("RUNBOOK_INPUT_TOKEN"), std::string::npos) << logs.out;  // the command line
  std::string db = Read(".runbook/state.db") + Read(".runbook/state.db-wal");
  EXPECT_EQ(db.find("s3cr3t-value"), std::string::npos);
}

TEST_F(RunTest, ATimeoutKillsTheStepsWholeProcessTree) {
  auto r = Run(R"Y(name: rb
steps:
  - id: slow
    timeout: 1s
    run: |
      sleep 300 & echo $! > pids
      bash -c 'sleep 300 & echo $! >> pids; sleep 300' & echo $! >> pids
      while [ "$(wc -l < pids)" -lt 3 ]; do sleep 0.01; done
      echo started
      wait
)Y",
               {"--grace", "200ms"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json step = StepOf(Show(), "slow");
  EXPECT_EQ(step["status"], "failed");
  EXPECT_EQ(step["reason"], "timeout");
  std::ifstream pids(dir_.path() / "pids");
  int pid, count = 0;
  while (pids >> pid) {
    ++count;
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {  // reaped by init: poll /proc, bounded
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string a, b, state;
      gone = !(stat >> a >> b >> state) || state == "Z";
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(gone) << "process " << pid << " survived the timeout";
  }
  EXPECT_EQ(count, 3);
}

TEST_F(RunTest, RetriesRerunTheCommandAndVerificationPolls) {
  auto r = Run(R"Y(name: rb
steps:
  - id: flaky
    run: |
      n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n
      test $((n+1)) -ge 3
    retry: { attempts: 5, delay: 10ms }
  - id: settle
    needs: flaky
    run: echo 0 > polls
    verify:
      name: settled
      run: |
        p=$(($(cat polls) + 1)); echo $p > polls
        echo "polled $p"
      expect: { stdout: "^polled 4$" }
      retries: 5
      interval: 10ms
)Y");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json run = Show();
  EXPECT_EQ(StepOf(run, "flaky")["attempts"], 3);
  EXPECT_EQ(Read("polls"), "4\n");
}

TEST_F(RunTest, AVerificationThatNeverPassesFailsTheStepWithReasonVerification) {
  auto r = Run("name: rb\non_failure: stop\nsteps:\n  - id: a\n    run: 'true'\n    verify: { run: 'echo nope', expect: { stdout: '^ok$' }, retries: 2, interval: 10ms }\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(StepOf(Show(), "a")["reason"], "verification");
  EXPECT_EQ(Show()["status"], "failed");
}

TEST_F(RunTest, TheOutputFileLivesInAPrivateFolderRemovedAfterTheRun) {
  auto r = Run(R"Y(name: rb
steps:
  - id: where
    run: |
      d=$(dirname "$RUNBOOK_OUTPUT")
      echo "$d" > folder.txt
      stat -c %a "$d" > mode.txt
      test ! -e "$RUNBOOK_OUTPUT"
)Y");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string folder = Read("folder.txt");
  folder.pop_back();
  EXPECT_EQ(Read("mode.txt"), "700\n");
  EXPECT_NE(folder, std::filesystem::temp_directory_path().string());
  EXPECT_FALSE(std::filesystem::exists(folder)) << folder;
}

TEST_F(RunTest, OutputsFromStdoutExitCodeRegexAndTheOutputFile) {
  auto r = Run(R"Y(name: rb
steps:
  - id: produce
    run: |
      echo "version v2.4.1 ready"
      echo "extra=from file" >> "$RUNBOOK_OUTPUT"
    outputs: { all: stdout, code: exit_code, version: { regex: "v([0-9.]+)" } }
  - id: consume
    needs: produce
    run: echo "[{{ steps.produce.outputs.version }}][{{ steps.produce.outputs.extra }}][{{ steps.produce.outputs.code }}]"
  - id: missing
    needs: produce
    run: echo {{ steps.produce.outputs.nope }}
    on_failure: continue
  - id: nomatch
    run: echo nothing
    outputs: { v: { regex: "v([0-9]+)" } }
    on_failure: continue
)Y");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json run = Show();
  EXPECT_EQ(StepOf(run, "produce")["outputs"]["version"], "2.4.1");
  EXPECT_EQ(StepOf(run, "produce")["outputs"]["all"], "version v2.4.1 ready");
  EXPECT_NE(RunCli({"logs", "last", "consume"}, dir_.path()).out.find("[2.4.1][from file][0]"), std::string::npos);
  EXPECT_EQ(StepOf(run, "missing")["reason"], "error");
  EXPECT_EQ(StepOf(run, "nomatch")["reason"], "output");
}

TEST_F(RunTest, AnOutputFileLargerThanOneReadIsReadWhole) {
  // 20,000 characters: more than the engine reads from the file at once.
  auto r = Run(R"Y(name: rb
steps:
  - id: produce
    run: |
      printf 'big=%020000d\n' 7 >> "$RUNBOOK_OUTPUT"
      echo "after=yes" >> "$RUNBOOK_OUTPUT"
)Y");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json outputs = StepOf(Show(), "produce")["outputs"];
  EXPECT_EQ(outputs["big"].get<std::string>(), std::string(19999, '0') + "7");
  EXPECT_EQ(outputs["after"], "yes");
}

TEST_F(RunTest, IndependentStepsRunInParallelUpToJobs) {
  // A FIFO opens only when both ends do: each step completes only if the
  // other runs at the same time (no polling; the timeout bounds a failure).
  ::mkfifo((dir_.path() / "ab").c_str(), 0600);
  const std::string yaml = R"Y(name: rb
steps:
  - { id: a, timeout: 30s, run: "echo hi > ab" }
  - { id: b, timeout: 30s, run: "read x < ab" }
)Y";
  auto r = Run(yaml, {"--jobs", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // One at a time, the first can never meet the second: it times out.
  dir_.Write("rb.yaml", "name: rb\nsteps:\n  - { id: a, timeout: 300ms, run: 'echo hi > ab' }\n"
                        "  - { id: b, timeout: 300ms, run: 'read x < ab' }\n");
  r = RunCli({"run", "rb.yaml", "--jobs", "1", "--grace", "100ms"}, dir_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(StepOf(Show(), "a")["reason"], "timeout");
}

TEST_F(RunTest, WhenSkipsAndSkipsPropagateButNotPastARealStep) {
  auto r = Run(R"Y(name: rb
steps:
  - { id: off, run: echo off, when: "1 == 2" }
  - { id: after-off, run: echo x, needs: off }
  - { id: on, run: echo on }
  - { id: join, run: echo join, needs: [after-off, on] }
  - { id: else, run: echo else, needs: off, when: "skipped('off')" }
)Y");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json run = Show();
  EXPECT_EQ(StepOf(run, "off")["status"], "skipped");
  EXPECT_EQ(StepOf(run, "after-off")["status"], "skipped");
  EXPECT_EQ(StepOf(run, "join")["status"], "succeeded");
  EXPECT_EQ(StepOf(run, "else")["status"], "succeeded");
}

const char* kDecision = R"Y(name: rb
steps:
  - { id: probe, run: "exit $PROBE", on_failure: continue }
  - id: assess
    needs: probe
    decision:
      prompt: Restore anyway?
      choices:
        - { value: failover, when: "steps.probe.exit_code != 0", goto: [promote] }
        - { value: restart, goto: [restart] }
      default: restart
  - { id: promote, run: echo promote }
  - { id: restart, run: echo restart }
  - { id: verify, run: echo verify, needs: [promote, restart] }
)Y";

TEST_F(RunTest, ADecisionTakesTheFirstTrueChoiceAndSkipsTheOtherBranch) {
  auto r = Run(kDecision, {}, {{"PROBE", "1"}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json run = Show();
  EXPECT_EQ(StepOf(run, "assess")["outputs"]["choice"], "failover");
  EXPECT_EQ(StepOf(run, "promote")["status"], "succeeded");
  EXPECT_EQ(StepOf(run, "restart")["status"], "skipped");
  EXPECT_EQ(StepOf(run, "verify")["status"], "succeeded");  // the join runs after the taken branch
  EXPECT_EQ(run["decisions"][0]["source"], "auto");
}

TEST_F(RunTest, WithoutAPromptADecisionFallsToItsDefault) {
  auto r = Run(R"Y(name: rb
steps:
  - id: d
    decision:
      choices:
        - { value: a, when: "1 == 2", goto: [x] }
        - { value: b, when: "1 == 3", goto: [y] }
      default: b
  - { id: x, run: echo x }
  - { id: y, run: echo y }
)Y");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json run = Show();
  EXPECT_EQ(StepOf(run, "d")["outputs"]["choice"], "b");
  EXPECT_EQ(run["decisions"][0]["source"], "default");
  EXPECT_EQ(StepOf(run, "x")["status"], "skipped");
}

TEST_F(RunTest, APromptWithoutATtyOrAnswerWaitsAndPrintsTheResumeCommand) {
  auto r = Run(kDecision, {}, {{"PROBE", "0"}});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  json run = Show();
  EXPECT_EQ(run["status"], "waiting");
  EXPECT_EQ(StepOf(run, "assess")["status"], "waiting");
  std::string id = run["id"];
  EXPECT_NE(r.err.find("Continue it with one of:\n  runbook resume " + id + " --answer assess=failover\n"
                       "  runbook resume " + id + " --answer assess=restart\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("Restore anyway?"), std::string::npos) << r.out;
}

// The printed commands, pasted as a person would (bash -c, with runbook on
// PATH): each continues the run with its own answer.
std::vector<std::string> PrintedCommands(const std::string& err) {
  std::vector<std::string> out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("  runbook resume ", 0) == 0) out.push_back(line.substr(2));
  return out;
}

TEST_F(RunTest, EveryPrintedContinuationPastesAndContinuesWithItsAnswer) {
  const std::string yaml = R"Y(name: rb
concurrency: shared
steps:
  - id: assess
    decision:
      prompt: Is the primary reachable?
      choices: [{ value: restart, goto: [r] }, { value: leave, goto: [l] }, { value: failover, goto: [f] }]
  - { id: r, run: 'echo $RUNBOOK_RUN_ID > chose-restart' }
  - { id: l, run: 'echo $RUNBOOK_RUN_ID > chose-leave' }
  - { id: f, run: 'echo $RUNBOOK_RUN_ID > chose-failover' }
)Y";
  std::string path = std::filesystem::path(RUNBOOK_BINARY).parent_path().string() + ":" + std::getenv("PATH");
  for (const std::string value : {"restart", "leave", "failover"}) {
    auto first = Run(yaml);
    ASSERT_EQ(first.exit_code, 3) << first.err;
    std::string id = Show()["id"];
    auto commands = PrintedCommands(first.err);
    ASSERT_EQ(commands.size(), 3u) << first.err;
    std::string pick;
    for (const auto& c : commands)
      if (c.size() > value.size() && c.substr(c.size() - value.size() - 1) == "=" + value) pick = c;
    ASSERT_FALSE(pick.empty()) << first.err;
    dir_.Write("paste.sh", "PATH=" + ShellQuote(path) + " bash -c " + ShellQuote(pick) + " > paste.out 2>&1; echo $? > paste.code\n");
    std::system(("cd " + ShellQuote(dir_.path().string()) + " && bash paste.sh").c_str());
    EXPECT_EQ(Read("paste.code"), "0\n") << pick << "\n" << Read("paste.out");
    EXPECT_EQ(Read("chose-" + value), id + "\n") << pick;
    json run = Show(id);
    EXPECT_EQ(run["decisions"][0]["value"], value);
    EXPECT_EQ(run["decisions"][0]["source"], "answer");
  }
}

TEST_F(RunTest, AWaitingManualStepShowsItsTextAndChecklistAndJsonCarriesTheCommands) {
  const std::string yaml =
      "name: rb\nsteps:\n  - id: notify\n    manual: 'Tell the team in #ops'\n"
      "    checklist: [status page updated, customers told]\n";
  auto r = Run(yaml);
  ASSERT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.out.find("Tell the team in #ops"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[ ] status page updated"), std::string::npos) << r.out;
  EXPECT_EQ(PrintedCommands(r.err).size(), 3u) << r.err;
  auto j = RunCli({"run", "rb.yaml", "--new", "--output", "json"}, dir_.path());
  EXPECT_EQ(j.exit_code, 3);
  bool seen = false;
  std::istringstream lines(j.out);
  for (std::string line; std::getline(lines, line);) {
    json e = json::parse(line);
    if (e["event"] != "waiting") continue;
    seen = true;
    EXPECT_EQ(e["step"], "notify");
    EXPECT_EQ(e["choices"], json({"done", "skip", "fail"}));
    EXPECT_EQ(e["commands"][1], "runbook resume " + e["run"].get<std::string>() + " --answer notify=skip");
    EXPECT_EQ(e["checklist"][1], "customers told");
  }
  EXPECT_TRUE(seen) << j.out;
}

TEST_F(RunTest, AnAnswerChoosesAndIsRecordedWithWhoAnswered) {
  auto r = Run(kDecision, {"--answer", "assess=restart"}, {{"PROBE", "0"}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json run = Show();
  EXPECT_EQ(StepOf(run, "restart")["status"], "succeeded");
  EXPECT_EQ(StepOf(run, "promote")["status"], "skipped");
  EXPECT_EQ(run["decisions"][0]["source"], "answer");
  EXPECT_NE(run["decisions"][0]["by"].get<std::string>().find("@"), std::string::npos);
}

TEST_F(RunTest, APersonsAnswerOverridesAMatchingRuleAndTheRecordSaysSo) {
  // PROBE=1: the rule picks failover; the person says restart, and wins.
  auto r = Run(kDecision, {"--answer", "assess=restart"}, {{"PROBE", "1"}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("assess = restart (answer; overrides the rules' choice, failover)"), std::string::npos)
      << r.out;
  json run = Show();
  EXPECT_EQ(StepOf(run, "restart")["status"], "succeeded");
  EXPECT_EQ(StepOf(run, "promote")["status"], "skipped");
  EXPECT_EQ(run["decisions"][0]["value"], "restart");
  EXPECT_EQ(run["decisions"][0]["overrides"], "failover");
  for (const char* what : {"report", "postmortem"}) {
    auto text = RunCli({what, "last"}, dir_.path());
    EXPECT_NE(text.out.find("answer, overriding the rules' choice failover"), std::string::npos) << what << text.out;
  }
  // The rules' own choice, given as an answer, overrides nothing.
  r = Run(kDecision, {"--answer", "assess=failover"}, {{"PROBE", "1"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Show()["decisions"][0]["overrides"], nullptr);
}

TEST_F(RunTest, AnAnswerForNoSuchStepOrNoSuchValueIsAUsageErrorWithDidYouMean) {
  auto r = Run(kDecision, {"--answer", "asess=restart"}, {{"PROBE", "0"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--answer names no step of rb: 'asess' (did you mean 'assess'?)"), std::string::npos) << r.err;
  r = Run(kDecision, {"--answer", "assess=restrat"}, {{"PROBE", "0"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("expected one of failover, restart (did you mean 'restart'?)"), std::string::npos) << r.err;
  r = Run(kDecision, {"--answer", "probe=done"}, {{"PROBE", "0"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("step 'probe' is a run step and takes no answer"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / ".runbook/state.db"));  // before anything ran
}

TEST_F(RunTest, LogsOfAStepThatDoesNotExistSaySoWithDidYouMean) {
  ASSERT_EQ(Run("name: rb\nsteps:\n  - { id: restore, run: echo hi }\n  - { id: later, run: 'true', when: 'false' }\n")
                .exit_code,
            0);
  auto r = RunCli({"logs", "last", "restor"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("has no step 'restor' (did you mean 'restore'?)"), std::string::npos) << r.err;
  r = RunCli({"logs", "last", "later"}, dir_.path());  // skipped: it exists, it printed nothing
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("step 'later' of run "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" has not run: no output is recorded"), std::string::npos) << r.err;
}

TEST_F(RunTest, ManualStepsTakeDoneSkipOrFailFromAnswersOrAFile) {
  const std::string yaml = R"Y(name: rb
on_failure: stop
steps:
  - { id: check, manual: "Look at the dashboard", checklist: [graphs green] }
  - { id: after, run: echo after, needs: check }
)Y";
  EXPECT_EQ(Run(yaml, {"--answer", "check=done"}).exit_code, 0);
  EXPECT_EQ(StepOf(Show(), "after")["status"], "succeeded");
  dir_.Write("answers.yaml", "check: skip\n");
  EXPECT_EQ(Run(yaml, {"--answers-file", "answers.yaml"}).exit_code, 0);
  EXPECT_EQ(StepOf(Show(), "check")["status"], "skipped");
  EXPECT_EQ(StepOf(Show(), "after")["status"], "succeeded");  // a person's skip does not propagate
  EXPECT_EQ(Run(yaml, {"--answer", "check=fail"}).exit_code, 1);
  EXPECT_EQ(StepOf(Show(), "check")["reason"], "answer");
  auto bad = Run(yaml, {"--answer", "check=maybe"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "runbook: 'maybe' is not an answer for step 'check': expected one of done, skip, fail\n");
}

TEST_F(RunTest, AFailureStopsNewStepsAndRollsBackWhatRanInReverseOrder) {
  auto r = Run(R"Y(name: rb
steps:
  - { id: a, run: echo a, rollback: echo undo-a >> undo.log }
  - { id: b, run: echo b, needs: a, rollback: echo undo-b >> undo.log }
  - { id: c, run: "exit 4", needs: b, rollback: echo undo-c >> undo.log }
  - { id: d, run: echo d, needs: c, rollback: echo undo-d >> undo.log }
finally:
  - { id: fin, run: "echo {{ run.status }} > fin.txt" }
)Y");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Read("undo.log"), "undo-c\nundo-b\nundo-a\n");  // c started its command: it ran
  json run = Show();
  EXPECT_EQ(run["status"], "rolled_back");
  EXPECT_EQ(StepOf(run, "d")["status"], "pending");
  EXPECT_EQ(StepOf(run, "a")["status"], "rolled_back");
  EXPECT_EQ(Read("fin.txt"), "rolled_back\n");
}

TEST_F(RunTest, AFailingRollbackHookIsRecordedAndTheOthersStillRun) {
  auto r = Run("name: rb\nsteps:\n  - { id: a, run: echo a, rollback: echo undo-a >> undo.log }\n"
               "  - { id: b, run: echo b, needs: a, rollback: 'exit 9' }\n  - { id: c, run: 'exit 1', needs: b }\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Read("undo.log"), "undo-a\n");
  json run = Show();
  EXPECT_EQ(run["status"], "rollback_failed");
  EXPECT_EQ(StepOf(run, "b")["rollback"], "failed");
}

TEST_F(RunTest, OnFailureStopEndsFailedWithoutRollbackOrFinally) {
  auto r = Run("name: rb\non_failure: stop\nsteps:\n  - { id: a, run: echo a, rollback: touch undone }\n"
               "  - { id: b, run: 'exit 1', needs: a }\nfinally:\n  - { id: f, run: touch finally-ran }\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Show()["status"], "failed");
  EXPECT_FALSE(Exists("undone"));
  EXPECT_FALSE(Exists("finally-ran"));
}

TEST_F(RunTest, AContinueFailureLetsTheRunSucceed) {
  auto r = Run("name: rb\nsteps:\n  - { id: a, run: 'exit 1', on_failure: continue }\n  - { id: b, run: echo b, needs: a }\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json run = Show();
  EXPECT_EQ(run["status"], "succeeded");
  EXPECT_EQ(StepOf(run, "a")["status"], "failed");
  EXPECT_EQ(StepOf(run, "a")["continued"], true);  // issue 22: shown apart from a failure that stops
  EXPECT_FALSE(StepOf(run, "b").contains("continued"));
  EXPECT_EQ(StepOf(run, "b")["status"], "succeeded");
  auto text = RunCli({"show", "last"}, dir_.path());
  EXPECT_NE(text.out.find("failed, continued"), std::string::npos) << text.out;
}

TEST_F(RunTest, AFailingFinallyStepTurnsSuccessIntoFinallyFailed) {
  auto r = Run("name: rb\nsteps:\n  - { id: a, run: echo a }\nfinally:\n  - { id: f, run: 'exit 1' }\n  - { id: g, run: touch g-ran }\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Show()["status"], "finally_failed");
  EXPECT_TRUE(Exists("g-ran"));
}

TEST_F(RunTest, TheRunTimeoutStopsRunningStepsAndFollowsOnFailure) {
  auto r = Run("name: rb\ntimeout: 300ms\nsteps:\n  - { id: a, run: echo a, rollback: touch undone }\n"
               "  - { id: slow, run: sleep 30, needs: a }\n",
               {"--grace", "100ms"});
  EXPECT_EQ(r.exit_code, 1);
  json run = Show();
  EXPECT_EQ(run["status"], "rolled_back");
  EXPECT_EQ(StepOf(run, "slow")["reason"], "timeout");
  EXPECT_TRUE(Exists("undone"));
}

TEST_F(RunTest, PreflightFailureRunsNothingAndNoFinally) {
  auto r = Run("name: rb\npreflight:\n  - { name: tools present, run: 'command -v no-such-tool-xyz' }\n"
               "steps:\n  - { id: a, run: touch a-ran }\nfinally:\n  - { id: f, run: touch f-ran }\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Show()["status"], "preflight_failed");
  EXPECT_FALSE(Exists("a-ran"));
  EXPECT_FALSE(Exists("f-ran"));
  // What ran and where, so that a person can run it by hand.
  EXPECT_NE(r.out.find("$ command -v no-such-tool-xyz\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(in " + dir_.path().string() + ")"), std::string::npos) << r.out;
  auto pm = RunCli({"postmortem", "last"}, dir_.path());
  std::string timeline = pm.out.substr(pm.out.find("## Timeline"));
  timeline = timeline.substr(0, timeline.find("## Root cause"));
  EXPECT_NE(timeline.find("tools present: exit code 1, expected 0"), std::string::npos) << timeline;
  EXPECT_EQ(timeline.find("| tools present |"), std::string::npos) << "its start shown beside its end:\n" << timeline;
}

TEST_F(RunTest, AWaitStepPausesForItsDuration) {
  auto r = Run("name: rb\nsteps:\n  - { id: pause, wait: 200ms }\n  - { id: after, run: echo after, needs: pause }\n");
  ASSERT_EQ(r.exit_code, 0);
  json step = StepOf(Show(), "pause");
  EXPECT_EQ(step["status"], "succeeded");
  EXPECT_GE(step["duration_ms"].get<int64_t>(), 200);
}

TEST_F(RunTest, ASubRunbookIsAChildRunWhoseOutputsComeBack) {
  dir_.Write("child.yaml", R"Y(name: child
inputs: { n: {} }
steps:
  - { id: double, run: "n={{ inputs.n }}; echo $((n * 2))", outputs: { doubled: stdout } }
)Y");
  auto r = Run(R"Y(name: rb
steps:
  - { id: sub, runbook: child, inputs: { n: 21 } }
  - { id: use, needs: sub, run: "echo got {{ steps.sub.outputs.doubled }}" }
)Y");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json run = Show();
  EXPECT_EQ(StepOf(run, "sub")["outputs"]["doubled"], "42");
  auto child = Show(run["id"].get<std::string>() + ".sub");
  EXPECT_EQ(child["runbook"], "child");
  EXPECT_EQ(child["parent"], run["id"].get<std::string>() + ":sub");
  auto runs = json::parse(RunCli({"runs", "--json"}, dir_.path()).out);
  EXPECT_EQ(runs.size(), 1u);  // child runs are not top-level
}

TEST_F(RunTest, InputsAreCheckedBeforeAnythingIsRecorded) {
  const std::string yaml = "name: rb\ninputs: { env: { enum: [staging, production], required: true } }\nsteps: [{ id: a, run: echo }]\n";
  auto r = Run(yaml);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "runbook: missing required input 'env' (--input env=...): one of staging, production\n");
  r = Run(yaml, {"--input", "env=prod"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "runbook: input 'env': 'prod' is not one of the allowed values: staging, production\n");
  EXPECT_FALSE(Exists(".runbook/state.db"));
  dir_.Write("in.yaml", "env: production\n");
  EXPECT_EQ(Run(yaml, {"--inputs-file", "in.yaml"}).exit_code, 0);
  EXPECT_EQ(Show()["inputs"]["env"], "production");
}

TEST_F(RunTest, AnInvalidRunbookRunsNothing) {
  auto r = Run("name: rb\nsteps:\n  - { id: a, run: touch ran, needs: zz }\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("rb.yaml:3:37: error: unknown step 'zz' in needs of 'a'"), std::string::npos) << r.err;
  EXPECT_FALSE(Exists("ran"));
  EXPECT_FALSE(Exists(".runbook/state.db"));
}

TEST_F(RunTest, JsonOutputIsOneObjectPerLineWithStepOutputAsEvents) {
  auto r = Run("name: rb\nsteps:\n  - { id: a, run: echo hello }\n", {"--output", "json"});
  ASSERT_EQ(r.exit_code, 0);
  std::istringstream lines(r.out);
  std::set<std::string> kinds;
  bool saw_output = false;
  for (std::string line; std::getline(lines, line);) {
    json e = json::parse(line);  // throws (fails the test) on anything but JSON
    kinds.insert(e["event"].get<std::string>());
    if (e["event"] == "step.output") saw_output = e["data"] == "hello\n" && e["step"] == "a";
  }
  EXPECT_TRUE(saw_output);
  EXPECT_TRUE(kinds.count("run.started") && kinds.count("step.started") && kinds.count("step.finished") &&
              kinds.count("run.finished"));
}

TEST_F(RunTest, DryRunShowsResolvedCommandsAndExecutesAndRecordsNothing) {
  auto r = Run(R"Y(name: rb
inputs: { dir: { default: /srv/data } }
steps:
  - { id: pick, run: "ls {{ inputs.dir }} && touch ran", outputs: { f: stdout } }
  - { id: use, needs: pick, run: "cp {{ steps.pick.outputs.f }} \"{{ inputs.dir }}/x\"" }
  - { id: ask, needs: use, manual: "Check it" }
)Y",
               {"--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // As a person reads it: the values in place (the shell gets them as variables).
  EXPECT_NE(r.out.find("    ls /srv/data && touch ran\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cp <steps.pick.outputs.f> \"/srv/data/x\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("would ask a person (ask)"), std::string::npos) << r.out;
  EXPECT_FALSE(Exists("ran"));
  EXPECT_FALSE(Exists(".runbook/state.db"));
  EXPECT_NE(r.out.find("of rb (a dry run: nothing runs, nothing is recorded) started"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("(tty)"), std::string::npos) << "no terminal was asked:\n" << r.out;
}

TEST_F(RunTest, JsonOutputStaysJsonInADryRun) {
  auto r = Run("name: rb\nsteps:\n  - { id: a, run: echo hi }\n  - { id: m, manual: check, needs: a }\n",
               {"--dry-run", "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) EXPECT_NO_THROW(json::parse(line)) << line;
  EXPECT_NE(r.err.find("would run"), std::string::npos);
}

TEST_F(RunTest, StateGoesWhereStateOrRunbookStateSays) {
  EXPECT_EQ(Run("name: rb\nsteps: [{ id: a, run: echo }]\n", {"--state", "custom/s.db"}).exit_code, 0);
  EXPECT_TRUE(Exists("custom/s.db"));
  EXPECT_EQ(RunCli({"runs", "--state", "custom/s.db", "--json"}, dir_.path()).out.find("\"rb\"") != std::string::npos, true);
  EXPECT_EQ(RunCli({"run", "rb.yaml"}, dir_.path(), {{"RUNBOOK_STATE", "env.db"}}).exit_code, 0);
  EXPECT_TRUE(Exists("env.db"));
  EXPECT_FALSE(Exists(".runbook/state.db"));
}

TEST_F(RunTest, RunsAndShowSpeakJsonWithTheSpecFields) {
  ASSERT_EQ(Run("name: rb\nsteps: [{ id: a, run: echo }]\n").exit_code, 0);
  auto runs = json::parse(RunCli({"runs", "--json"}, dir_.path()).out);
  ASSERT_EQ(runs.size(), 1u);
  for (const char* k : {"id", "runbook", "status", "started_at", "finished_at"}) EXPECT_TRUE(runs[0].contains(k)) << k;
  EXPECT_FALSE(runs[0].contains("steps"));
  json run = Show(runs[0]["id"].get<std::string>().substr(0, 12));  // a unique prefix
  for (const char* k : {"id", "status", "reason", "attempts", "exit_code", "started_at", "finished_at", "outputs"})
    EXPECT_TRUE(run["steps"][0].contains(k)) << k;
  EXPECT_TRUE(run["steps"][0]["attempts"].is_number_integer());
  EXPECT_EQ(RunCli({"show", "nope"}, dir_.path()).exit_code, 2);
}


TEST_F(RunTest, ATimedOutStepEscalatesToItsTimeoutContactAtTheTerminalAndInTheRecord) {
  auto r = Run("name: rb\non_failure: stop\nescalation:\n  - { contact: CTO, when: timeout }\n"
               "  - { contact: DBA, when: failure }\nsteps:\n  - { id: s, run: 'sleep 60', timeout: 1s }\n",
               {"--grace", "1s"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("escalate to:\n  CTO\n  DBA\n"), std::string::npos) << r.err;
  auto report = RunCli({"report", "last"}, dir_.path());  // the record's "who was told"
  EXPECT_NE(report.out.find("escalate to CTO: step s timed out after 1s"), std::string::npos) << report.out;
}

}  // namespace
}  // namespace runbook::testing
