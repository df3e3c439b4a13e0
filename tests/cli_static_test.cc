// End-to-end tests of the static commands: the real binary, real files.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

const std::string kSource = RUNBOOK_SOURCE_DIR;

const char* kGood = R"Y(name: good
title: A good runbook
targets: { rto: 10m, rpo: 5m }
escalation: [{ contact: "On-call (#ops)", when: failure }]
inputs:
  environment: { enum: [staging, production], default: staging }
steps:
  - { id: check, run: "true", estimate: 1m, on_failure: continue }
  - id: decide
    needs: check
    decision:
      choices:
        - { value: fix, when: "steps.check.exit_code != 0", goto: [fix] }
        - { value: skip, goto: [done] }
  - { id: fix, run: echo fixing, estimate: 20m, retry: { attempts: 3, delay: 2s }, rollback: echo undo }
  - { id: done, run: echo done, estimate: 1m, verify: { run: "true", retries: 2 } }
)Y";

const char* kBad = R"Y(name: bad
steps:
  - id: a
    run: echo hi
    timout: 5m
  - id: b
    needs: [a, c]
    run: echo {{ inputs.nope }}
)Y";

class CliTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(CliTest, ValidateAcceptsAGoodRunbook) {
  auto file = dir_.Write("good.yaml", kGood);
  auto r = RunCli({"validate", "good.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "good.yaml: ok (4 steps)\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, ValidateReportsEveryErrorWithLineColumnAndCaretAndExits2) {
  dir_.Write("bad.yaml", kBad);
  auto r = RunCli({"validate", "bad.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "bad.yaml:5:5: error: unknown key 'timout' in step (did you mean 'timeout'?)\n"
            " 5 |     timout: 5m\n"
            "   |     ^\n"
            "bad.yaml:7:16: error: unknown step 'c' in needs of 'b'\n"
            " 7 |     needs: [a, c]\n"
            "   |                ^\n"
            "bad.yaml:8:18: error: unknown input 'nope'\n"
            " 8 |     run: echo {{ inputs.nope }}\n"
            "   |                  ^\n"
            "bad.yaml: 3 errors\n");
  EXPECT_EQ(r.out, "");
}

TEST_F(CliTest, ValidateChecksEveryFileAndFailsIfAnyIsInvalid) {
  dir_.Write("good.yaml", kGood);
  dir_.Write("bad.yaml", kBad);
  auto r = RunCli({"validate", "bad.yaml", "good.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml: 3 errors"), std::string::npos);
  EXPECT_EQ(r.out, "good.yaml: ok (4 steps)\n");
}

TEST_F(CliTest, ValidateReportsACycleAsAPath) {
  dir_.Write("loop.yaml", "name: loop\nsteps:\n  - { id: a, run: x, needs: b }\n  - { id: b, run: x, needs: a }\n");
  auto r = RunCli({"validate", "loop.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("loop.yaml:4:29: error: dependency cycle: a -> b -> a\n"), std::string::npos) << r.err;
}

TEST_F(CliTest, ValidateReportsInvalidYaml) {
  dir_.Write("broken.yaml", "name: broken\nsteps:\n  - id: a\n    run: [unterminated\n  - id: b\n");
  auto r = RunCli({"validate", "broken.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("broken.yaml:", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("error: invalid YAML: "), std::string::npos) << r.err;
}

TEST_F(CliTest, ANameMismatchIsAWarningNotAnError) {
  dir_.Write("runbooks/restore.yaml", "name: restore-db\nsteps: [{ id: a, run: x }]\n");
  auto r = RunCli({"validate", "restore"}, dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("./runbooks/restore.yaml:1:7: warning: runbook name 'restore-db' differs from the file name 'restore'"),
            std::string::npos)
      << r.err;
}

TEST_F(CliTest, NamesAreLookedUpOnRunbookPathYamlBeforeYml) {
  dir_.Write("first/x.yml", "name: x\ntitle: first yml\nsteps: [{ id: a, run: x }]\n");
  dir_.Write("first/x.yaml", "name: x\ntitle: first yaml\nsteps: [{ id: a, run: x }]\n");
  dir_.Write("second/x.yaml", "name: x\ntitle: second\nsteps: [{ id: a, run: x }]\n");
  dir_.Write("second/only-second.yml", "name: only-second\nsteps: [{ id: a, run: x }]\n");
  auto r = RunCli({"validate", "x", "only-second"}, dir_.path(), {{"RUNBOOK_PATH", "first:second"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "first/x.yaml: ok (1 step)\nsecond/only-second.yml: ok (1 step)\n");
}

TEST_F(CliTest, TheDefaultRunbookPathIsDotSlashRunbooks) {
  dir_.Write("runbooks/good.yaml", kGood);
  auto r = RunCli({"validate", "good"}, dir_.path(), {{"RUNBOOK_PATH", ""}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "./runbooks/good.yaml: ok (4 steps)\n");
}

TEST_F(CliTest, AnUnknownNameIsAUsageErrorWithDidYouMean) {
  dir_.Write("runbooks/disaster-recovery.yaml", "name: disaster-recovery\nsteps: [{ id: a, run: x }]\n");
  auto r = RunCli({"validate", "disaster-recovry"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "runbook: runbook 'disaster-recovry' not found in ./runbooks (RUNBOOK_PATH) (did you mean 'disaster-recovery'?)\n");
  r = RunCli({"validate", "missing/file.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "runbook: no such runbook file: missing/file.yaml\n");
}

TEST_F(CliTest, PlanShowsWavesStepsBranchesCriticalPathAndEscalation) {
  dir_.Write("good.yaml", kGood);
  auto r = RunCli({"plan", "good.yaml"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* expected : {
           "good: A good runbook\n",
           "  environment = staging  [one of staging|production]\n",
           "Plan: 4 steps in 3 waves (up to 1 at once)\n",  // fix and done are two ways of one decision
           "  wave 1\n    1. check [run]\n",
           "  wave 2\n    2. decide [decision]\n",
           "         - fix: when steps.check.exit_code != 0 -> fix\n",
           "         - skip: otherwise -> done\n",
           "    3. fix [run]\n",
           "3 attempts, delay 2s",
           "         rollback:\n           $ echo undo\n",
           "only if decide chooses fix;",
           "         verify: true (3 tries every 1s)\n",
           "Critical path (estimates, every branch counted): check -> decide -> fix\n"
           "  total 21m against RTO 10m: EXCEEDS the RTO by 11m\n",
           "  1 step on the path has no estimate and count as 0\n",
           "Escalation\n  failure: On-call (#ops)\n",
       }) {
    EXPECT_NE(r.out.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << r.out;
  }
}

// Issue 22: plan showed the default timeout on questions, where it never applies.
TEST_F(CliTest, PlanShowsATimeoutOnlyWhereOneStopsAProcess) {
  dir_.Write("t.yaml", "name: t\ndefaults: { timeout: 7m }\nsteps:\n  - { id: ask, manual: Check the replica }\n"
                       "  - id: pick\n    needs: ask\n    decision: { prompt: Go on, choices: [{ value: go }] }\n"
                       "  - { id: work, needs: pick, run: 'true' }\n");
  auto r = RunCli({"plan", "t.yaml"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("timeout 7m"), r.out.rfind("timeout 7m")) << r.out;  // once: work's
  EXPECT_NE(r.out.find("timeout 7m"), std::string::npos) << r.out;
  EXPECT_GT(r.out.find("timeout 7m"), r.out.find("work [run]")) << r.out;
}

TEST_F(CliTest, PlanChecksInputValuesAsUsageErrors) {
  dir_.Write("good.yaml", kGood);
  auto r = RunCli({"plan", "good.yaml", "--input", "environment=prod"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "runbook: input 'environment': 'prod' is not one of the allowed values: staging, production\n");
  r = RunCli({"plan", "good.yaml", "--input", "enviroment=staging"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "runbook: unknown input 'enviroment' (did you mean 'environment'?)\n");
  r = RunCli({"plan", "good.yaml", "--input", "environment=production"}, dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("environment = production"), std::string::npos);
}

TEST_F(CliTest, PlanShowsScriptsLineByLineAndCountsOnlyStepsThatCanRunTogether) {
  dir_.Write("r.yaml", R"Y(name: r
steps:
  - id: probe
    run: |
      set -e
      curl -fsS http://127.0.0.1/health
      echo ok
  - id: pick
    needs: probe
    decision: { choices: [{ value: a, when: "steps.probe.exit_code != 0", goto: [a1, a2] }, { value: b, goto: [b1] }] }
  - { id: a1, run: x }
  - { id: a2, run: x }
  - { id: b1, run: x }
  - { id: both, needs: [a1, b1], run: x }
  - { id: either, needs: [pick], run: x }
)Y");
  auto r = RunCli({"plan", "r.yaml"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* expected : {
           "         $ set -e\n"
           "           curl -fsS http://127.0.0.1/health\n"
           "           echo ok\n",
           // a1, a2, either can run together; b1 only without a1 and a2
           "Plan: 7 steps in 4 waves (up to 3 at once)\n",
           "    3. a1 [run]\n         only if pick chooses a\n",
           "    5. b1 [run]\n         only if pick chooses b\n",
           "    7. both [run]\n         needs a1, b1; only if pick chooses a or b\n",
       }) {
    EXPECT_NE(r.out.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << r.out;
  }
  EXPECT_EQ(r.out.find("set -e curl"), std::string::npos) << r.out;
}

TEST_F(CliTest, APlanWithoutEstimatesDoesNotClaimToBeWithinTheRto) {
  dir_.Write("r.yaml", "name: r\ntargets: { rto: 10m }\nsteps:\n  - { id: a, run: x }\n  - { id: b, run: y, needs: a }\n");
  auto r = RunCli({"plan", "r.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("total 0s against RTO 10m: no step on the path has an estimate, so the RTO cannot be checked"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("within target"), std::string::npos) << r.out;
}

TEST_F(CliTest, ListKeepsALongTitleInItsColumn) {
  dir_.Write("runbooks/long.yaml",
             "name: long\ntitle: Restore the primary database from the newest verified backup in another region\n"
             "steps: [{ id: a, run: x }]\n");
  auto r = RunCli({"list"}, dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Restore the primary database from the n...  -"), std::string::npos) << r.out;
}

TEST_F(CliTest, RunWithoutARunbookSaysWhatItNeeds) {
  auto r = RunCli({"run"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "runbook: run needs a runbook: a name on RUNBOOK_PATH (see: runbook list) or a file\n");
}

TEST_F(CliTest, PlanAndGraphRefuseAnInvalidRunbook) {
  dir_.Write("bad.yaml", kBad);
  for (const char* cmd : {"plan", "graph"}) {
    auto r = RunCli({cmd, "bad.yaml"}, dir_.path());
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_NE(r.err.find("bad.yaml:5:5: error: unknown key 'timout'"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(CliTest, GraphDrawsMermaidAndDotByStepId) {
  dir_.Write("good.yaml", kGood);
  auto r = RunCli({"graph", "good.yaml"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "flowchart TD\n"
            "  n0[\"check\"]\n"
            "  n1{\"decide\"}\n"
            "  n2[\"fix\"]\n"
            "  n3[\"done\"]\n"
            "  n0 --> n1\n"
            "  n1 -- \"fix\" --> n2\n"
            "  n1 -- \"skip\" --> n3\n");
  r = RunCli({"graph", "good.yaml", "--format", "dot"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("digraph \"good\" {\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("n0->n1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("n1->n2  [label=fix]"), std::string::npos) << r.out;
  r = RunCli({"graph", "good.yaml", "--format", "svg"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(CliTest, ListShowsEveryRunbookWithTitleAndTargets) {
  dir_.Write("runbooks/good.yaml", kGood);
  dir_.Write("runbooks/bad.yaml", kBad);
  dir_.Write("more/other.yml", "name: other\nsteps: [{ id: a, run: x }]\n");
  auto r = RunCli({"list"}, dir_.path(), {{"RUNBOOK_PATH", "runbooks:more"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("NAME"), std::string::npos);
  auto line_of = [&](const std::string& name) {
    size_t at = r.out.find("\n" + name + " ");
    return at == std::string::npos ? std::string() : r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(line_of("good").find("A good runbook"), std::string::npos) << r.out;
  EXPECT_NE(line_of("good").find("10m"), std::string::npos) << r.out;
  EXPECT_NE(line_of("good").find("5m"), std::string::npos) << r.out;
  EXPECT_NE(line_of("bad").find("(invalid: 3 errors; see runbook validate bad)"), std::string::npos) << r.out;
  EXPECT_NE(line_of("other").find("other"), std::string::npos) << r.out;
}

TEST_F(CliTest, SchemaIsDraft2020JsonSchema) {
  auto r = RunCli({"schema"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0);
  auto schema = nlohmann::json::parse(r.out);
  EXPECT_EQ(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
  EXPECT_EQ(schema["required"], (nlohmann::json{"name", "steps"}));
}

TEST_F(CliTest, UsageErrorsExit2AndHelpExits0) {
  EXPECT_EQ(RunCli({}, dir_.path()).exit_code, 2);
  EXPECT_EQ(RunCli({"frobnicate"}, dir_.path()).exit_code, 2);
  EXPECT_EQ(RunCli({"validate"}, dir_.path()).exit_code, 2);
  EXPECT_EQ(RunCli({"validate", "x.yaml", "--bogus"}, dir_.path()).exit_code, 2);
  auto help = RunCli({"--help"}, dir_.path());
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("validate"), std::string::npos);
}

TEST_F(CliTest, StateIsAcceptedBeforeOrAfterTheCommand) {
  dir_.Write("good.yaml", kGood);
  EXPECT_EQ(RunCli({"--state", "s.db", "validate", "good.yaml"}, dir_.path()).exit_code, 0);
  EXPECT_EQ(RunCli({"validate", "good.yaml", "--state", "s.db"}, dir_.path()).exit_code, 0);
}

TEST_F(CliTest, TheRunbooksWeShipAreValid) {
  auto r = RunCli({"validate", kSource + "/runbooks/disaster-recovery.yaml", kSource + "/examples/hello.yaml"},
                  dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  r = RunCli({"plan", kSource + "/runbooks/disaster-recovery.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("against RTO 2h: within target"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace runbook::testing

namespace runbook::testing {
namespace {

// Issue 14, item 7: `validate` lints what a paste leaves in a script: a
// prompt, a <placeholder>, a script bash cannot parse. Warnings: exit 0.
TEST(CliLintTest, ValidateWarnsOfAScriptThatDoesNotParse) {
  TempDir dir;
  dir.Write("pasted.yaml", "name: pasted\nsteps:\n  - id: a\n    run: |\n      $ kubectl get ns <PROJECT>\n"
                           "      echo 'done\n");
  auto r = RunCli({"validate", "pasted.yaml"}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("pasted.yaml:5:7: warning: this line starts with a shell prompt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pasted.yaml:5:24: warning: '<PROJECT>' looks like a placeholder"), std::string::npos) << r.err;
  // bash stops at the first error: the redirection with no file.
  EXPECT_NE(r.err.find("pasted.yaml:5:7: warning: the run script of step 'a' does not parse as shell (bash -n: "
                       "syntax error near unexpected token `newline'): it would fail before running anything"),
            std::string::npos)
      << r.err;
  dir.Write("quote.yaml", "name: quote\nsteps:\n  - id: a\n    run: |\n      echo start\n      echo 'done\n");
  r = RunCli({"validate", "quote.yaml"}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("quote.yaml:6:1: warning: the run script of step 'a' does not parse as shell (bash -n: "
                       "unexpected EOF while looking for matching `''): it would fail before running anything"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "quote.yaml: ok (1 step)\n");
}

}  // namespace
}  // namespace runbook::testing
