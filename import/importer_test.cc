#include "engine/importer.h"

#include <gtest/gtest.h>

#include "engine/test_util.h"

namespace runbook {
namespace {

const char* kPage = R"MD(# Restore the database

## Purpose

Bring the database back after data loss.

## Prerequisites

```bash
test -d /backups
```

- Access to the primary

## Steps

Stop the application so nothing writes.

```bash
systemctl stop app
```

1. Tell the team in #incidents
2. [ ] Confirm the backup is recent

Restore the newest backup.

```sh
pg_restore -d app /backups/latest.dump
```

```sql
SELECT count(*) FROM users;
```

```bash
docker ps --format '{{.Names}}'
```

## Verification

```bash
curl -f http://localhost/health
```

## Rollback

```bash
systemctl start app
```

## Escalation

| Role | Contact |
|------|---------|
| DBA | #dba |

- CTO (after 1 hour)
)MD";

TEST(ImporterTest, TurnsEachConstructIntoItsPartOfARunbook) {
  ImportResult r = ImportMarkdown(kPage, "restore", "restore.md");
  auto c = testing::Check(r.yaml, "restore.yaml");
  ASSERT_FALSE(c.diags.HasErrors()) << c.Text() << r.yaml;
  const Runbook& rb = c.runbook;
  EXPECT_EQ(rb.title, "Restore the database");
  EXPECT_EQ(rb.purpose, "Bring the database back after data loss.");
  ASSERT_EQ(rb.preflight.size(), 1u);
  EXPECT_EQ(rb.preflight[0].run.raw, "test -d /backups\n");
  ASSERT_EQ(rb.escalation.size(), 2u);
  EXPECT_EQ(rb.escalation[0].contact, "DBA - #dba");
  EXPECT_EQ(rb.escalation[1].contact, "CTO (after 1 hour)");
  std::vector<std::string> ids;
  for (const auto& s : rb.steps) ids.push_back(s.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"access-to-the-primary", "stop-the-application-so-nothing-writes",
                                           "tell-the-team-in-incidents", "confirm-the-backup-is-recent",
                                           "restore-the-newest-backup", "steps", "steps-2"}));  // no text of
                                                                           // their own: named by the heading
  const Step& stop = rb.steps[1];
  EXPECT_EQ(stop.kind, StepKind::kRun);
  EXPECT_EQ(stop.run.raw, "systemctl stop app\n");
  EXPECT_EQ(stop.needs[0].value, "access-to-the-primary");  // order becomes needs
  EXPECT_EQ(rb.steps[2].kind, StepKind::kManual);
  const Step& restore = rb.steps[4];
  EXPECT_EQ(restore.run.raw, "pg_restore -d app /backups/latest.dump\n");
  ASSERT_EQ(restore.verify.size(), 1u);  // the Verification section
  EXPECT_EQ(restore.verify[0].run.raw, "curl -f http://localhost/health\n");
  ASSERT_TRUE(restore.rollback);  // the Rollback section
  EXPECT_EQ(restore.rollback->run.raw, "systemctl start app\n");
  EXPECT_EQ(rb.steps[5].kind, StepKind::kManual);  // SQL is for a person to run
  EXPECT_NE(rb.steps[5].manual.raw.find("```sql\nSELECT count(*) FROM users;\n```"), std::string::npos);
  EXPECT_EQ(rb.steps[6].kind, StepKind::kManual);  // {{ }} would be a template: shown, not run
  EXPECT_NE(r.yaml.find("docker ps --format '{{ '{{' }}.Names}}'"), std::string::npos) << r.yaml;
}

TEST(ImporterTest, SurvivesLatin1AndMojibake) {
  std::string page = "# Caf\xe9 runbook\n\n## \xc3\xb0\xc5\xb8\xe2\x80\x9c\xe2\x80\xb9 Daily\n\n- Check the caf\xe9 \x01 queue\n";
  ImportResult r = ImportMarkdown(page, "cafe", "cafe.md");
  auto c = testing::Check(r.yaml, "cafe.yaml");
  ASSERT_FALSE(c.diags.HasErrors()) << c.Text() << r.yaml;
  EXPECT_EQ(c.runbook.title, "Caf\xc3\xa9 runbook");
  EXPECT_EQ(c.runbook.steps[0].id, "check-the-caf-queue");
}

TEST(ImporterTest, APageWithNothingToDoStillValidates) {
  auto c = testing::Check(ImportMarkdown("# Notes\n\nJust prose.\n", "notes", "n.md").yaml, "notes.yaml");
  EXPECT_FALSE(c.diags.HasErrors()) << c.Text();
  EXPECT_EQ(c.runbook.steps.size(), 1u);
}

TEST(ImporterTest, NamesComeFromFileStems) {
  EXPECT_EQ(RunbookNameFrom("Disaster Recovery"), "disaster-recovery");
  EXPECT_EQ(RunbookNameFrom("RUNBOOK_ROLLBACK"), "runbook_rollback");
  EXPECT_EQ(RunbookNameFrom("--"), "imported");
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

// Found by tests/fuzz/fuzz_import: a block whose first line is indented
// more than the rest was written as `|` without an indentation indicator,
// and the draft did not load.
TEST(ImporterFuzzRegression, ABlockWhoseFirstLineIsIndentedStillLoads) {
  auto r = ImportMarkdown("# Restart\n\n## Check\n\n```sh\n   indented first\nnot indented\n```\n", "restart", "r.md");
  ASSERT_FALSE(r.error);
  Diagnostics diags;
  Runbook rb = ParseRunbook(SourceFile("restart.yaml", r.yaml), &diags);
  ValidateRunbook(rb, &diags);
  EXPECT_FALSE(diags.HasErrors()) << r.yaml;
  ASSERT_EQ(rb.steps.size(), 1u);
  EXPECT_EQ(rb.steps[0].run.raw.rfind("   indented first\nnot indented", 0), 0u) << rb.steps[0].run.raw;
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

// Issue 14, item 1 in part: a transcript runs only its prompted lines,
// without the prompts; the output it shows goes to the description; a
// console block with no prompt is output, for a person to read.
TEST(ImporterTranscriptTest, PromptsAreStrippedAndOutputIsNotRun) {
  auto r = ImportMarkdown(
      "# Restart\n\n## Drain the node\n\n```console\n$ kubectl drain node-1 \\\n    --ignore-daemonsets\n"
      "node/node-1 cordoned\nroot@bastion:~# systemctl restart kubelet\n```\n\n"
      "## What you see\n\n```console\n1 drain_controller.go:173] node-1: initiating drain\n```\n",
      "restart", "r.md");
  ASSERT_FALSE(r.error);
  Diagnostics diags;
  Runbook rb = ParseRunbook(SourceFile("restart.yaml", r.yaml), &diags);
  ValidateRunbook(rb, &diags);
  ASSERT_FALSE(diags.HasErrors()) << r.yaml;
  ASSERT_EQ(rb.steps.size(), 2u) << r.yaml;
  EXPECT_EQ(rb.steps[0].run.raw, "kubectl drain node-1 \\\n    --ignore-daemonsets\nsystemctl restart kubelet\n");
  EXPECT_NE(rb.steps[0].description.find("Output shown on the page:\nnode/node-1 cordoned"), std::string::npos)
      << rb.steps[0].description;
  EXPECT_EQ(rb.steps[1].kind, StepKind::kManual) << r.yaml;  // a log line is not a command
  EXPECT_NE(rb.steps[1].manual.raw.find("drain_controller.go:173]"), std::string::npos);
  EXPECT_EQ(diags.items().size(), 0u) << "no prompt left for validate to warn of";
}

}  // namespace
}  // namespace runbook
