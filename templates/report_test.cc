// The report and the post-mortem draft over recorded runs. The runs are made
// by the real executor over a fake clock and a scripted runner, so every
// time, id and output is fixed and the documents can be compared with golden
// files (tests/golden/; UPDATE_GOLDEN=1 rewrites them). Every document is
// also parsed as GitHub-flavoured Markdown: its tables must survive whole.
#include "templates/report.h"

#include <gtest/gtest.h>

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/executor.h"
#include "engine/memory_store.h"
#include "engine/test_util.h"
#include "tests/fakes.h"

namespace runbook {
namespace {

using testing::FakeCommand;

const char* kRunbook = R"Y(name: restore-db
title: Restore the primary database
severity: SEV-1
owner: platform-team
targets: { rto: 30m, rpo: 1h }
escalation:
  - { contact: "On-call DBA (#dba)", when: failure }
inputs:
  environment: { default: staging }
  token: { secret: true }
steps:
  - { id: check, name: Check health, run: check-health, on_failure: continue, estimate: 10s }
  - id: assess
    needs: check
    decision:
      prompt: Restore from backup?
      choices:
        - { value: restore, when: "steps.check.exit_code != 0", goto: [restore] }
        - { value: skip, goto: [stand-down] }
  - { id: stand-down, manual: Nothing to do. }
  - id: restore
    name: Restore | the newest backup
    run: restore-backup "{{ inputs.token }}"
    retry: { attempts: 2, delay: 30s }
    estimate: 5m
    rollback: undo-restore
    outputs: { data_age: { regex: "age=([0-9a-z]+)" } }
    verify: { name: integrity, run: verify-integrity, expect: { stdout: "^ok$" } }
  - { id: notify, needs: [restore, stand-down], run: notify-team }
finally:
  - { id: cleanup, run: cleanup }
)Y";

class ReportTest : public ::testing::Test {
 protected:
  ReportTest() : runner_(&clock_) { checked_ = testing::Check(kRunbook); }

  RunOutcome Run(std::map<std::string, std::string> answers = {}, std::optional<ResumeState> resume = {}) {
    ExecOptions o;
    o.run_id = "20270115-080000-abcd";
    o.workdir = "/srv/ops";
    o.user = "alice";
    o.host = "ops-1";
    o.tmp_dir = "/tmp";
    o.jobs = 2;
    o.source_sha256 = "0123456789abcdef";
    o.inputs = {{"environment", "production"}, {"token", "s3cr3t-t0ken"}};
    o.answers = answers;
    o.interrupt = &interrupt_;
    if (resume) {
      o.resume = resume;
      o.run_exists = true;
    }
    return Executor(checked_.runbook, o, &store_, &runner_, &clock_, &reporter_, &asker_).Run();
  }

  ReportInput Input() {
    ReportInput in;
    in.runbook = &checked_.runbook;
    in.run = store_.runs.begin()->second;
    in.steps = store_.steps[in.run.id];
    in.attempts = store_.attempts[in.run.id];
    in.decisions = store_.decisions[in.run.id];
    in.events = *store_.GetEvents(in.run.id);
    in.report_path = ".runbook/reports/" + in.run.id + ".md";
    in.now_ms = clock_.WallMs();
    return in;
  }

  // Compares both documents with tests/golden/NAME.{report,postmortem}.md.
  void Golden(const std::string& name) {
    for (auto kind : {ReportKind::kReport, ReportKind::kPostmortem}) {
      auto text = RenderReport(kind, Input());
      ASSERT_TRUE(text.ok()) << text.status().message();
      CheckGfm(*text);
      EXPECT_EQ(text->find("s3cr3t-t0ken"), std::string::npos) << "a secret leaked into " << name;
      std::string file = std::string(RUNBOOK_SOURCE_DIR) + "/tests/golden/" + name +
                         (kind == ReportKind::kReport ? ".report.md" : ".postmortem.md");
      if (std::getenv("UPDATE_GOLDEN")) {
        std::ofstream(file) << *text;
        continue;
      }
      std::ifstream in(file);
      std::stringstream want;
      want << in.rdbuf();
      EXPECT_EQ(*text, want.str()) << "differs from " << file << " (UPDATE_GOLDEN=1 rewrites it)";
    }
  }

  // Every table in `text` parses as a GFM table with all its rows and cells.
  static void CheckGfm(const std::string& text) {
    cmark_gfm_core_extensions_ensure_registered();
    cmark_parser* parser = cmark_parser_new(CMARK_OPT_DEFAULT);
    cmark_parser_attach_syntax_extension(parser, cmark_find_syntax_extension("table"));
    cmark_parser_feed(parser, text.data(), text.size());
    cmark_node* doc = cmark_parser_finish(parser);
    int tables = 0, rows = 0;
    cmark_iter* it = cmark_iter_new(doc);
    for (cmark_event_type ev; (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE;) {
      cmark_node* n = cmark_iter_get_node(it);
      if (ev != CMARK_EVENT_ENTER) continue;
      std::string type = cmark_node_get_type_string(n);
      if (type == "table") ++tables;
      if (type == "table_row" || type == "table_header") ++rows;
    }
    cmark_iter_free(it);
    cmark_node_free(doc);
    cmark_parser_free(parser);
    // Markdown tables in the text: their separator lines and their rows.
    int separators = 0, table_lines = 0;
    std::istringstream lines(text);
    bool in_fence = false;
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("```", 0) == 0) in_fence = !in_fence;
      if (in_fence || line.empty() || line[0] != '|') continue;
      if (line.rfind("|---", 0) == 0) ++separators;
      else ++table_lines;
    }
    EXPECT_EQ(tables, separators) << "a table did not parse as GFM:\n" << text;
    EXPECT_EQ(rows, table_lines) << "a table lost rows:\n" << text;
  }

  volatile std::sig_atomic_t interrupt_ = 0;  // a Ctrl-C, set by a runner hook
  testing::FakeClock clock_;
  testing::FakeRunner runner_;
  MemoryStore store_;
  testing::RecordingReporter reporter_;
  testing::ScriptedAsker asker_;
  testing::Checked checked_;
};

TEST_F(ReportTest, ASuccessfulRecovery) {
  runner_.script = {FakeCommand::Of("check-health").Exit(7).Takes(2'000).Prints("connection refused\n"),
                    FakeCommand::Of("restore-backup").Takes(240'000).Prints("restored, age=40m\n"),
                    FakeCommand::Of("verify-integrity").Takes(5'000).Prints("ok\n"),
                    FakeCommand::Of("").Takes(1'000)};
  ASSERT_EQ(Run().status, RunStatus::kSucceeded);
  Golden("success");
}

TEST_F(ReportTest, AFailureRolledBack) {
  runner_.script = {FakeCommand::Of("check-health").Exit(7).Takes(2'000),
                    FakeCommand::Of("restore-backup").Exit(3).Takes(60'000).Prints("error: backup corrupt\n"),
                    FakeCommand::Of("").Takes(1'000)};
  ASSERT_EQ(Run().status, RunStatus::kRolledBack);
  Golden("rollback");
}

TEST_F(ReportTest, AWaitingRun) {
  runner_.script = {FakeCommand::Of("").Takes(1'000)};
  ASSERT_EQ(Run().status, RunStatus::kWaiting);  // the checks passed: a person must choose
  Golden("waiting");
}

TEST_F(ReportTest, AnInterruptedRunResumed) {
  runner_.script = {FakeCommand::Of("check-health").Exit(7).Takes(2'000),
                    FakeCommand::Of("restore-backup").Exit(1).Takes(10'000).Times(2),
                    FakeCommand::Of("restore-backup").Takes(100'000).Prints("age=20m\n"),
                    FakeCommand::Of("verify-integrity").Prints("ok\n"), FakeCommand::Of("").Takes(1'000)};
  checked_ = testing::Check(std::string(kRunbook).replace(std::string(kRunbook).find("steps:"), 6,
                                                          "on_failure: stop\nsteps:"));
  ASSERT_EQ(Run().status, RunStatus::kFailed);
  clock_.now += 15 * 60'000;  // someone looks into it, then resumes
  ResumeState st;
  st.run = store_.runs.begin()->second;
  st.steps = store_.steps[st.run.id];
  st.decisions = store_.decisions[st.run.id];
  st.attempts = store_.attempts[st.run.id];
  ASSERT_EQ(Run({}, st).status, RunStatus::kSucceeded);
  Golden("resumed");
}

// A person overrides the decision's rule, the run is interrupted (Ctrl-C)
// during a step and resumed later: the timeline says so, the override shows
// with what the rule chose, and the interrupted attempt is no retry.
TEST_F(ReportTest, AnOverrideAnInterruptAndAResume) {
  runner_.script = {FakeCommand::Of("check-health").Exit(7).Takes(2'000),
                    FakeCommand::Of("notify-team").Takes(30'000).Times(1), FakeCommand::Of("").Takes(1'000)};
  runner_.on_start = [&](const ProcessSpec& spec) {
    if (spec.argv.back().find("notify-team") != std::string::npos && runner_.StartTimes("notify-team").empty())
      interrupt_ = 1;  // Ctrl-C while notify runs the first time
  };
  std::map<std::string, std::string> answers = {{"assess", "skip"}, {"stand-down", "done"}};
  ASSERT_EQ(Run(answers).status, RunStatus::kInterrupted);
  interrupt_ = 0;
  clock_.now += 5 * 60'000;
  ResumeState st;
  st.run = store_.runs.begin()->second;
  st.steps = store_.steps[st.run.id];
  st.decisions = store_.decisions[st.run.id];
  st.attempts = store_.attempts[st.run.id];
  ASSERT_EQ(Run(answers, st).status, RunStatus::kSucceeded);
  Golden("interrupted");
  auto pm = RenderReport(ReportKind::kPostmortem, Input());
  ASSERT_TRUE(pm.ok());
  EXPECT_NE(pm->find("skip (answer, alice@ops-1, overriding the rules' choice restore)"), std::string::npos) << *pm;
  EXPECT_NE(pm->find("interrupted: stopping running steps"), std::string::npos) << *pm;
  EXPECT_NE(pm->find("resumed by alice@ops-1"), std::string::npos) << *pm;
  EXPECT_EQ(pm->find("needed"), std::string::npos) << "an interrupted attempt is no retry:\n" << *pm;
  EXPECT_EQ(pm->find("stopped by"), std::string::npos) << *pm;
}

TEST_F(ReportTest, AUserTemplateReplacesTheBuiltInOne) {
  runner_.script = {FakeCommand::Of("").Takes(1'000).Exit(1)};
  Run();
  auto text = RenderReport(ReportKind::kReport, Input(), "{{run.id}} {{run.status}}{{#steps}} {{id}}={{status}}{{/steps}}");
  ASSERT_TRUE(text.ok());
  // Every command fails here, the rollback hook and `cleanup` too.
  EXPECT_EQ(*text, "20270115-080000-abcd rollback_failed check=failed assess=succeeded stand-down=skipped "
                   "restore=failed notify=pending cleanup=failed\n");
  auto bad = RenderReport(ReportKind::kReport, Input(), "{{#steps}} unclosed");
  EXPECT_FALSE(bad.ok());
}

// Rows are made as the template reaches them (a 10,000-step run never holds
// them all); to a template they are lists like any other: outer names are
// seen from inside a row, rows nest, an empty list is falsy, `.` is the row.
TEST_F(ReportTest, RowsMadeOnDemandBehaveAsLists) {
  runner_.script = {FakeCommand::Of("").Takes(1'000).Exit(1)};
  Run();
  auto text = RenderReport(ReportKind::kReport, Input(),
                           "{{#steps}}{{id}}@{{run.id}}{{#gantt}}{{#id}}{{/id}}{{/gantt}} {{/steps}}|"
                           "{{#gantt}}{{task}}:{{label}} {{/gantt}}|{{^timeline}}no timeline{{/timeline}}|"
                           "{{#has_verifications}}checks{{/has_verifications}}{{^verifications}}no checks{{/verifications}}|"
                           "{{#rollbacks}}{{step}}={{status}}{{/rollbacks}}");
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text,
            "check@20270115-080000-abcd assess@20270115-080000-abcd stand-down@20270115-080000-abcd "
            "restore@20270115-080000-abcd notify@20270115-080000-abcd cleanup@20270115-080000-abcd |"
            "t1:check t2:assess t3:restore t4:cleanup ||no checks|restore=failed\n");
  // The same data, all at once, for people writing templates.
  auto data = nlohmann::json::parse(ReportDataJson(Input()));
  EXPECT_EQ(data["steps"].size(), 6u);
  EXPECT_EQ(data["gantt"][3]["label"], "cleanup");
  EXPECT_FALSE(data["timeline"].empty());
}

// Issue 22: a note "ssh <host>" lost "<host>" on the page: renderers drop
// what looks like raw HTML. Outside code it is escaped; inside code it is not.
TEST_F(ReportTest, ANoteThatLooksLikeHtmlIsShownAsWritten) {
  runner_.script = {FakeCommand::Of("").Takes(1'000)};
  Run();
  ReportInput in = Input();
  in.events.push_back(EventRecord{999, in.run.id, in.now_ms, "", "note", "alice: ssh <host> then run <cmd>"});
  auto text = RenderReport(ReportKind::kReport, in);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_NE(text->find("alice: ssh \\<host> then run \\<cmd>"), std::string::npos) << *text;
  cmark_gfm_core_extensions_ensure_registered();
  char* html = cmark_markdown_to_html(text->c_str(), text->size(), CMARK_OPT_DEFAULT);
  std::string rendered = html;
  free(html);
  EXPECT_NE(rendered.find("alice: ssh &lt;host&gt; then run &lt;cmd&gt;"), std::string::npos) << rendered;
}

}  // namespace
}  // namespace runbook
