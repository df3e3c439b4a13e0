// The parser and validator, through the exact text `runbook validate` prints.
#include "engine/parser.h"

#include <gtest/gtest.h>

#include "engine/test_util.h"
#include "engine/backoff.h"
#include "engine/duration.h"
#include "engine/graph.h"
#include "engine/regex.h"
#include "engine/suggest.h"
#include "engine/step_io.h"

namespace runbook {
namespace {

using testing::Check;

// Wraps steps in a minimal valid runbook named after its file.
std::string WithSteps(const std::string& steps) { return "name: t\nsteps:\n" + steps; }

TEST(ParserTest, AcceptsEveryFieldOfTheFormat) {
  auto c = Check(R"Y(name: t
title: Restore the primary database
description: |
  Full recovery.
purpose: Back within RTO.
owner: platform-team
severity: SEV-1
tags: [database, critical]
targets: { rto: 2h, rpo: 1h }
escalation:
  - { contact: "On-call DBA", when: failure }
  - { contact: CTO, when: waiting, after: 30m }
inputs:
  environment: { description: Target, enum: [staging, production], required: true }
  backup_dir: { default: ./backups }
  api_token: { secret: true, from_env: API_TOKEN }
  count: { type: number, default: 2, pattern: "[0-9]+" }
env: { DATA_DIR: "{{ inputs.backup_dir }}/data" }
defaults: { timeout: 10m, retry: { attempts: 2 }, shell: bash, workdir: . }
on_failure: stop
timeout: 3h
concurrency: shared
preflight:
  - name: backups present
    run: test -d {{ inputs.backup_dir }}
steps:
  - id: health-check
    run: curl -fsS http://127.0.0.1:8080/health
    on_failure: continue
    outputs: { body: stdout, code: exit_code, version: { regex: "v([0-9.]+)" } }
  - id: assess
    needs: [health-check]
    decision:
      prompt: Is the primary reachable?
      choices:
        - value: failover
          when: steps.health-check.exit_code != 0
          goto: [promote]
        - value: restart
          goto: [restart]
      default: restart
  - id: promote
    name: Promote {{ inputs.environment }}
    description: Promote the replica.
    run: echo promote "$RUNBOOK_INPUT_API_TOKEN" {{ inputs.api_token }}
    timeout: 5m
    retry: { attempts: 3, delay: 1s, backoff: 2.0, max_delay: 1m }
    verify:
      - name: integrity
        run: sqlite3 data/app.db 'PRAGMA integrity_check'
        expect: { exit_code: 0, stdout: "^ok$", stderr: "^$" }
        retries: 10
        interval: 2s
        timeout: 30s
    rollback: { run: echo undo, timeout: 1m }
    estimate: 20m
    env: { MODE: fast }
    workdir: /tmp
    shell: sh
    idempotent: false
  - id: restart
    manual: Restart it by hand.
    checklist: [stopped, started]
  - id: settle
    needs: [promote, restart]
    wait: 1h30m
  - id: child
    needs: settle
    runbook: backup-verification
    inputs: { keep: 3, env: "{{ inputs.environment }}" }
    when: succeeded('promote') || skipped('promote')
finally:
  - id: cleanup
    run: echo {{ run.status }} {{ steps.promote.status }}
    when: run.status != 'succeeded'
)Y");
  ASSERT_EQ(c.Text(), "");
  const Runbook& rb = c.runbook;
  EXPECT_EQ(rb.title, "Restore the primary database");
  EXPECT_EQ(rb.description, "Full recovery.\n");
  EXPECT_EQ(rb.tags, (std::vector<std::string>{"database", "critical"}));
  EXPECT_EQ(*rb.rto, Millis(2 * 3600000));
  EXPECT_EQ(rb.escalation[1].when, Escalation::When::kWaiting);
  EXPECT_EQ(*rb.escalation[1].after, Millis(30 * 60000));
  EXPECT_EQ(rb.inputs.size(), 4u);
  EXPECT_TRUE(rb.FindInput("api_token")->secret);
  EXPECT_EQ(rb.FindInput("count")->type, InputDecl::Type::kNumber);
  EXPECT_FALSE(rb.rollback_on_failure);
  EXPECT_FALSE(rb.exclusive);
  EXPECT_EQ(rb.preflight[0].name, "backups present");
  const Step& hc = rb.steps[0];
  EXPECT_TRUE(hc.continue_on_failure);
  EXPECT_EQ(*hc.timeout, Millis(600000));  // from defaults
  EXPECT_EQ(hc.retry.attempts, 2);         // from defaults
  EXPECT_EQ(hc.outputs[2].regex, "v([0-9.]+)");
  const Step& promote = rb.steps[2];
  EXPECT_EQ(promote.retry.attempts, 3);
  EXPECT_EQ(promote.retry.backoff, 2.0);
  EXPECT_EQ(promote.verify[0].retries, 10);
  EXPECT_EQ(promote.verify[0].expect.stdout_regex, "^ok$");
  EXPECT_EQ(*promote.rollback->timeout, Millis(60000));
  EXPECT_EQ(promote.shell, "sh");
  EXPECT_FALSE(promote.idempotent);
  EXPECT_EQ(rb.steps[1].decision.choices[0].go_to[0].value, "promote");
  EXPECT_EQ(rb.steps[3].checklist.size(), 2u);
  EXPECT_EQ(rb.steps[4].wait, Millis(5400000));
  EXPECT_EQ(rb.steps[5].runbook.value, "backup-verification");
  EXPECT_EQ(rb.steps[5].runbook_inputs.size(), 2u);
  EXPECT_TRUE(rb.finally[0].in_finally);
}

TEST(ParserTest, ReportsYamlSyntaxErrorsWithTheirPosition) {
  EXPECT_EQ(Check("name: t\nsteps:\n  - id: a\n    run: x\n   bad: [\n").Messages(),
            "t.yaml:5:4: error: invalid YAML: end of sequence not found\n");
}

TEST(ParserTest, PrintsTheSourceLineAndACaret) {
  EXPECT_EQ(Check(WithSteps("  - id: a\n    run: x\n    timout: 5m\n")).Text(),
            "t.yaml:5:5: error: unknown key 'timout' in step (did you mean 'timeout'?)\n"
            " 5 |     timout: 5m\n"
            "   |     ^\n");
}

TEST(ParserTest, RejectsUnknownKeysAtEveryLevel) {
  EXPECT_EQ(Check(R"Y(name: t
titel: x
targets: { rto: 1h, rpp: 1h }
defaults: { timeout: 1m, shel: sh }
escalation: [{ contact: x, whn: failure }]
inputs: { a: { defualt: 1 } }
steps:
  - id: a
    run: x
    retry: { attempt: 2 }
    verify: { run: x, expect: { stdot: x }, interval: 1s, retires: 2 }
    rollback: { run: x, timeot: 1m }
    outputs: { o: { regexp: x } }
  - id: b
    decision: { promt: x, choices: [{ value: x, goto: a, wen: "true" }], default: x }
)Y").Messages(),
            "t.yaml:2:1: error: unknown key 'titel' in runbook (did you mean 'title'?)\n"
            "t.yaml:3:21: error: unknown key 'rpp' in targets (did you mean 'rpo'?)\n"
            "t.yaml:4:26: error: unknown key 'shel' in defaults (did you mean 'shell'?)\n"
            "t.yaml:5:28: error: unknown key 'whn' in escalation contact (did you mean 'when'?)\n"
            "t.yaml:6:16: error: unknown key 'defualt' in input 'a' (did you mean 'default'?)\n"
            "t.yaml:10:14: error: unknown key 'attempt' in retry of step 'a' (did you mean 'attempts'?)\n"
            "t.yaml:11:33: error: unknown key 'stdot' in expect (did you mean 'stdout'?)\n"
            "t.yaml:11:59: error: unknown key 'retires' in verification of step 'a' (did you mean 'retries'?)\n"
            "t.yaml:12:25: error: unknown key 'timeot' in rollback of step 'a' (did you mean 'timeout'?)\n"
            "t.yaml:13:19: error: missing required key 'regex' in output 'o'\n"
            "t.yaml:13:21: error: unknown key 'regexp' in output 'o' (did you mean 'regex'?)\n"
            "t.yaml:15:17: error: unknown key 'promt' in decision (did you mean 'prompt'?)\n"
            "t.yaml:15:58: error: unknown key 'wen' in choice (did you mean 'when'?)\n");
}

TEST(ParserTest, ReportsDuplicateKeys) {
  EXPECT_EQ(Check(WithSteps("  - id: a\n    run: x\n    run: y\n")).Messages(),
            "t.yaml:5:5: error: duplicate key 'run' in step\n"
            "t.yaml:5:5: error: step 'a' has two kinds, 'run' and 'run': a step is exactly one of run, "
            "manual, decision, wait, runbook\n");
}

TEST(ParserTest, ReportsMissingRequiredFields) {
  EXPECT_EQ(Check("title: x\n").Messages(),
            "t.yaml:1:1: error: missing required key 'name' in runbook\n"
            "t.yaml:1:1: error: missing required key 'steps' in runbook\n");
  EXPECT_EQ(Check("name: t\nsteps: []\n").Messages(),
            "t.yaml:2:8: error: 'steps' must be a non-empty list of steps\n");
  EXPECT_EQ(Check(WithSteps("  - run: x\n  - id: b\n    verify: { name: x }\n    decision: { choices: [{ goto: [] }] }\n"
                            "escalation: [{ when: failure }]\n"))
                .Messages(),
            "t.yaml:3:5: error: missing required key 'id' in step\n"
            "t.yaml:5:13: error: missing required key 'run' in verification of step 'b'\n"
            "t.yaml:6:27: error: missing required key 'value' in choice\n"
            "t.yaml:7:14: error: missing required key 'contact' in escalation contact\n");
}

TEST(ParserTest, ReportsAStepWithZeroOrTwoKinds) {
  EXPECT_EQ(Check(WithSteps("  - id: a\n    name: nothing\n  - id: b\n    run: x\n    wait: 5m\n")).Messages(),
            "t.yaml:3:5: error: step 'a' has no kind: add one of run, manual, decision, wait, runbook\n"
            "t.yaml:7:5: error: step 'b' has two kinds, 'run' and 'wait': a step is exactly one of run, "
            "manual, decision, wait, runbook\n");
}

TEST(ParserTest, RejectsBadDurationsRegexesAndNames) {
  EXPECT_EQ(Check(R"Y(name: Bad_Name
inputs: { Env: {}, ok: { pattern: "[" } }
steps:
  - id: Step1
    run: x
    timeout: 5 minutes
    estimate: -1s
    outputs: { v: { regex: "(" }, 9x: stdout }
    env: { 1X: a }
)Y")
                .Messages(),
            "t.yaml:1:7: error: invalid runbook name 'Bad_Name': names match ^[a-z0-9][a-z0-9_-]*$, at most 128 characters\n"
            "t.yaml:2:11: error: invalid input name 'Env': input names match ^[a-z_][a-z0-9_]*$, at most 128 characters\n"
            "t.yaml:2:35: error: invalid regex '[' for 'pattern' of input 'ok': missing ]: [\n"
            "t.yaml:4:9: error: invalid step id 'Step1': ids match ^[a-z0-9][a-z0-9_-]*$, at most 128 characters\n"
            "t.yaml:6:14: error: invalid duration '5 minutes' for 'timeout' of step 'Step1': use 250ms, 30s, 5m, 2h, 1h30m or whole seconds\n"
            "t.yaml:7:15: error: invalid duration '-1s' for 'estimate' of step 'Step1': use 250ms, 30s, 5m, 2h, 1h30m or whole seconds\n"
            "t.yaml:8:28: error: invalid regex '(' for 'regex' of output 'v': missing ): (\n"
            "t.yaml:8:35: error: invalid output name '9x': output names match ^[A-Za-z_][A-Za-z0-9_]*$, at most 128 characters\n"
            "t.yaml:9:12: error: invalid environment variable name '1X': names match ^[A-Za-z_][A-Za-z0-9_]*$, at most 128 characters\n"
            "t.yaml:1:7: warning: runbook name 'Bad_Name' differs from the file name 't'; `runbook run t` finds it by the file name\n");
}

TEST(ParserTest, RejectsValuesOutsideTheirEnums) {
  EXPECT_EQ(Check("name: t\non_failure: rolback\nconcurrency: single\nsteps:\n  - { id: a, run: x, on_failure: ignore }\n")
                .Messages(),
            "t.yaml:2:13: error: invalid on_failure 'rolback' for the runbook: expected one of rollback, stop (did you mean 'rollback'?)\n"
            "t.yaml:3:14: error: invalid concurrency 'single' for the runbook: expected one of exclusive, shared\n"
            "t.yaml:5:34: error: invalid on_failure 'ignore' for step 'a': expected one of fail, continue\n");
}

TEST(ParserTest, KindSpecificFieldsBelongToTheirKind) {
  EXPECT_EQ(Check(WithSteps("  - { id: a, run: x, checklist: [y], inputs: { k: v } }\n")).Messages(),
            "t.yaml:3:33: error: 'checklist' belongs to manual steps; step 'a' is a run step\n"
            "t.yaml:3:46: error: 'inputs' belongs to runbook steps; step 'a' is a run step\n");
}

TEST(ValidateTest, ReportsDuplicateIdsAcrossStepsAndFinally) {
  EXPECT_EQ(Check(WithSteps("  - { id: a, run: x }\nfinally:\n  - { id: a, run: y }\n")).Messages(),
            "t.yaml:5:11: error: duplicate step id 'a' (first defined at line 3)\n");
}

TEST(ValidateTest, PointsAtTheBadNeedsItemWithDidYouMean) {
  EXPECT_EQ(Check(WithSteps("  - { id: restore, run: x }\n  - id: verify\n    run: x\n    needs: [restore, restor]\n"))
                .Messages(),
            "t.yaml:6:22: error: unknown step 'restor' in needs of 'verify' (did you mean 'restore'?)\n");
}

TEST(ValidateTest, PointsAtTheBadGotoTarget) {
  EXPECT_EQ(Check(WithSteps("  - id: d\n    decision:\n      choices:\n        - { value: a, goto: [fix, fxi] }\n"
                            "      default: a\n  - { id: fix, run: x }\n"))
                .Messages(),
            "t.yaml:6:35: error: unknown step 'fxi' in goto of choice 'a' (did you mean 'fix'?)\n");
}

TEST(ValidateTest, PrintsCyclesAsAPath) {
  EXPECT_EQ(Check(WithSteps("  - { id: a, run: x, needs: c }\n  - { id: b, run: x, needs: a }\n  - { id: c, run: x, needs: [b] }\n"))
                .Messages(),
            "t.yaml:4:29: error: dependency cycle: a -> c -> b -> a\n");
  // A goto back to an ancestor of the decision is a cycle too.
  EXPECT_EQ(Check(WithSteps("  - { id: a, run: x }\n  - id: d\n    needs: a\n    decision: { choices: [{ value: v, goto: a }] }\n"))
                .Messages(),
            "t.yaml:5:12: error: dependency cycle: a -> d -> a\n");
}

TEST(ValidateTest, ReportsExpressionErrorsAtTheirColumnInsideAnyScalarStyle) {
  EXPECT_EQ(Check(WithSteps("  - id: a\n    run: |\n      echo ok\n      echo {{ inputs. }}\n"
                            "    when: \"steps.a.status ==\"\n"))
                .Messages(),
            "t.yaml:6:23: error: expected a name after 'inputs.', found end of expression\n"
            "t.yaml:7:29: error: expected a value, found end of expression\n");
}

TEST(ValidateTest, ExplainsAnUnquotedBangExpression) {
  EXPECT_EQ(Check(WithSteps("  - { id: a, run: x }\n  - id: b\n    needs: a\n    run: x\n    when: !failed('a')\n")).Messages(),
            "t.yaml:7:11: error: YAML reads '!failed('a')' as a tag, not as text (runbooks use no tags): quote the "
            "whole value, e.g. \"!failed('a')\"\n");
}

TEST(ValidateTest, ANegationYamlWouldDropIsAnErrorNotAStepThatRunsWhenItShouldNot) {
  // `! expr` (a space after the bang) is YAML's non-specific tag: the
  // negation vanishes and the step would run exactly when it should not.
  EXPECT_EQ(Check(WithSteps("  - { id: a, run: x }\n  - id: b\n    needs: a\n    run: x\n"
                            "    when: ! steps.a.status == 'failed'\n"))
                .Messages(),
            "t.yaml:7:11: error: YAML reads this '!' as a tag and drops it, so the value loses its negation: quote "
            "the whole value, e.g. \"!steps.a.status == 'failed'\"\n");
}

TEST(ValidateTest, EveryTagAnywhereIsAnErrorAtItsPosition) {
  EXPECT_EQ(Check("name: t\ntitle: !!str Restore\nsteps:\n  - { id: a, run: !x echo }\n").Messages(),
            "t.yaml:2:8: error: YAML reads '!!str' as a tag, not as text (runbooks use no tags): quote the whole "
            "value, e.g. \"!!str Restore\"\n"
            "t.yaml:4:19: error: YAML reads '!x' as a tag, not as text (runbooks use no tags): quote the whole "
            "value, e.g. \"!x echo\"\n");
}

TEST(ValidateTest, ATabInTheIndentationIsNamed) {
  std::string m = Check("name: t\nsteps:\n  - id: a\n\t  run: x\n").Messages();
  EXPECT_NE(m.find("(a tab: YAML indents with spaces only)"), std::string::npos) << m;
}

TEST(ValidateTest, AQuotedStringThatNeverClosesIsAnErrorAtItsLine) {
  // yaml-cpp accepts it at the end of a file, with the lines after it folded
  // into the value: the step would run them as its command.
  EXPECT_EQ(Check(WithSteps("  - id: a\n    run: \"unterminated\n  - id: b\n    run: rm -rf data\n")).Messages(),
            "t.yaml:4:10: error: this double-quoted string is never closed: it runs to the end of the file\n");
  EXPECT_EQ(Check(WithSteps("  - { id: a, run: 'it''s fine' }\n  - { id: b, run: \"say \\\"hi\\\"\" }\n")).Messages(), "");
}

TEST(ValidateTest, ReportsUnknownInputsAndStepsInExpressionsAndTemplates) {
  EXPECT_EQ(Check(R"Y(name: t
inputs: { backup_dir: {} }
env: { X: "{{ inputs.bakup_dir }}" }
steps:
  - { id: restore, run: "cp {{ inputs.backup_dir }} {{ steps.restor.outputs.f }}" }
  - { id: b, run: x, needs: restore, when: "failed('restored')" }
)Y").Messages(),
            "t.yaml:3:15: error: unknown input 'bakup_dir' (did you mean 'backup_dir'?)\n"
            "t.yaml:5:56: error: unknown step 'restor' (did you mean 'restore'?)\n"
            "t.yaml:6:52: error: unknown step 'restored' (did you mean 'restore'?)\n");
}

TEST(ValidateTest, AStepMayReferOnlyToItsTransitiveNeeds) {
  EXPECT_EQ(Check(R"Y(name: t
steps:
  - { id: a, run: x }
  - { id: b, run: x, needs: a }
  - { id: c, run: "echo {{ steps.a.status }}", needs: b }
  - { id: d, run: "echo {{ steps.b.status }}" }
  - id: e
    run: x
    verify: "test {{ steps.e.exit_code }} = 0"
    rollback: "echo {{ steps.e.status }} {{ steps.d.status }}"
finally:
  - { id: f, run: "echo {{ steps.d.status }}" }
  - { id: g, run: "echo {{ steps.f.status }}" }
)Y").Messages(),
            "t.yaml:6:28: error: step 'd' refers to step 'b', which is not among its transitive needs: add 'b' to its needs so that the result is known before it runs\n"
            "t.yaml:10:45: error: step 'e' refers to step 'd', which is not among its transitive needs: add 'd' to its needs so that the result is known before it runs\n"
            "t.yaml:13:28: error: step 'g' refers to step 'f', which is not among its transitive needs: add 'f' to its needs so that the result is known before it runs\n");
}

TEST(ValidateTest, GotoTargetsMayReferToTheDecisionAndItsNeeds) {
  EXPECT_EQ(Check(WithSteps("  - { id: probe, run: x, on_failure: continue }\n  - id: d\n    needs: probe\n"
                            "    decision: { choices: [{ value: v, goto: fix, when: 'steps.probe.exit_code != 0' }], default: v }\n"
                            "  - { id: fix, run: 'echo {{ steps.d.outputs.choice }} {{ steps.probe.exit_code }}' }\n"))
                .Messages(),
            "");
}

TEST(ValidateTest, PreflightCannotReferToSteps) {
  EXPECT_EQ(Check("name: t\npreflight: [{ run: 'test {{ steps.a.status }}' }]\nsteps: [{ id: a, run: x }]\n").Messages(),
            "t.yaml:2:29: error: preflight runs before any step and cannot refer to step 'a'\n");
}

TEST(ValidateTest, ReportsADecisionThatCouldEndWithNoBranch) {
  EXPECT_EQ(Check(WithSteps("  - { id: p, run: x }\n  - id: d\n    needs: p\n    decision:\n      choices:\n"
                            "        - { value: a, when: 'steps.p.exit_code == 0', goto: x }\n"
                            "        - { value: b, when: 'steps.p.exit_code != 0', goto: y }\n"
                            "  - { id: x, run: x }\n  - { id: y, run: x }\n"))
                .Messages(),
            "t.yaml:6:5: error: decision 'd' could end with no branch: every choice has a 'when' and there is "
            "no 'prompt' or 'default'\n");
  // A prompt, a default, or an unconditional choice each make it complete.
  for (const char* extra : {"      prompt: which?\n", "      default: a\n"}) {
    EXPECT_EQ(Check(WithSteps(std::string("  - { id: p, run: x }\n  - id: d\n    needs: p\n    decision:\n") + extra +
                              "      choices:\n        - { value: a, when: 'steps.p.exit_code == 0', goto: x }\n"
                              "  - { id: x, run: x }\n"))
                  .Messages(),
              "");
  }
}

TEST(ValidateTest, ReportsADefaultThatIsNotAChoice) {
  EXPECT_EQ(Check(WithSteps("  - id: d\n    decision: { choices: [{ value: restart }], default: restrat }\n")).Messages(),
            "t.yaml:4:57: error: default 'restrat' of step 'd' is not one of its choices (did you mean 'restart'?)\n");
}

TEST(ValidateTest, ATemplateInsideSingleQuotesCannotBeExpanded) {
  EXPECT_EQ(Check("name: t\ninputs: { x: {} }\nsteps:\n  - id: a\n    run: |\n      # it's fine here\n"
                  "      echo \"{{ inputs.x }}\" {{ inputs.x }}\n      echo '{{ inputs.x }}'\n")
                .Messages(),
            "t.yaml:8:13: error: template inside single quotes: nothing expands there, so no value can be given: "
            "close the quotes before '{{' (it becomes one quoted word), use double quotes, or an unquoted "
            "here-document\n");
}

TEST(ValidateTest, TemplatesInCommandsNeedAPosixShell) {
  EXPECT_EQ(Check("name: t\ninputs: { x: {} }\nsteps:\n  - { id: a, shell: python3, run: 'print({{ inputs.x }})' }\n"
                  "  - { id: b, shell: python3, run: 'import os' }\n")
                .Messages(),
            "t.yaml:4:42: error: templates in commands need shell 'bash' or 'sh', which read each value from its "
            "own variable; with shell 'python3' read the value from the environment instead (RUNBOOK_INPUT_<NAME>)\n");
}

// Where bash would run a value as code even from a variable, or a value
// could end a here-document, a template is refused before anything runs.
TEST(ValidateTest, TemplatesInArithmeticOrAHeredocDelimiterAreRefused) {
  auto messages = Check("name: t\ninputs: { x: {}, n: { type: number } }\nsteps:\n  - id: a\n    run: |\n"
                        "      echo $(( {{ inputs.x }} + 1 ))\n"
                        "      (( {{ inputs.x }} > 2 )) && echo big\n"
                        "      let y={{ inputs.x }}\n"
                        "      [[ {{ inputs.x }} -gt 0 ]]\n"
                        "      a[{{ inputs.x }}]=1\n"
                        "      echo ${a[{{ inputs.x }}]} ${HOME:{{ inputs.x }}}\n"
                        "      cat <<{{ inputs.x }}\n"
                        "      fine\n"
                        "      echo $(( {{ inputs.n }} + {{ int(inputs.x) }} )) [[ {{ inputs.x }} == y ]] \"${V:-{{ inputs.x }}}\"\n")
                      .Messages();
  for (const char* at : {"t.yaml:6:16:", "t.yaml:7:10:", "t.yaml:8:13:", "t.yaml:9:10:", "t.yaml:10:9:",
                         "t.yaml:11:16:", "t.yaml:11:40:"})
    EXPECT_NE(messages.find(std::string(at) + " error: template in arithmetic"), std::string::npos) << at << messages;
  EXPECT_NE(messages.find("t.yaml:12:13: error: template in a here-document's delimiter"), std::string::npos)
      << messages;
  EXPECT_EQ(messages.find("t.yaml:14:"), std::string::npos) << "number inputs, int(), == and ${V:-} are fine\n"
                                                           << messages;
}

TEST(ValidateTest, ASecretReachesACommandOnlyAsABareReference) {
  EXPECT_EQ(Check(R"Y(name: t
inputs: { token: { secret: true }, user: {} }
steps:
  - id: a
    name: "Login with {{ inputs.token }}"
    run: |
      login --token {{ inputs.token }} --user {{ inputs.user }}
      echo {{ inputs.token == 'x' }} "{{ startsWith(inputs.token, 'ab') }}"
    env: { TOKEN: "{{ inputs.token }}" }
  - { id: b, manual: "Paste {{ inputs.token }}" }
)Y").Messages(),
            "t.yaml:5:26: error: secret input 'token' cannot appear in a step's name: it would be shown in clear\n"
            "t.yaml:8:15: error: secret input 'token' may appear in a command only as {{ inputs.token }} "
            "(passed through $RUNBOOK_INPUT_TOKEN), not inside a larger expression\n"
            "t.yaml:8:53: error: secret input 'token' may appear in a command only as {{ inputs.token }} "
            "(passed through $RUNBOOK_INPUT_TOKEN), not inside a larger expression\n"
            "t.yaml:10:32: error: secret input 'token' cannot appear in manual text: it would be shown in clear\n");
}

TEST(ValidateTest, InputDefaultsAndEnumsFollowTheirOwnRules) {
  EXPECT_EQ(Check("name: t\ninputs:\n  e: { enum: [a, b], default: c }\n  n: { type: number, enum: [1, x] }\n"
                  "  p: { pattern: '[0-9]+', default: abc }\nsteps: [{ id: a, run: x }]\n")
                .Messages(),
            "t.yaml:3:3: error: default of input 'e': 'c' is not one of the allowed values: a, b\n"
            "t.yaml:4:3: error: enum value 'x' of input 'n': 'x' is not a number\n"
            "t.yaml:5:3: error: default of input 'p': 'abc' does not match the pattern [0-9]+\n");
}

TEST(ValidateTest, FinallyStepsFormTheirOwnGraph) {
  EXPECT_EQ(Check(WithSteps("  - { id: a, run: x }\nfinally:\n  - { id: f, run: x, needs: a }\n")).Messages(),
            "t.yaml:5:29: error: finally step 'f' cannot need 'a': finally steps form their own graph and run "
            "after all steps\n");
}

TEST(ValidateTest, WarnsWhenTheNameDiffersFromTheFileStem) {
  auto c = Check("name: other\nsteps: [{ id: a, run: x }]\n", "dir/disaster-recovery.yaml");
  EXPECT_FALSE(c.diags.HasErrors());
  EXPECT_EQ(c.Messages(),
            "dir/disaster-recovery.yaml:1:7: warning: runbook name 'other' differs from the file name "
            "'disaster-recovery'; `runbook run disaster-recovery` finds it by the file name\n");
}

TEST(ValidateTest, ReportsEveryErrorAtOnce) {
  auto c = Check(WithSteps("  - { id: a, run: x, timeout: soon }\n  - { id: b, run: x, needs: zz }\n  - { id: c }\n"));
  EXPECT_EQ(c.diags.ErrorCount(), 3);
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

// Hostile input is refused or handled in bounded work, never a crash or a
// hang (a hang here would be the ctest timeout).
TEST(BoundedTest, ABacktrackingPatternAndALongIdAreHandledInLinearWork) {
  // (a+)+$ against thirty a's and a '!' backtracked for minutes in std::regex.
  auto c = Check("name: t\ninputs:\n  x: { pattern: '(a+)+$', default: '" + std::string(30, 'a') +
                 "!' }\n  y: { pattern: '.**', default: x }\nsteps: [{ id: a, run: x }]\n");
  // .** hung std::regex on a 20-character default; RE2 refuses it at once.
  EXPECT_EQ(c.Messages(), "t.yaml:3:3: error: default of input 'x': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' does not match "
                          "the pattern (a+)+$\n"
                          "t.yaml:4:17: error: invalid regex '.**' for 'pattern' of input 'y': bad repetition "
                          "operator: **\n");
  // A 50 KB step id: one clear error, the id cut in the message.
  std::string id(50'000, 'a');
  c = Check("name: t\nsteps: [{ id: " + id + ", run: x }]\n");
  EXPECT_EQ(c.Messages(), "t.yaml:2:15: error: invalid step id '" + std::string(40, 'a') +
                              "... (50000 characters)': ids match ^[a-z0-9][a-z0-9_-]*$, at most 128 characters\n");
}

TEST(BoundedTest, MatchesAndOutputsRunWithoutBacktracking) {
  Expectation e;
  e.stdout_regex = "^(a+)+$";
  std::string out(5'000, 'a');
  out += "!";
  EXPECT_EQ(CheckExpectation(e, 0, out, "").value_or(""), "stdout does not match /^(a+)+$/");
  std::string group;
  EXPECT_TRUE(RegexSearch("^version=(\\d+)$", "x\nversion=42\ny", &group));  // ^ $ at line ends
  EXPECT_EQ(group, "42");
  EXPECT_TRUE(RegexSearch("b+", "abbbc", &group));
  EXPECT_EQ(group, "bbb");  // no group: the whole match
  EXPECT_FALSE(RegexFullMatch("[a-z]+", "abc\nrm -rf /"));  // a pattern holds for the whole value
  EXPECT_NE(RegexError("a{2000}").value_or(""), "");      // repeat counts are bounded, not a crash
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(BoundedTest, DeepExpressionsAreAnErrorNotAStackOverflow) {
  for (const std::string& deep : {Repeat("(", 5000) + "true" + Repeat(")", 5000), Repeat("!", 5000) + "true",
                                  Repeat("[", 5000) + Repeat("]", 5000), Repeat("true && ", 3000) + "true",
                                  Repeat("contains(", 3000) + "1, 2" + Repeat(")", 3000)}) {
    auto c = Check("name: t\nsteps:\n  - { id: a, run: x, when: \"" + deep + "\" }\n"
                   "  - { id: b, needs: a, run: \"echo {{ " + deep + " }}\" }\n");
    EXPECT_NE(c.Messages().find("t.yaml:3:"), std::string::npos) << deep.substr(0, 20) << c.Messages();
    EXPECT_NE(c.Messages().find("expression nested deeper than 100 levels"), std::string::npos)
        << deep.substr(0, 20) << c.Messages();
    EXPECT_NE(c.Messages().find("t.yaml:4:"), std::string::npos) << "in a template too: " << c.Messages();
  }
  // At the limit, fine.
  auto c = Check("name: t\nsteps:\n  - { id: a, run: x, when: \"" + Repeat("(", 90) + "true" + Repeat(")", 90) +
                 "\" }\n");
  EXPECT_EQ(c.Messages(), "");
}

TEST(BoundedTest, AnExpressionPrintedBackMeansTheSame) {
  for (const char* text : {"!(1 > 1)", "!(inputs.b == 1) || !inputs.c", "!(true && false)", "(1 == 1) == true"}) {
    auto first = ParseExpr(text, [](size_t) { return Pos{1, 1}; });
    ASSERT_TRUE(first.expr) << text;
    std::string printed = ToString(*first.expr);
    auto again = ParseExpr(printed, [](size_t) { return Pos{1, 1}; });
    ASSERT_TRUE(again.expr) << printed;
    EXPECT_EQ(ToString(*again.expr), printed) << text;
    EXPECT_EQ(again.expr->kind, first.expr->kind) << text << " printed as " << printed;
  }
  EXPECT_EQ(ToString(*ParseExpr("!(1>1)", [](size_t) { return Pos{1, 1}; }).expr), "!(1 > 1)");
}

TEST(BoundedTest, YamlNestingAliasesSizeAndStepCountHaveLimits) {
  auto deep_flow = Check("name: t\nsteps: " + Repeat("[", 20000) + Repeat("]", 20000) + "\n");
  EXPECT_EQ(deep_flow.Messages(), "t.yaml:2:72: error: nested more than 64 levels of [ and {\n");
  std::string indented = "name: t\nsteps:\n";
  for (int i = 0; i < 300; ++i) indented += std::string(2 * i, ' ') + "- \n";
  auto deep_block = Check(indented);
  EXPECT_NE(deep_block.Messages().find("error: indented more than 512 columns"), std::string::npos)
      << deep_block.Messages();
  // A billion laughs: each level nine uses of the one before.
  std::string laughs = "name: t\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 12; ++i) {
    laughs += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) laughs += (k ? ", *a" : "*a") + std::to_string(i - 1);
    laughs += "]\n";
  }
  laughs += "steps: [{ id: a, run: x }]\n";
  auto expanded = Check(laughs);
  EXPECT_NE(expanded.Messages().find("expands to more than 1000000 YAML nodes"), std::string::npos)
      << expanded.Messages().substr(0, 300);
  auto big = Check("name: t\n# " + std::string(5 << 20, 'x') + "\nsteps: [{ id: a, run: x }]\n");
  EXPECT_EQ(big.Messages(), "t.yaml:1:1: error: the file is 5242918 bytes; a runbook is at most 4 MiB\n");
  std::string many = "name: t\nsteps:\n";
  for (int i = 0; i <= 10000; ++i) many += "  - { id: s" + std::to_string(i) + ", run: x }\n";
  EXPECT_EQ(Check(many).Messages(), "t.yaml:3:3: error: 'steps' has 10001 steps; a runbook has at most 10000 (split "
                                    "it into runbooks that a runbook: step runs)\n");
  // Scripts with brackets and deep indentation in a block scalar are text, not nesting.
  std::string script = "name: t\nsteps:\n  - id: a\n    run: |\n";
  script += "      echo " + Repeat("[", 100) + "\n" + std::string(600, ' ') + "deeply indented text\n";
  EXPECT_EQ(Check(script).Messages(), "");
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

TEST(BoundedTest, DurationsBackoffsAndEstimatesCannotOverflow) {
  EXPECT_FALSE(ParseDuration("9999999999999999999s"));
  EXPECT_FALSE(ParseDuration("9999999999999999d"));
  EXPECT_FALSE(ParseDuration("4503599627370496d"));
  EXPECT_TRUE(ParseDuration("100000d"));
  auto c = Check("name: t\nsteps:\n  - { id: a, run: x, retry: { attempts: 3, backoff: .nan } }\n"
                 "  - { id: b, run: x, retry: { attempts: 3, backoff: .inf } }\n");
  EXPECT_EQ(c.Messages(), "t.yaml:3:53: error: 'backoff' of retry of step 'a' must be a number from 1.0 to 100\n"
                          "t.yaml:4:53: error: 'backoff' of retry of step 'b' must be a number from 1.0 to 100\n");
  RetryPolicy p;
  p.delay = Millis(1000);
  p.backoff = 100;
  p.max_delay = Millis(60'000);
  EXPECT_EQ(RetryDelay(p, 900).count(), 60'000);  // 100^898 is inf: capped, not undefined
  auto huge = Check("name: t\nsteps:\n  - { id: a, run: x, estimate: 100000d }\n  - { id: b, needs: a, run: x, "
                    "estimate: 100000d }\n  - { id: c, needs: b, run: x, estimate: 100000d }\n");
  StepGraph g(huge.runbook.steps);
  auto path = g.Critical([](const Step& s) { return s.estimate; });
  EXPECT_GT(path.total.count(), 0);  // three large estimates add up, and do not wrap negative
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

TEST(BoundedTest, ManyTyposAndTemplatesStayCheap) {
  // 10,000 typo'd needs against 10,000 ids: each reported, suggestions while
  // their budget lasts (a billion table cells otherwise).
  std::string typos = "name: t\nsteps:\n";
  for (int i = 0; i < 10000; ++i)
    typos += "  - { id: step-" + std::to_string(i) + ", run: x, needs: [stepp-" + std::to_string(i) + "] }\n";
  auto c = Check(typos);
  EXPECT_EQ(c.diags.ErrorCount(), 10000);
  EXPECT_NE(c.Messages().find("unknown step 'stepp-0'"), std::string::npos) << c.Messages().substr(0, 300);
  EXPECT_NE(c.Messages().find("(did you mean 'step-0'?)"), std::string::npos) << c.Messages().substr(0, 300);
  // A 20 KB typo gets no suggestion (and no 20 KB x N table).
  EXPECT_FALSE(Closest(std::string(20000, 'x'), {"a", "b"}));
  std::string many = "name: t\ninputs: { v: {} }\nsteps:\n  - id: a\n    run: |\n";
  for (int i = 0; i <= 1000; ++i) many += "      echo {{ inputs.v }}\n";
  EXPECT_NE(Check(many).Messages().find("t.yaml:1006:12: error: more than 1000 templates in one text"),
            std::string::npos);
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

// What an import (or a person's copy and paste) leaves in a script is
// pointed at, as warnings: the runbook still validates.
TEST(LintTest, APromptOrAPlaceholderLeftInAScriptIsAWarningAtItsPlace) {
  auto c = Check(R"Y(name: t
steps:
  - id: a
    run: |
      $ systemctl restart app
      root@db-1:~# psql -c 'select 1'
      cp <PROJECT>/config /etc/app
      cat <<EOF > out
      fine <(echo ok) $(<file) a<b
      EOF
  - { id: b, run: "$ ls", rollback: "deploy --to <ENVIRONMENT>" }
)Y");
  EXPECT_EQ(c.diags.ErrorCount(), 0) << c.Text();
  EXPECT_EQ(c.Messages(),
            "t.yaml:5:7: warning: this line starts with a shell prompt, which bash would run as a command: remove '$ '\n"
            "t.yaml:6:7: warning: this line starts with a shell prompt, which bash would run as a command: remove "
            "'root@db-1:~# '\n"
            "t.yaml:7:10: warning: '<PROJECT>' looks like a placeholder left in: bash reads it as a redirection from "
            "a file; make it an input ({{ inputs.NAME }})\n"
            "t.yaml:11:20: warning: this line starts with a shell prompt, which bash would run as a command: remove "
            "'$ '\n"
            "t.yaml:11:50: warning: '<ENVIRONMENT>' looks like a placeholder left in: bash reads it as a redirection "
            "from a file; make it an input ({{ inputs.NAME }})\n");
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

// Found by tests/fuzz/fuzz_import: the nesting check counted the braces of
// a plain scalar ("title: Rest {{{{...") as flow collections, so a draft
// whose title held many of them was refused.
TEST(ParserFuzzRegression, BracesInsideAPlainScalarAreNotNesting) {
  EXPECT_EQ(Check("name: t\ntitle: Rest " + std::string(100, '{') + " and " + std::string(100, '[') +
                  "\nsteps: [{ id: a, run: x }]\n")
                .Messages(),
            "");
  // ...nor after a '?' or '-' inside the scalar (found by the fuzzer too).
  EXPECT_EQ(Check("name: t\ntitle: Rest {{?" + std::string(100, '{') + " a-[" + std::string(100, '[') +
                  "\nsteps: [{ id: a, run: x }]\n")
                .Messages(),
            "");
  // "- - - -" on one line nests as deep as indentation would.
  std::string dashes;
  for (int i = 0; i < 5000; ++i) dashes += "- ";
  EXPECT_EQ(Check("name: t\nx:\n" + dashes + "x\nsteps: [{ id: a, run: x }]\n").Messages(),
            "t.yaml:3:1: error: nested more than 64 levels of '- ' on one line\n");
  // Where a value starts they are nesting, and deep nesting is still refused.
  EXPECT_NE(Check("name: t\nx: " + std::string(100, '[') + std::string(100, ']') + "\nsteps: [{ id: a, run: x }]\n")
                .Messages()
                .find("nested more than 64 levels"),
            std::string::npos);
}

TEST(ParserTest, NotifyEntriesAreCheckedBeforeAnythingRuns) {
  auto c = testing::Check(
      "name: t\nnotify:\n  - { on: [waiting, paged], run: x }\n  - { run: 'curl {{ inputs.url }}' }\n"
      "  - { on: failed }\n  - { on: succeeded, run: ok, timeout: 5s }\nsteps:\n  - { id: a, run: x }\n");
  std::string text = c.Text();
  EXPECT_NE(text.find("t.yaml:3:21: error: unknown event 'paged' in notify"), std::string::npos) << text;
  EXPECT_NE(text.find("t.yaml:4:12: error: a notify command takes no {{ }}"), std::string::npos) << text;
  EXPECT_NE(text.find("t.yaml:5:5: error: missing required key 'run' in notify entry"), std::string::npos) << text;
  ASSERT_EQ(c.runbook.notify.size(), 4u);
  EXPECT_EQ(c.runbook.notify[3].on, std::vector<std::string>{"succeeded"});
  EXPECT_EQ(*c.runbook.notify[3].timeout, Millis(5000));
  EXPECT_TRUE(c.runbook.notify[3].Wants("succeeded"));
  EXPECT_FALSE(c.runbook.notify[3].Wants("failed"));
}

}  // namespace
}  // namespace runbook
