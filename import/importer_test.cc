// `runbook import`, issue 14's items one by one, on small pages. The real
// bash answers the syntax checks (steps/bash_syntax.h); the drafts are
// parsed and validated as any runbook file.
#include "import/importer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "engine/test_util.h"
#include "steps/bash_syntax.h"

namespace runbook {
namespace {

struct Draft {
  ImportResult result;
  testing::Checked checked;
  const Runbook& rb() const { return checked.runbook; }
  const Step& step(const std::string& id) const {
    const Step* s = checked.runbook.FindStep(id);
    if (!s) throw std::runtime_error("no step " + id + " in\n" + result.yaml);
    return *s;
  }
  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (const auto& s : checked.runbook.steps) out.push_back(s.id);
    return out;
  }
};

Draft Import(const std::string& page, const std::string& name = "page") {
  BashSyntax bash;
  Draft d;
  d.result = ImportMarkdown(page, name, name + ".md", &bash);
  d.checked = testing::Check(d.result.yaml, name + ".yaml");
  return d;
}

#define EXPECT_VALID(d) \
  ASSERT_FALSE((d).result.error) << *(d).result.error; \
  ASSERT_FALSE((d).checked.diags.HasErrors()) << (d).checked.Text() << (d).result.yaml

std::vector<std::string> Needs(const Step& s) {
  std::vector<std::string> out;
  for (const auto& n : s.needs) out.push_back(n.value);
  return out;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- 1. only commands run ----

TEST(ImportCommandsTest, OnlyCommandsRunAndTheRestIsShownWithALeadThatFits) {
  Draft d = Import(R"MD(# Restart

## Drain

```console
$ kubectl drain node-1 \
    --ignore-daemonsets
node/node-1 cordoned
root@bastion:~# systemctl restart kubelet
```

A healthy drain logs:

```
I0412 10:31:02.123456   1 drain_controller.go:173] node-1: initiating drain
```

Check the rows:

```psql
orders=# SELECT count(*) FROM orders;
```

The config:

```ruby
Rails.application.configure { config.x = 1 }
```

Broken on the page:

```bash
echo "never closed
```

```
systemctl status kubelet
```
)MD");
  EXPECT_VALID(d);
  const auto& steps = d.rb().steps;
  ASSERT_EQ(steps.size(), 6u) << d.result.yaml;
  EXPECT_EQ(steps[0].kind, StepKind::kRun);
  EXPECT_EQ(steps[0].run.raw, "kubectl drain node-1 \\\n    --ignore-daemonsets\nsystemctl restart kubelet\n");
  EXPECT_TRUE(Contains(steps[0].description, "Output shown on the page:\n\n```\nnode/node-1 cordoned\n```"))
      << steps[0].description;
  EXPECT_EQ(steps[1].kind, StepKind::kManual);  // a log line
  EXPECT_TRUE(Contains(steps[1].manual.raw, "Shown on the page (not a command):\n\n```\nI0412"));
  EXPECT_EQ(steps[2].kind, StepKind::kManual);
  EXPECT_TRUE(Contains(steps[2].manual.raw, "Run in psql:\n\n```psql\norders=# SELECT"));
  EXPECT_EQ(steps[3].kind, StepKind::kManual);
  EXPECT_TRUE(Contains(steps[3].manual.raw, "Code (ruby) shown on the page, not shell"));
  EXPECT_EQ(steps[4].kind, StepKind::kManual);  // does not parse: shown, with bash's words
  EXPECT_TRUE(Contains(steps[4].manual.raw, "does not parse as shell (bash -n, line 1: unexpected EOF"))
      << steps[4].manual.raw;
  EXPECT_TRUE(Contains(steps[4].manual.raw, "```bash\necho \"never closed\n```"));
  EXPECT_EQ(steps[5].kind, StepKind::kRun);  // untagged, but a command
  EXPECT_EQ(d.result.degraded.size(), 1u);
  EXPECT_EQ(d.checked.diags.items().size(), 0u) << d.checked.Text();  // no prompt or placeholder left
}

TEST(ImportCommandsTest, EveryRunScriptOfEveryDraftParses) {
  // A page of hostile blocks: whatever becomes a run step passes bash -n.
  std::string page = "# Hostile\n\n";
  for (const char* code : {"echo 'a", "fi", "$ echo ok\n$ echo 'no", "cat <<EOF\nx", "((", "`", "echo $(",
                           "kubectl get <x", "case x in", "ls ]] [[", "do done", "echo ok"})
    page += std::string("## Step\n\n```bash\n") + code + "\n```\n\n";
  Draft d = Import(page);
  EXPECT_VALID(d);
  BashSyntax bash;
  std::vector<std::string> scripts;
  int runs = 0;
  for (const auto& s : d.rb().steps)
    if (s.kind == StepKind::kRun) {
      scripts.push_back(ShellTextForCheck(s.run));
      ++runs;
    }
  for (const auto& r : bash.Check(scripts)) EXPECT_FALSE(r) << r->message;
  EXPECT_GE(runs, 2);
  EXPECT_LE(runs, 4) << d.result.yaml;
}

// ---- 2. alternatives become decisions ----

TEST(ImportAlternativesTest, IfOtherwiseBecomesADecisionWithABranchEach) {
  Draft d = Import(R"MD(# Drain

## Unblock the drain

If a PodDisruptionBudget blocks the drain, patch it:

```bash
kubectl patch pdb web --type merge -p '{"spec":{"maxUnavailable":1}}'
```

Otherwise, if you accept data loss, force-delete the pod:

```bash
kubectl delete pod web-0 --grace-period=0 --force
```

Then uncordon the node:

```bash
kubectl uncordon node-1
```
)MD");
  EXPECT_VALID(d);
  ASSERT_EQ(d.rb().steps.size(), 4u) << d.result.yaml;
  const Step& decide = d.rb().steps[0];
  ASSERT_EQ(decide.kind, StepKind::kDecision);
  ASSERT_TRUE(decide.decision.prompt);
  EXPECT_TRUE(Contains(decide.decision.prompt->raw, "Which of these applies?"));
  ASSERT_EQ(decide.decision.choices.size(), 3u);  // and "none": an alternative is never forced
  EXPECT_EQ(decide.decision.choices[2].value, "none");
  EXPECT_TRUE(decide.decision.choices[2].go_to.empty());
  const Step& patch = d.rb().steps[1];
  const Step& force = d.rb().steps[2];
  EXPECT_EQ(decide.decision.choices[0].go_to[0].value, patch.id);
  EXPECT_EQ(decide.decision.choices[1].value, "otherwise");
  EXPECT_EQ(decide.decision.choices[1].go_to[0].value, force.id);
  // never chained: each alternative needs only the decision
  EXPECT_EQ(Needs(patch), (std::vector<std::string>{decide.id}));
  EXPECT_EQ(Needs(force), (std::vector<std::string>{decide.id}));
  EXPECT_EQ(force.run.raw, "kubectl delete pod web-0 --grace-period=0 --force\n");
  // what follows joins the branches
  EXPECT_EQ(Needs(d.rb().steps[3]), (std::vector<std::string>{decide.id, patch.id, force.id}));
}

TEST(ImportAlternativesTest, OptionHeadingsAreBranchesAndALoneIfIsAYesNoQuestion) {
  Draft d = Import(R"MD(# Roll back

## Choose how

### Option A: Helm

```bash
helm rollback web 41
```

### Option B: the previous image

```bash
kubectl set image deploy/web web=web:1.2.3
```

## Afterwards

- If the change had a migration, do not revert it: write a forward fix.
- Tell #releases.
)MD");
  EXPECT_VALID(d);
  const Step& choose = d.rb().steps[0];
  ASSERT_EQ(choose.kind, StepKind::kDecision) << d.result.yaml;
  ASSERT_EQ(choose.decision.choices.size(), 2u);
  EXPECT_EQ(choose.decision.choices[0].value, "option-a-helm");
  const Step& a = d.step(choose.decision.choices[0].go_to[0].value);
  const Step& b = d.step(choose.decision.choices[1].go_to[0].value);
  EXPECT_EQ(a.run.raw, "helm rollback web 41\n");
  EXPECT_EQ(b.run.raw, "kubectl set image deploy/web web=web:1.2.3\n");
  EXPECT_EQ(Needs(b), (std::vector<std::string>{choose.id}));
  // "If the change had a migration": a decision of its own, yes or no
  const Step* lone = nullptr;
  for (const auto& s : d.rb().steps)
    if (s.kind == StepKind::kDecision && s.id != choose.id) lone = &s;
  ASSERT_NE(lone, nullptr) << d.result.yaml;
  ASSERT_EQ(lone->decision.choices.size(), 2u);
  EXPECT_EQ(lone->decision.choices[0].value, "yes");
  EXPECT_EQ(lone->decision.choices[1].value, "no");
  EXPECT_TRUE(lone->decision.choices[1].go_to.empty());
}

// A card of separate commands in one block (backup / restore / list) is a
// choice, never a sequence that backs up, restores and cleans up in turn.
TEST(ImportAlternativesTest, ACardOfCommandsInOneBlockIsAChoice) {
  Draft d = Import(R"MD(# Ops

## Database

### Backups

```bash
# Manual backup
./scripts/backup.sh

# Restore from latest
./scripts/restore.sh latest

# Cleanup old backups (keep 10)
./scripts/cleanup.sh 10
```

## Deploy

### Build and ship

```bash
# build, then ship
make build
make ship
```
)MD");
  EXPECT_VALID(d);
  ASSERT_EQ(d.rb().steps[0].kind, StepKind::kDecision);  // Database or Deploy: an index of procedures
  const Step& choose = d.rb().steps[1];
  ASSERT_EQ(choose.kind, StepKind::kDecision) << d.result.yaml;
  ASSERT_EQ(choose.decision.choices.size(), 4u);
  EXPECT_EQ(choose.decision.choices[1].value, "restore-from-latest");
  const Step& restore = d.step(choose.decision.choices[1].go_to[0].value);
  EXPECT_EQ(restore.run.raw, "# Restore from latest\n./scripts/restore.sh latest\n");
  EXPECT_EQ(Needs(restore), (std::vector<std::string>{choose.id}));
  EXPECT_EQ(choose.decision.choices[3].value, "none");
  EXPECT_TRUE(Contains(choose.description, "./scripts/cleanup.sh 10"));  // the block as the page shows it
  const Step& deploy = d.rb().steps.back();  // one group: a script, in order
  EXPECT_EQ(deploy.run.raw, "# build, then ship\nmake build\nmake ship\n");
  // In a runbook (one procedure), commented groups are its sequence: one script, as the page wrote it.
  Draft one = Import("# Restore\n\n## Restore\n\n```bash\n# stop\nsystemctl stop app\n\n# restore\n"
                     "pg_restore -d app x.dump\n```\n");
  EXPECT_VALID(one);
  ASSERT_EQ(one.rb().steps.size(), 1u);
  EXPECT_EQ(one.rb().steps[0].run.raw, "# stop\nsystemctl stop app\n\n# restore\npg_restore -d app x.dump\n");
}

TEST(ImportAlternativesTest, TasksThePageSaysRunInParallelDoNotWaitForEachOther) {
  Draft d = Import(R"MD(# Contain

## Phase 2: Contain

These tasks can run in parallel, one person each:

- Revoke the leaked credentials.
- Isolate the affected hosts.
- Snapshot the disks.

## Phase 3: Eradicate

- Remove the attacker's access.
)MD");
  EXPECT_VALID(d);
  ASSERT_EQ(d.rb().steps.size(), 4u) << d.result.yaml;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(d.rb().steps[i].needs.empty()) << d.rb().steps[i].id;
  EXPECT_EQ(Needs(d.rb().steps[3]).size(), 3u);
}

// ---- 3. nothing dropped ----

TEST(ImportKeepsTest, ParentsBeforeChildrenInlineCodeLinksTitleAdmonitionsAndTables) {
  Draft d = Import(R"MD(---
title: Rotate the token
owner: payments-sre
---
# rotate-token

!!! warning "Two tokens at most"
    Revoke the older one first.

## Steps

1. Create the token in the [portal](https://portal.example/tokens).
   - Name it after the date, e.g. `prod-2024-09-02`.
2. Store it.

| Env | Vault path |
|-----|------------|
| prod | secret/prod |
)MD");
  EXPECT_VALID(d);
  EXPECT_EQ(d.rb().title, "Rotate the token");
  EXPECT_EQ(d.rb().owner, "payments-sre");
  EXPECT_TRUE(Contains(d.rb().description, "**Warning: Two tokens at most**\n\nRevoke the older one first."))
      << d.rb().description;
  EXPECT_TRUE(Contains(d.rb().description, "# rotate-token"));
  ASSERT_EQ(d.rb().steps.size(), 3u) << d.result.yaml;
  EXPECT_EQ(d.rb().steps[0].manual.raw, "Create the token in the [portal](https://portal.example/tokens).\n");
  EXPECT_EQ(d.rb().steps[1].manual.raw, "Name it after the date, e.g. `prod-2024-09-02`.\n");  // after its parent
  EXPECT_TRUE(Contains(d.rb().steps[2].description, "| prod | secret/prod |")) << d.rb().steps[2].description;
  EXPECT_EQ(d.result.yaml.rfind("# Imported from page.md by `runbook import`: a draft.", 0), 0u);
}

// ---- 4. sections by the heading tree ----

TEST(ImportSectionsTest, RolesHoldForSubsectionsAndRollbackAttachesToWhatItUndoes) {
  Draft d = Import(R"MD(# Restore

## Recovery objectives

| Target | Value |
|--------|-------|
| RTO | 1 hour |
| RPO | 15 minutes |

## Pre-requisites

### Access

- A Vault token with write access

### Tools

- psql 15 or later

```bash
command -v psql
```

## Stop the app

```bash
systemctl stop app
```

## Restore

```bash
pg_restore -d app /backups/latest.dump
```

## Post-checks

```bash
curl -f http://localhost/health
```

## Revert

```bash
systemctl start app
```

Tell the DBA on call that the restore was reverted.

## KPIs

- Uptime: > 99.9%

## Who to page

| Role | Contact |
|------|---------|
| DBA | #dba (after 15 minutes) |
)MD");
  EXPECT_VALID(d);
  EXPECT_EQ(d.rb().rto, std::optional<Millis>(std::chrono::hours(1)));
  EXPECT_EQ(d.rb().rpo, std::optional<Millis>(std::chrono::minutes(15)));
  ASSERT_EQ(d.rb().preflight.size(), 1u);
  EXPECT_EQ(d.rb().preflight[0].run.raw, "command -v psql\n");
  std::vector<std::string> ids = d.ids();
  ASSERT_EQ(ids.size(), 5u) << d.result.yaml;
  EXPECT_EQ(d.rb().steps[0].checklist, (std::vector<std::string>{"A Vault token with write access"}));
  EXPECT_EQ(d.rb().steps[1].checklist, (std::vector<std::string>{"psql 15 or later"}));  // Tools: still prerequisites
  const Step& stop = d.rb().steps[2];
  EXPECT_EQ(stop.run.raw, "systemctl stop app\n");
  ASSERT_TRUE(stop.rollback);  // the procedure's first command step: a failure anywhere undoes it
  EXPECT_EQ(stop.rollback->run.raw, "systemctl start app\n");
  EXPECT_EQ(d.rb().steps[4].run.raw, "curl -f http://localhost/health\n");  // after what it verifies
  EXPECT_EQ(Needs(d.rb().steps[4]), (std::vector<std::string>{d.rb().steps[3].id}));
  ASSERT_EQ(d.rb().finally.size(), 1u);  // the prose of the rollback: a person does it
  const Step& by_hand = d.rb().finally[0];
  EXPECT_EQ(by_hand.kind, StepKind::kManual);
  EXPECT_TRUE(Contains(by_hand.manual.raw, "Tell the DBA on call that the restore was reverted."));
  ASSERT_TRUE(by_hand.when);
  ASSERT_EQ(d.rb().escalation.size(), 1u);
  EXPECT_EQ(d.rb().escalation[0].contact, "DBA, Contact: #dba (after 15 minutes)");
  EXPECT_EQ(d.rb().escalation[0].after, std::optional<Millis>(std::chrono::minutes(15)));
  EXPECT_TRUE(Contains(d.rb().description, "Uptime: \\> 99.9%") || Contains(d.rb().description, "Uptime: > 99.9%"))
      << d.rb().description;  // KPIs: the description, not a step
}

// A rollback undoes the first step that changes something, not a look
// before it; one the page gives under a condition is for a person.
TEST(ImportSectionsTest, RollbackUndoesTheFirstChangeAndAConditionalOneIsForAPerson) {
  Draft d = Import(R"MD(# Upgrade

## Look first

```bash
helm -n web history web --max 5
kubectl -n web get pods
```

## Upgrade

```bash
helm -n web upgrade web ./chart
```

## Roll back

```bash
helm -n web rollback web 0
```

## Back out

If the rollback itself made things worse, go forward again:

```bash
helm -n web rollback web 42
```
)MD");
  EXPECT_VALID(d);
  ASSERT_EQ(d.rb().steps.size(), 2u) << d.result.yaml;
  EXPECT_FALSE(d.rb().steps[0].rollback) << d.result.yaml;  // read-only: nothing to undo
  ASSERT_TRUE(d.rb().steps[1].rollback);
  EXPECT_EQ(d.rb().steps[1].rollback->run.raw, "helm -n web rollback web 0\n");
  ASSERT_EQ(d.rb().finally.size(), 1u);
  EXPECT_EQ(d.rb().finally[0].kind, StepKind::kManual);
  EXPECT_TRUE(Contains(d.rb().finally[0].manual.raw, "helm -n web rollback web 42"));
  EXPECT_EQ(d.rb().finally[0].DisplayName(), "Back out, by hand");
}

TEST(ImportSectionsTest, CommonSpellingsOfEachRole) {
  struct Case {
    const char* heading;
    bool preflight, rollback, contact, step;
  };
  for (const Case& c : std::vector<Case>{{"Before you begin", true, false, false, false},
                                         {"Pre-requisite", true, false, false, false},
                                         {"Back out", false, true, false, false},
                                         {"Undo", false, true, false, false},
                                         {"Fallback", false, true, false, false},
                                         {"Contacts", false, false, true, false},
                                         {"Who to page", false, false, true, false},
                                         {"Validation", false, false, false, true},
                                         {"Post-checks", false, false, false, true}}) {
    Draft d = Import(std::string("# P\n\n## Do it\n\n```bash\nmake deploy\n```\n\n## ") + c.heading +
                     "\n\n- Alice (#ops)\n\n```bash\nmake check\n```\n");
    EXPECT_VALID(d);
    EXPECT_EQ(!d.rb().preflight.empty(), c.preflight) << c.heading << "\n" << d.result.yaml;
    EXPECT_EQ(d.rb().steps[0].rollback.has_value() || (d.rb().steps.size() > 1 && d.rb().steps[1].rollback.has_value()),
              c.rollback)
        << c.heading << "\n" << d.result.yaml;
    EXPECT_EQ(!d.rb().escalation.empty(), c.contact) << c.heading << "\n" << d.result.yaml;
    if (c.step) {
      EXPECT_EQ(d.rb().steps.back().run.raw, "make check\n") << c.heading;
      EXPECT_EQ(Needs(d.rb().steps.back()).size(), 1u);
    }
  }
}

// ---- 5. placeholders become inputs; a checklist is one step ----

TEST(ImportInputsTest, PlaceholdersAndUnsetVariablesBecomeRequiredInputs) {
  Draft d = Import(R"MD(# Restore

## Restore

```bash
psql -h [rds-hostname] -d <DB_NAME> -c 'select 1'
wal-g backup-fetch /data {backup_id}
kubectl exec "$CONTROLLERPOD" -- ls
curl -H "Authorization: Bearer <API_TOKEN>" https://api.example/v1/ping
```

## Sign-off

- [ ] Backups verified
- [x] Ticket updated
)MD");
  EXPECT_VALID(d);
  std::vector<std::string> names;
  for (const auto& in : d.rb().inputs) {
    names.push_back(in.name);
    EXPECT_TRUE(in.required) << in.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"api_token", "backup_id", "controllerpod", "db_name", "rds_hostname"}));
  EXPECT_TRUE(d.rb().FindInput("api_token")->secret);  // a token is never stored or shown in clear
  EXPECT_FALSE(d.rb().FindInput("db_name")->secret);
  const Step& restore = d.rb().steps[0];
  EXPECT_EQ(restore.run.raw,
            "psql -h {{ inputs.rds_hostname }} -d {{ inputs.db_name }} -c 'select 1'\n"
            "wal-g backup-fetch /data {{ inputs.backup_id }}\nkubectl exec \"$CONTROLLERPOD\" -- ls\n"
            "curl -H \"Authorization: Bearer {{ inputs.api_token }}\" https://api.example/v1/ping\n");
  ASSERT_EQ(d.rb().env.size(), 1u);
  EXPECT_EQ(d.rb().env[0].name, "CONTROLLERPOD");
  EXPECT_EQ(d.rb().env[0].value.raw, "{{ inputs.controllerpod }}");
  ASSERT_EQ(d.rb().steps.size(), 2u);
  EXPECT_EQ(d.rb().steps[1].checklist, (std::vector<std::string>{"Backups verified", "Ticket updated"}));
}

// ---- 6. always a draft ----

TEST(ImportAlwaysTest, OddBytesAndIndentationStillMakeADraftThatLoads) {
  std::string page =
      "# Caf\xe9 \xc3\xb0\xc5\xb8\xc5\xa1\xc2\xa8 runbook\r\n\r\n## Steps   \r\n\r\n```bash\r\n    indented first\r\n"
      "echo tab\there   \r\n\techo tabbed\r\n```\r\n\r\n- trailing   \r\n- \x01control\x7f\r\n";
  Draft d = Import(page);
  EXPECT_VALID(d);
  EXPECT_EQ(d.rb().title, "Caf\xc3\xa9 \xc3\xb0\xc5\xb8\xc5\xa1\xc2\xa8 runbook");  // Latin-1 read as such; valid UTF-8 kept
  ASSERT_GE(d.rb().steps.size(), 1u);
  EXPECT_EQ(d.rb().steps[0].run.raw, "    indented first\necho tab\there   \n\techo tabbed\n");
}

TEST(ImportAlwaysTest, APageWithNothingToDoStillValidates) {
  Draft d = Import("# Notes\n\nJust prose.\n");
  EXPECT_VALID(d);
  EXPECT_EQ(d.rb().steps.size(), 1u);
  EXPECT_EQ(d.rb().description, "Just prose.\n");
}

TEST(ImportAlwaysTest, DoubleBracesInACommandAreEscapedNotTemplates) {
  Draft d = Import("# D\n\n## List\n\n```bash\ndocker ps --format '{{.Names}}'\n```\n");
  EXPECT_VALID(d);
  EXPECT_EQ(d.rb().steps[0].kind, StepKind::kRun);
  EXPECT_EQ(d.rb().steps[0].run.raw, "docker ps --format ''{{ '{{' }}'.Names}}'\n");
}

TEST(ImportAlwaysTest, NamesComeFromFileStems) {
  EXPECT_EQ(RunbookNameFrom("Disaster Recovery"), "disaster-recovery");
  EXPECT_EQ(RunbookNameFrom("RUNBOOK_ROLLBACK"), "runbook_rollback");
  EXPECT_EQ(RunbookNameFrom("--"), "imported");
}

}  // namespace
}  // namespace runbook
