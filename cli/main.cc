// runbook: the command line. Parses arguments with CLI11 and hands each
// subcommand to cli/commands.h. The only place that knows exit codes come
// from here; nothing below main calls exit().
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "cli/completion.h"
#include "cli/run_command.h"
#include "engine/loader.h"
#include "state/open_store.h"

namespace {

// The engine's diagnostic log: off unless RUNBOOK_LOG names a level (debug,
// info, warn...); on stderr, never in the state, the console or a report.
void StartLog() {
  auto log = spdlog::stderr_logger_st("runbook");
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%f runbook[%P] %l: %v");
  const char* level = std::getenv("RUNBOOK_LOG");
  log->set_level(level && *level ? spdlog::level::from_str(level) : spdlog::level::off);
  spdlog::set_default_logger(log);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace runbook::cli;
  // A parent that ignores SIGCHLD (some supervisors; `runbook serve` itself)
  // would have the kernel reap our steps before we read their exit: a step
  // that succeeded would fail. Whatever we were given, children are ours.
  std::signal(SIGCHLD, SIG_DFL);
  StartLog();
  CLI::App app{"runbook: run operations runbooks as checked, recorded, resumable procedures"};
  app.set_version_flag("--version", std::string("runbook ") + RUNBOOK_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options (--state) also after the subcommand

  std::string state;
  app.add_option("--state", state, "state database (default .runbook/state.db)")->type_name("FILE")->envname("RUNBOOK_STATE");

  RunArgs run_args;
  auto* run = app.add_subcommand("run", "run a runbook; every transition is recorded");
  run->add_option("runbook", run_args.target, "file or name on RUNBOOK_PATH")->type_name("RUNBOOK");  // its absence said by RunRunbook
  run->add_option("--input", run_args.inputs, "input value K=V (repeatable)");
  run->add_option("--inputs-file", run_args.inputs_file, "YAML map of input values")->type_name("FILE");
  run->add_option("--answer", run_args.answers, "answer ID=VALUE for a manual step or decision (repeatable)");
  run->add_option("--answers-file", run_args.answers_file, "YAML map of answers")->type_name("FILE");
  run->add_option("--jobs,-j", run_args.jobs, "steps at once (default: number of processors)");
  run->add_flag("--dry-run", run_args.dry_run, "show what would run, with templates resolved; run nothing");
  run->add_option("--output", run_args.output, "text (default) or json: one JSON event per line")
      ->check(CLI::IsMember({"text", "json"}));
  run->add_option("--grace", run_args.grace, "SIGTERM to SIGKILL delay when stopping steps (default 10s)");
  run->add_option("--durability", run_args.durability, "crash (default) or power: fsync every commit")
      ->check(CLI::IsMember({"crash", "power"}));
  run->add_flag("--new", run_args.new_run, "start a new run even if one of this runbook is open");
  run->add_option("--run-id", run_args.run_id)->group("");  // set by a parent run
  run->add_option("--parent", run_args.parent)->group("");
  run->add_option("--secret-input", run_args.secret_inputs)->group("");  // the parent passes a secret into it

  RunArgs resume_args;
  std::vector<std::string> rerun;
  bool allow_changed = false;
  auto* resume = app.add_subcommand("resume", "continue an interrupted, failed, waiting or orphaned run");
  resume->add_option("run", resume_args.target, "run id, unique prefix, or last (default: the newest resumable run)")->type_name("RUN");
  resume->add_option("--answer", resume_args.answers, "ID=VALUE: a person's answer; rerun|done for an interrupted "
                     "non-idempotent step; done for a failed step");
  resume->add_option("--answers-file", resume_args.answers_file, "YAML map of answers")->type_name("FILE");
  resume->add_option("--input", resume_args.inputs, "SECRET=VALUE: secrets are never stored and must be given again");
  resume->add_option("--inputs-file", resume_args.inputs_file, "YAML map of secret inputs (not on the command line)")
      ->type_name("FILE");
  resume->add_option("--secret-input", resume_args.secret_inputs)->group("");
  resume->add_option("--rerun", rerun, "run this finished step and everything after it again (repeatable)");
  resume->add_flag("--allow-changed", allow_changed, "resume even though the runbook file changed");
  resume->add_flag("--from-another-host", resume_args.from_another_host,
                   "run its remaining steps on this machine, though they ran on another (recorded)");
  resume->add_option("--jobs,-j", resume_args.jobs, "steps at once (default: number of processors)");
  resume->add_option("--output", resume_args.output, "text (default) or json")->check(CLI::IsMember({"text", "json"}));
  resume->add_option("--grace", resume_args.grace, "SIGTERM to SIGKILL delay when stopping steps (default 10s)");
  resume->add_option("--durability", resume_args.durability, "crash (default) or power")
      ->check(CLI::IsMember({"crash", "power"}));

  RunArgs rollback_args;
  auto* rollback = app.add_subcommand("rollback", "run a stopped run's rollback hooks now, then finally");
  rollback->add_option("run", rollback_args.target, "run id, unique prefix, or last")->type_name("RUN")->required();
  rollback->add_option("--input", rollback_args.inputs, "SECRET=VALUE: secrets must be given again");
  rollback->add_option("--grace", rollback_args.grace, "SIGTERM to SIGKILL delay (default 10s)");
  rollback->add_option("--output", rollback_args.output, "text (default) or json")->check(CLI::IsMember({"text", "json"}));

  std::string abandon_run;
  auto* abandon = app.add_subcommand("abandon", "end a stopped run as abandoned, without rollback");
  abandon->add_option("run", abandon_run, "run id, unique prefix, or last")->type_name("RUN")->required();

  std::string note_run, note_text;
  auto* note = app.add_subcommand("note", "add a note to a run's timeline");
  note->add_option("run", note_run, "run id, unique prefix, or last")->type_name("RUN")->required();
  note->add_option("text", note_text, "the note")->required();

  auto* runs = app.add_subcommand("runs", "runs in the state database, newest first");
  std::string runs_runbook, runs_status;
  bool runs_json = false;
  runs->add_option("--runbook", runs_runbook, "only runs of this runbook")->type_name("RUNBOOK");
  runs->add_option("--status", runs_status, "only runs with this status");
  runs->add_flag("--json", runs_json, "a JSON list");

  ShowArgs show_args;
  auto* show = app.add_subcommand("show", "one run: steps, statuses, durations");
  show->add_option("run", show_args.run, "run id, unique prefix, or last")->type_name("RUN")->required();
  show->add_flag("--json", show_args.json, "as JSON");

  auto* logs = app.add_subcommand("logs", "captured output of a run's steps");
  std::string logs_run, logs_step;
  int logs_attempt = 0;
  logs->add_option("run", logs_run, "run id, unique prefix, or last")->type_name("RUN")->required();
  logs->add_option("step", logs_step, "only this step");
  logs->add_option("--attempt", logs_attempt, "only this attempt");
  bool logs_follow = false;
  logs->add_flag("--follow,-f", logs_follow, "keep printing as the run goes on, until it stops");

  std::string report_run, report_out, report_template;
  auto* report = app.add_subcommand("report", "the run's report, in GitHub-flavoured Markdown");
  report->add_option("run", report_run, "run id, unique prefix, or last")->type_name("RUN")->required();
  report->add_option("-o,--output-file", report_out, "write to FILE (atomically) instead of stdout")->type_name("FILE");
  report->add_option("--template", report_template, "a Mustache template instead of the built-in one")->type_name("FILE");
  std::string pm_run, pm_out, pm_template;
  auto* postmortem = app.add_subcommand("postmortem", "a post-mortem draft from the run's record");
  postmortem->add_option("run", pm_run, "run id, unique prefix, or last")->type_name("RUN")->required();
  postmortem->add_option("-o,--output-file", pm_out, "write to FILE (atomically) instead of stdout")->type_name("FILE");
  postmortem->add_option("--template", pm_template, "a Mustache template instead of the built-in one")->type_name("FILE");

  std::string import_file, import_out;
  auto* import = app.add_subcommand("import", "a Markdown runbook -> a YAML draft that validates");
  import->add_option("file", import_file, "the Markdown runbook")->type_name("FILE")->required();
  import->add_option("-o,--output-file", import_out, "write the draft to FILE.yaml instead of stdout")->type_name("FILE");

  std::string prune_age;
  auto* prune = app.add_subcommand("prune", "delete finished runs older than a duration");
  prune->add_option("--older-than", prune_age, "e.g. 30d, 12h")->required();

  auto* validate = app.add_subcommand("validate", "check runbooks; all errors as FILE:LINE:COL: message");
  std::vector<std::string> validate_targets;
  validate->add_option("runbook", validate_targets, "file or name on RUNBOOK_PATH")->type_name("RUNBOOK")->required();

  auto* plan = app.add_subcommand("plan", "order, parallel waves, critical path against the RTO");
  std::string plan_target;
  std::vector<std::string> plan_inputs;
  plan->add_option("runbook", plan_target, "file or name on RUNBOOK_PATH")->type_name("RUNBOOK")->required();
  plan->add_option("--input", plan_inputs, "input value K=V (repeatable)");

  auto* graph = app.add_subcommand("graph", "the step graph as Mermaid or Graphviz dot");
  std::string graph_target, graph_format = "mermaid";
  graph->add_option("runbook", graph_target, "file or name on RUNBOOK_PATH")->type_name("RUNBOOK")->required();
  graph->add_option("--format", graph_format, "mermaid (default) or dot")
      ->check(CLI::IsMember({"mermaid", "dot"}));

  auto* list = app.add_subcommand("list", "runbooks on RUNBOOK_PATH with title and targets");
  bool list_names = false;
  list->add_flag("--names", list_names, "only the names, one per line (for scripts and completion)");
  auto* schema = app.add_subcommand("schema", "JSON Schema of the runbook format, for editors");
  std::string completion_shell;
  auto* completion = app.add_subcommand("completion", "a shell completion script for this command line");
  completion->add_option("shell", completion_shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  auto* man = app.add_subcommand("man", "this command's manual page, in roff (man -l <(runbook man))");
  auto* token = app.add_subcommand("token", "named tokens for runbook serve, so answers from the page carry a name");
  token->require_subcommand(1);
  std::string token_name;
  auto* token_add = token->add_subcommand("add", "a new token for NAME (shown once; the store keeps only its sha256)");
  token_add->add_option("name", token_name, "who the token is for")->required()->type_name("NAME");
  auto* token_list = token->add_subcommand("list", "the names that have a token");
  auto* state_cmd = app.add_subcommand("state", "the state database itself");
  state_cmd->require_subcommand(1);
  std::string copy_from, copy_to;
  auto* state_copy = state_cmd->add_subcommand("copy", "copy runs from one store to another (SQLite, PostgreSQL), verified");
  state_copy->add_option("from", copy_from, "a SQLite file or a postgresql:// address")->required()->type_name("FROM");
  state_copy->add_option("to", copy_to, "a SQLite file or a postgresql:// address")->required()->type_name("TO");
  std::string serve_listen = "127.0.0.1:0";
  auto* serve = app.add_subcommand("serve", "the state database as a live web page and a JSON API");
  serve->add_option("--listen", serve_listen, "HOST:PORT to listen on (default 127.0.0.1, any free port)")
      ->type_name("HOST:PORT");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  // A password in the state's address is refused before anything is opened (and never shown).
  if (runbook::Status s = runbook::CheckStateSpec(runbook::StatePath(state)); !s.ok()) {
    std::cerr << "runbook: " << s.message() << "\n";
    return kExitUsage;
  }
  Context ctx{runbook::RunbookPath(std::getenv("RUNBOOK_PATH")), state, &std::cout, &std::cerr};
  if (*run) {
    run_args.state = state;
    return RunRunbook(ctx, run_args);
  }
  if (*resume) {
    resume_args.state = state;
    return ResumeRun(ctx, resume_args, rerun, allow_changed);
  }
  if (*rollback) {
    rollback_args.state = state;
    return ResumeRun(ctx, rollback_args, {}, true, true);
  }
  if (*abandon) return Abandon(ctx, state, abandon_run);
  if (*note) return Note(ctx, state, note_run, note_text);
  if (*runs) return Runs(ctx, state, runs_runbook, runs_status, runs_json);
  if (*show) {
    show_args.state = state;
    return Show(ctx, show_args);
  }
  if (*logs) return Logs(ctx, state, logs_run, logs_step, logs_attempt, logs_follow);
  if (*prune) return Prune(ctx, prune_age);
  if (*serve) return Serve(ctx, serve_listen);
  if (*token_add) return TokenAdd(ctx, token_name);
  if (*token_list) return TokenList(ctx);
  if (*state_copy) return StateCopy(ctx, copy_from, copy_to);
  if (*import) return Import(ctx, import_file, import_out);
  if (*report) return Report(ctx, false, report_run, report_out, report_template);
  if (*postmortem) return Report(ctx, true, pm_run, pm_out, pm_template);
  if (*validate) return Validate(ctx, validate_targets);
  if (*plan) return Plan(ctx, plan_target, plan_inputs);
  if (*graph) return Graph(ctx, graph_target, graph_format);
  if (*list) return List(ctx, list_names);
  if (*schema) return Schema(ctx);
  if (*completion) {
    *ctx.out << (completion_shell == "bash" ? BashCompletion(app) : ZshCompletion(app));
    return kExitOk;
  }
  if (*man) {
    *ctx.out << ManPage(app, RUNBOOK_VERSION, RUNBOOK_DATE);
    return kExitOk;
  }
  return kExitUsage;
}
