#include "cli/run_command.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/console.h"
#include "engine/inputs.h"
#include "engine/loader.h"
#include "engine/memory_store.h"
#include "engine/parser.h"
#include "engine/session.h"
#include "state/open_store.h"
#include "steps/dry_run_runner.h"
#include "steps/posix_host.h"
#include "steps/posix_runner.h"

namespace runbook::cli {
namespace {

volatile std::sig_atomic_t g_interrupt = 0;

void OnSignal(int) {
  g_interrupt = g_interrupt + 1;
  PosixRunner::Interrupt();
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// An engine error, said once: a message of several lines (diagnostics) as it
// is, otherwise after "runbook: ". Returns its exit code.
int Say(const Context& ctx, const Status& s) {
  const std::string& m = s.message();
  bool block = m.find('\n') != std::string::npos && m.find(": error: ") != std::string::npos;
  *ctx.err << (block ? "" : "runbook: ") << m << (m.empty() || m.back() != '\n' ? "\n" : "");
  return ExitCodeOf(s);
}

// --key=value lists and files merged, flags winning over files.
bool Collect(const Context& ctx, const std::vector<std::string>& flags, const std::string& file,
             const std::string& what, std::map<std::string, std::string>* out) {
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      *ctx.err << "runbook: cannot read " << what << " file " << file << "\n";
      return false;
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string error;
    auto values = ParseValuesFile(file, text.str(), &error);
    if (!values) {
      *ctx.err << error << "\n";
      return false;
    }
    *out = *values;
  }
  for (const auto& kv : flags) {
    auto pair = SplitAssignment(kv);
    if (!pair) {
      *ctx.err << "runbook: --" << what << " takes KEY=VALUE, got '" << kv << "'\n";
      return false;
    }
    (*out)[pair->first] = pair->second;
  }
  return true;
}

void PrintEscalation(const Context& ctx, const Runbook& rb, RunStatus status, bool timed_out) {
  std::vector<std::string> lines;
  bool waiting = status == RunStatus::kWaiting, succeeded = status == RunStatus::kSucceeded;
  bool interrupted = status == RunStatus::kInterrupted;  // a person stopped it: nothing failed yet
  for (const auto& e : rb.escalation) {
    bool match = e.when == Escalation::When::kAlways || (e.when == Escalation::When::kWaiting && waiting) ||
                 (e.when == Escalation::When::kTimeout && timed_out) ||
                 (e.when == Escalation::When::kFailure && !waiting && !succeeded && !interrupted);
    if (match) lines.push_back("  " + e.contact + (e.after ? " (after " + FormatDuration(*e.after) + ")" : ""));
  }
  if (lines.empty() || succeeded) return;
  *ctx.err << "escalate to:\n";
  for (const auto& l : lines) *ctx.err << l << "\n";
}

// The engine settings of run and resume; nullopt (after saying why) on a bad flag.
std::optional<EngineSettings> Settings(const Context& ctx, const RunArgs& args) {
  auto grace = ParseDuration(args.grace);
  if (!grace) {
    *ctx.err << "runbook: invalid --grace '" << args.grace << "'\n";
    return std::nullopt;
  }
  if (args.jobs < 0) {
    *ctx.err << "runbook: --jobs must be at least 1\n";
    return std::nullopt;
  }
  EngineSettings s;
  s.jobs = args.jobs > 0 ? args.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  s.grace_ms = grace->count();
  s.state_path = StatePath(args.state);
  s.child_flags = {"--grace", args.grace, "--durability", args.durability, "--output", "text"};
  if (args.dry_run) s.child_flags.push_back("--dry-run");
  for (const auto& dir : ctx.runbook_path) s.runbook_path.push_back(std::filesystem::absolute(dir).string());
  s.interrupt = &g_interrupt;
  return s;
}

// The state database to write; null (after saying why, with the exit code
// of the error's kind in *code) if it cannot be opened.
std::unique_ptr<StateStore> OpenState(const Context& ctx, const RunArgs& args, int* code) {
  auto opened = OpenStore(StatePath(args.state), args.durability == "power" ? Durability::kPower : Durability::kCrash);
  if (!opened.ok()) {
    *code = Say(ctx, opened.status());
    return nullptr;
  }
  return std::move(opened.value());
}

// Runs a prepared run with the console, the terminal, the runner and
// signals, then says how to continue it and writes its report.
int Execute(const Context& ctx, const RunArgs& args, const PreparedRun& run, StateStore* store) {
  const Runbook& rb = run.runbook();
  const ExecOptions& o = run.options();
  SystemClock clock;
  bool tty_out = isatty(STDOUT_FILENO);
  bool color = tty_out && !std::getenv("NO_COLOR");
  std::unique_ptr<Reporter> reporter;
  if (args.output == "json")
    reporter = std::make_unique<JsonReporter>(ctx.out);
  else
    reporter = std::make_unique<TextReporter>(ctx.out, tty_out, color,
                                              rb.rto ? std::optional<int64_t>(rb.rto->count()) : std::nullopt);
  // With --output json, stdout carries only JSON: a dry run talks on stderr.
  std::ostream* talk = args.output == "json" ? ctx.err : ctx.out;
  std::unique_ptr<Asker> asker;
  if (args.dry_run)
    asker = std::make_unique<DryRunAsker>(talk, &rb);
  else
    asker = std::make_unique<TtyAsker>(&std::cin, ctx.err, isatty(STDIN_FILENO) && args.output != "json",
                                       STDIN_FILENO);
  std::unique_ptr<ProcessRunner> runner;
  if (args.dry_run)
    runner = std::make_unique<DryRunRunner>(talk);
  else
    runner = std::make_unique<PosixRunner>(&clock, o.tmp_dir);

  InstallSignalHandlers();
  Executor executor(rb, o, store, runner.get(), &clock, reporter.get(), asker.get());
  RunOutcome outcome = executor.Run();
  if (!outcome.error.empty()) {
    *ctx.err << "runbook: the run stopped because the engine could not record it: " << outcome.error << "\n";
    if (StateExists(o.state_path))
      *ctx.err << "runbook: what was recorded before is intact; fix the cause, then: runbook resume " << o.run_id
               << "\n";
    else
      *ctx.err << "runbook: the state database " << ShownState(o.state_path) << " is gone, and the record of run " << o.run_id
               << " with it; its steps were stopped\n";
    return kExitFailed;
  }
  if (outcome.status == RunStatus::kWaiting) {
    *ctx.err << "run " << o.run_id << " is waiting for a person. Continue it with one of:\n";
    for (const auto& line : outcome.waiting_commands) *ctx.err << "  " << line << "\n";
  } else if (outcome.status == RunStatus::kInterrupted || outcome.status == RunStatus::kFailed) {
    *ctx.err << "continue it with: runbook resume " << o.run_id << "\n";
  }
  PrintEscalation(ctx, rb, outcome.status, outcome.timed_out);
  if (args.dry_run) {
    *talk << "dry run: nothing was executed and nothing was recorded\n";
  } else if (o.parent_run.empty()) {
    auto path = WriteRunReport(*store, args.state, o.run_id, &rb);
    if (path.ok())
      *ctx.err << "report: " << *path << "\n";
    else
      *ctx.err << "runbook: could not write the report: " << path.status().message() << "\n";
  }
  return outcome.exit_code;
}

}  // namespace

int RunRunbook(const Context& ctx, const RunArgs& args) {
  if (args.target.empty()) {
    *ctx.err << "runbook: run needs a runbook: a name on RUNBOOK_PATH (see: runbook list) or a file\n";
    return kExitUsage;
  }
  std::string error;
  auto file = ResolveRunbook(args.target, ctx.runbook_path, &error);
  if (!file) {
    *ctx.err << "runbook: " << error << "\n";
    return kExitUsage;
  }
  LoadedRunbook loaded = LoadRunbook(std::filesystem::absolute(*file).lexically_normal().string(), ctx.runbook_path);
  *ctx.err << loaded.FormatDiagnostics();
  if (!loaded.ok()) {
    *ctx.err << *file << ": " << loaded.diags.ErrorCount() << " error(s); nothing was run\n";
    return kExitUsage;
  }
  if (Status marked = MarkInputsSecret(&loaded.runbook, args.secret_inputs); !marked.ok()) return Say(ctx, marked);
  RunRequest req;
  if (!Collect(ctx, args.inputs, args.inputs_file, "input", &req.inputs)) return kExitUsage;
  if (!Collect(ctx, args.answers, args.answers_file, "answer", &req.answers)) return kExitUsage;
  auto settings = Settings(ctx, args);
  if (!settings) return kExitUsage;
  req.run_id = args.run_id;
  req.parent = args.parent;
  req.new_run = args.new_run;
  req.dry_run = args.dry_run;
  PosixHost host;
  Status ok = CheckRun(loaded.runbook, req, host);  // before anything is opened or recorded
  if (!ok.ok()) return Say(ctx, ok);
  SystemClock clock;
  MemoryStore memory;  // what a dry run records: nothing that outlives it
  std::unique_ptr<StateStore> store;
  if (!args.dry_run) {
    int code = kExitFailed;
    store = OpenState(ctx, args, &code);
    if (!store) return code;
  }
  StateStore* where = store ? static_cast<StateStore*>(store.get()) : &memory;
  auto run = PrepareRun(loaded.runbook, req, *settings, args.dry_run ? nullptr : where, host, clock);
  if (!run.ok()) return Say(ctx, run.status());
  return Execute(ctx, args, **run, where);
}

int ResumeRun(const Context& ctx, const RunArgs& args, const std::vector<std::string>& rerun, bool allow_changed,
              bool rollback_only) {
  std::string path = StatePath(args.state);
  if (!StateExists(path)) {
    *ctx.err << "runbook: no state database at " << path << ": nothing to resume\n";
    return kExitUsage;
  }
  ResumeRequest req;
  req.target = args.target;
  req.rerun = rerun;
  req.allow_changed = allow_changed;
  req.from_another_host = args.from_another_host;
  req.rollback_only = rollback_only;
  req.secret_inputs = args.secret_inputs;
  if (!Collect(ctx, args.inputs, args.inputs_file, "input", &req.inputs)) return kExitUsage;
  if (!Collect(ctx, args.answers, args.answers_file, "answer", &req.answers)) return kExitUsage;
  auto settings = Settings(ctx, args);
  if (!settings) return kExitUsage;
  int code = kExitFailed;
  auto store = OpenState(ctx, args, &code);
  if (!store) return code;
  PosixHost host;
  SystemClock clock;
  auto run = PrepareResume(req, *settings, *store, host, clock);
  if (!run.ok()) return Say(ctx, run.status());
  RunArgs a = args;
  a.run_id = (*run)->options().run_id;
  code = Execute(ctx, a, **run, store.get());
  // For `rollback`, success is every hook passing (SPEC 9).
  if (rollback_only && code == kExitFailed) {
    auto after = store->GetRun(a.run_id);
    if (after.ok() && after->status == RunStatus::kRolledBack) return kExitOk;
  }
  return code;
}

int Abandon(const Context& ctx, const std::string& state, const std::string& ref) {
  auto store = OpenExistingStore(ctx, state, true);
  if (!store) return kExitUsage;
  PosixHost host;
  SystemClock clock;
  auto r = AbandonRun(*store, host, ref, clock.WallMs());
  if (!r.ok()) return Say(ctx, r.status());
  *ctx.out << "run " << r->id << " abandoned (no rollback was run)\n";
  return kExitOk;
}

int Note(const Context& ctx, const std::string& state, const std::string& ref, const std::string& text) {
  auto store = OpenExistingStore(ctx, state, true);
  if (!store) return kExitUsage;
  int code = kExitUsage;
  auto id = ResolveRunOrSay(ctx, *store, ref, &code);
  if (!id) return code;
  SystemClock clock;
  Identity me = PosixHost().Self();
  Batch b;
  b.Add(EventRecord{0, *id, clock.WallMs(), "", "note", me.user + "@" + me.host + ": " + text});
  Status s = store->Commit(b);
  if (!s.ok()) return Say(ctx, s);
  *ctx.out << "noted on run " << *id << "\n";
  return kExitOk;
}

}  // namespace runbook::cli
