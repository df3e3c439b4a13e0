#include "cli/run_command.h"

#include <limits.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "cli/console.h"
#include "engine/eval.h"
#include "engine/inputs.h"
#include "engine/loader.h"
#include "engine/memory_store.h"
#include "engine/parser.h"
#include "engine/validate.h"
#include "state/sqlite_store.h"
#include "steps/dry_run_runner.h"
#include "steps/posix_runner.h"

extern char** environ;

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

std::string Sha256(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  std::ostringstream hex;
  for (unsigned i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", digest[i]);
    hex << b;
  }
  return hex.str();
}

std::string NewRunId(int64_t wall_ms) {
  std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x", static_cast<unsigned>(rd() & 0xffff));
  return std::string(buf) + suffix;
}

std::string UserName() {
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return std::to_string(getuid());
}

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "runbook" : p.string();
}

// The start time of process `pid` (field 22 of /proc/PID/stat), "" if gone
// or dead (a zombie waiting to be reaped is no owner).
std::string ProcStartTime(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  for (int i = 3; i <= 22 && fields >> f; ++i) {
    if (i == 3 && (f == "Z" || f == "X")) return "";
  }
  return f;
}

// Whether a run's recorded owner is alive: pid, host and start time must all
// match, so a reused pid does not pass for the engine that died.
bool OwnerIsLive(const RunRecord& r) {
  if (r.owner_host != HostName()) return true;  // another machine's processes cannot be seen: assume live
  if (r.pid <= 0) return false;
  std::string start = ProcStartTime(r.pid);
  return !start.empty() && start == r.owner_start;
}

std::string OwnerText(const RunRecord& r) {
  return r.owner_user + "@" + r.owner_host + " (pid " + std::to_string(r.pid) + ") since " + Rfc3339(r.owner_since);
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

// Answers name steps that exist and carry values those steps accept
// (STEP.CHILD-STEP passes an answer on to a runbook: step's child run).
// Removes the engine's private folder when the command ends, however it ends.
struct PrivateDir {
  std::string path;
  ~PrivateDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

bool CheckAnswers(const Context& ctx, const Runbook& rb, const std::map<std::string, std::string>& answers,
                  bool resuming = false) {
  for (const auto& [id, value] : answers) {
    std::string own = id.substr(0, id.find('.'));
    const Step* s = rb.FindStep(own);
    if (!s) {
      *ctx.err << "runbook: --answer names no step of " << rb.name << ": '" << id << "'\n";
      return false;
    }
    if (own != id) continue;
    std::vector<std::string> allowed;
    if (s->kind == StepKind::kManual) allowed = {"done", "skip", "fail"};
    else if (s->kind == StepKind::kDecision)
      for (const auto& c : s->decision.choices) allowed.push_back(c.value);
    else if (resuming && !s->idempotent) allowed = {"rerun", "done"};
    else if (resuming) allowed = {"done"};
    else {
      *ctx.err << "runbook: step '" << id << "' is a " << ToString(s->kind) << " step and takes no answer\n";
      return false;
    }
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      *ctx.err << "runbook: '" << value << "' is not an answer for step '" << id << "': expected one of " << list << "\n";
      return false;
    }
  }
  return true;
}

void PrintEscalation(const Context& ctx, const Runbook& rb, RunStatus status, bool timed_out) {
  std::vector<std::string> lines;
  bool waiting = status == RunStatus::kWaiting, succeeded = status == RunStatus::kSucceeded;
  for (const auto& e : rb.escalation) {
    bool match = e.when == Escalation::When::kAlways || (e.when == Escalation::When::kWaiting && waiting) ||
                 (e.when == Escalation::When::kTimeout && timed_out) ||
                 (e.when == Escalation::When::kFailure && !waiting && !succeeded);
    if (match) lines.push_back("  " + e.contact + (e.after ? " (after " + FormatDuration(*e.after) + ")" : ""));
  }
  if (lines.empty() || succeeded) return;
  *ctx.err << "escalate to:\n";
  for (const auto& l : lines) *ctx.err << l << "\n";
}


// The engine's private folder ($RUNBOOK_OUTPUT files), 0700: made per
// engine, recorded with the run, removed when the engine ends and, after a
// crash, by the engine that takes the run over.
std::optional<std::string> MakePrivateDir(const Context& ctx) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "runbook-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    *ctx.err << "runbook: cannot create a private folder in " << std::filesystem::temp_directory_path().string()
             << ": " << std::strerror(errno) << "\n";
    return std::nullopt;
  }
  return tmpl;
}

// A dead engine's private folder: removed only if it is one of ours (a real
// folder named runbook-*, owned by this user), never through a link.
void RemoveDeadOwnersDir(const RunRecord& dead) {
  if (dead.tmp_dir.empty() || dead.owner_host != HostName()) return;
  std::filesystem::path p(dead.tmp_dir);
  struct stat st {};
  if (p.filename().string().rfind("runbook-", 0) != 0 || ::lstat(p.c_str(), &st) != 0) return;
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid()) return;
  std::error_code ec;
  std::filesystem::remove_all(p, ec);
}


// ExecOptions common to run and resume; nullopt (after saying why) on a bad flag.
std::optional<ExecOptions> BaseOptions(const Context& ctx, const RunArgs& args, SystemClock& clock) {
  auto grace = ParseDuration(args.grace);
  if (!grace) {
    *ctx.err << "runbook: invalid --grace '" << args.grace << "'\n";
    return std::nullopt;
  }
  if (args.jobs < 0) {
    *ctx.err << "runbook: --jobs must be at least 1\n";
    return std::nullopt;
  }
  ExecOptions o;
  o.run_id = args.run_id.empty() ? NewRunId(clock.WallMs()) : args.run_id;
  o.workdir = std::filesystem::current_path().string();
  o.user = UserName();
  o.host = HostName();
  o.pid = static_cast<int>(getpid());
  o.owner_start = ProcStartTime(o.pid);
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("RUNBOOK_", 0) != 0) o.base_env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  o.jobs = args.jobs > 0 ? args.jobs : std::max(1u, std::thread::hardware_concurrency());
  o.grace_ms = grace->count();
  o.self_exe = SelfExe();
  o.state_path = std::filesystem::absolute(StatePath(args.state)).string();
  o.child_flags = {"--grace", args.grace, "--durability", args.durability, "--output", "text"};
  if (args.dry_run) o.child_flags.push_back("--dry-run");
  o.runbook_path = ctx.runbook_path;
  o.interrupt = &g_interrupt;
  return o;
}

std::unique_ptr<SqliteStore> OpenState(const Context& ctx, const RunArgs& args) {
  auto opened = SqliteStore::Open(StatePath(args.state),
                                  args.durability == "power" ? Durability::kPower : Durability::kCrash);
  if (!opened.ok()) {
    *ctx.err << "runbook: " << opened.status().message() << "\n";
    return nullptr;
  }
  return std::move(opened.value());
}

// Runs the executor with the console, the terminal, the runner and signals.
int Execute(const Context& ctx, const RunArgs& args, const Runbook& rb, const ExecOptions& o, StateStore* store,
            SystemClock& clock) {
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
    asker = std::make_unique<TtyAsker>(&std::cin, ctx.err, isatty(STDIN_FILENO) && args.output != "json");
  std::unique_ptr<ProcessRunner> runner;
  if (args.dry_run)
    runner = std::make_unique<DryRunRunner>(talk);
  else
    runner = std::make_unique<PosixRunner>(&clock);

  InstallSignalHandlers();
  Executor executor(rb, o, store, runner.get(), &clock, reporter.get(), asker.get());
  RunOutcome outcome = executor.Run();
  if (!outcome.error.empty()) {
    *ctx.err << "runbook: the run stopped because the engine could not record it: " << outcome.error << "\n";
    if (std::filesystem::exists(o.state_path))
      *ctx.err << "runbook: what was recorded before is intact; fix the cause, then: runbook resume " << o.run_id
               << "\n";
    else
      *ctx.err << "runbook: the state database " << o.state_path << " is gone, and the record of run " << o.run_id
               << " with it; its steps were stopped\n";
    return kExitFailed;
  }
  if (outcome.status == RunStatus::kWaiting) {
    *ctx.err << "run " << o.run_id << " is waiting for a person. Continue it with:\n";
    for (const auto& line : outcome.waiting_commands) *ctx.err << "  " << line << "\n";
  } else if (outcome.status == RunStatus::kInterrupted || outcome.status == RunStatus::kFailed) {
    *ctx.err << "continue it with: runbook resume " << o.run_id << "\n";
  }
  PrintEscalation(ctx, rb, outcome.status, false);
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

int StartRun(const Context& ctx, const RunArgs& args, const Runbook& rb, const std::map<std::string, std::string>& inputs,
             const std::map<std::string, std::string>& answers) {
  SystemClock clock;
  auto o = BaseOptions(ctx, args, clock);
  if (!o) return kExitUsage;
  if (!args.parent.empty()) {
    o->parent_run = args.parent.substr(0, args.parent.find(':'));
    o->parent_step = args.parent.find(':') == std::string::npos ? "" : args.parent.substr(args.parent.find(':') + 1);
  }
  o->inputs = inputs;
  o->answers = answers;
  o->source_sha256 = Sha256(rb.source.text());  // resume refuses a changed file
  if (args.dry_run) {
    MemoryStore memory;
    return Execute(ctx, args, rb, *o, &memory, clock);
  }
  auto store = OpenState(ctx, args);
  if (!store) return kExitFailed;
  auto tmp = MakePrivateDir(ctx);
  if (!tmp) return kExitFailed;
  o->tmp_dir = *tmp;
  PrivateDir remove_at_end{*tmp};
  // Two people running disaster recovery at once is how outages get worse.
  bool exclusive = rb.exclusive && !args.new_run && o->parent_run.empty();
  auto created = store->CreateRun(NewRunRecord(rb, *o, clock.WallMs()), exclusive, OwnerIsLive);
  if (!created.ok()) {
    *ctx.err << "runbook: " << created.status().message() << "\n";
    return kExitFailed;
  }
  if (*created) {
    const RunRecord& b = **created;
    bool live = b.status == RunStatus::kRunning && OwnerIsLive(b);
    if (live)
      *ctx.err << "runbook: " << rb.name << " is being run right now: run " << b.id << " by " << OwnerText(b) << "\n";
    else
      *ctx.err << "runbook: run " << b.id << " of " << rb.name << " is "
               << (b.status == RunStatus::kRunning ? "orphaned (its engine died)" : ToString(b.status))
               << "; continue it with:\n"
               << "  runbook resume " << b.id << "\n"
               << "or end it with `runbook abandon " << b.id << "`, or start another run anyway with --new\n";
    return kExitLocked;
  }
  o->run_exists = true;
  return Execute(ctx, args, rb, *o, store.get(), clock);
}

}  // namespace

int ResumeRun(const Context& ctx, const RunArgs& args, const std::vector<std::string>& rerun, bool allow_changed,
              bool rollback_only) {
  std::string path = StatePath(args.state);
  if (!std::filesystem::exists(path)) {
    *ctx.err << "runbook: no state database at " << path << ": nothing to resume\n";
    return kExitUsage;
  }
  auto store = OpenState(ctx, args);
  if (!store) return kExitFailed;
  std::string id;
  if (args.target.empty()) {
    // The newest open run, live or not: a live one is refused by the claim,
    // naming its owner.
    auto runs = store->ListRuns({});
    if (!runs.ok()) {
      *ctx.err << "runbook: " << runs.status().message() << "\n";
      return kExitFailed;
    }
    for (const auto& r : *runs)
      if (!IsFinal(r.status)) {
        id = r.id;
        break;
      }
    if (id.empty()) {
      *ctx.err << "runbook: no run to resume (none is interrupted, failed, waiting or orphaned)\n";
      return kExitUsage;
    }
  } else {
    auto resolved = store->ResolveRun(args.target);
    if (!resolved.ok()) {
      *ctx.err << "runbook: " << resolved.status().message() << "\n";
      return resolved.status().IsIOError() || resolved.status().IsCorrupt() ? kExitFailed : kExitUsage;
    }
    id = *resolved;
  }
  auto run = store->GetRun(id);
  if (!run.ok()) {
    *ctx.err << "runbook: " << run.status().message() << "\n";
    return kExitFailed;
  }
  auto ended = [&](const RunRecord& r) {
    *ctx.err << "runbook: run " << id << " ended " << ToString(r.status)
             << (rollback_only ? "; there is nothing to roll back\n" : "; there is nothing to resume\n");
    return kExitUsage;
  };
  auto live = [&](const RunRecord& r) {
    *ctx.err << "runbook: run " << id << " is live: driven by " << OwnerText(r) << "\n";
    return kExitLocked;
  };
  if (IsFinal(run->status)) return ended(*run);
  if (run->status == RunStatus::kRunning && OwnerIsLive(*run)) return live(*run);
  // Paths are the run's: its file and its folders, resolved against the
  // folder it started in, never by changing this process's own.
  std::filesystem::path workdir(run->workdir);
  auto in_run_dir = [&](const std::string& p) {
    std::filesystem::path q(p);
    return q.is_absolute() ? q.string() : (workdir / q).lexically_normal().string();
  };
  std::string file = in_run_dir(run->path);
  std::string source = run->source;
  std::ifstream current_file(file, std::ios::binary);
  std::stringstream current;
  current << current_file.rdbuf();
  if (!current_file || Sha256(current.str()) != run->sha256) {
    if (!allow_changed) {
      *ctx.err << "runbook: " << file << (current_file ? " changed" : " is gone") << " since run " << id
               << " started (sha256 " << run->sha256.substr(0, 12)
               << "...); resume it with --allow-changed to use the file as it is now\n";
      return kExitUsage;
    }
    if (current_file) source = current.str();
  }
  Diagnostics diags;
  Runbook rb = ParseRunbook(SourceFile(file, source), &diags);
  ValidateRunbook(rb, &diags);
  if (diags.HasErrors()) {
    for (const auto& d : diags.items()) *ctx.err << Format(rb.source, d);
    return kExitUsage;
  }
  std::map<std::string, std::string> given, answers;
  if (!Collect(ctx, args.inputs, args.inputs_file, "input", &given)) return kExitUsage;
  if (!Collect(ctx, args.answers, args.answers_file, "answer", &answers)) return kExitUsage;
  if (!CheckAnswers(ctx, rb, answers, true)) return kExitUsage;
  for (const auto& r : rerun)
    if (!rb.FindStep(r)) {
      *ctx.err << "runbook: --rerun names no step of " << rb.name << ": '" << r << "'\n";
      return kExitUsage;
    }
  // The run's own inputs, with secrets supplied again (never stored).
  std::map<std::string, std::string> inputs;
  for (const auto& d : rb.inputs) {
    auto recorded = run->inputs.find(d.name);
    if (!d.secret) {
      if (given.count(d.name)) {
        *ctx.err << "runbook: input '" << d.name << "' is recorded with the run; resume takes only secret inputs\n";
        return kExitUsage;
      }
      if (recorded != run->inputs.end()) inputs[d.name] = recorded->second;
      continue;
    }
    const char* env = d.from_env.empty() ? nullptr : std::getenv(d.from_env.c_str());
    if (given.count(d.name))
      inputs[d.name] = given[d.name];
    else if (env)
      inputs[d.name] = env;
    else if (recorded != run->inputs.end()) {
      *ctx.err << "runbook: secret input '" << d.name << "' must be given again: --input " << d.name << "=..."
               << (d.from_env.empty() ? "" : " or $" + d.from_env) << "\n";
      return kExitUsage;
    }
  }
  for (const auto& [k, v] : given)
    if (!rb.FindInput(k)) {
      *ctx.err << "runbook: unknown input '" << k << "'\n";
      return kExitUsage;
    }

  SystemClock clock;
  RunArgs a = args;
  a.run_id = id;
  auto o = BaseOptions(ctx, a, clock);
  if (!o) return kExitUsage;
  o->workdir = run->workdir;
  for (auto& dir : o->runbook_path) dir = in_run_dir(dir);
  o->parent_run = run->parent_run;
  o->parent_step = run->parent_step;
  o->inputs = inputs;
  o->answers = answers;
  o->source_sha256 = run->sha256;
  o->run_exists = true;
  auto tmp = MakePrivateDir(ctx);
  if (!tmp) return kExitFailed;
  o->tmp_dir = *tmp;
  PrivateDir remove_at_end{*tmp};
  RunRecord owner;
  owner.pid = o->pid;
  owner.owner_user = o->user;
  owner.owner_host = o->host;
  owner.owner_start = o->owner_start;
  owner.owner_since = clock.WallMs();
  owner.tmp_dir = o->tmp_dir;
  auto claim = store->ClaimRun(id, owner, OwnerIsLive);
  if (!claim.ok()) {
    *ctx.err << "runbook: " << claim.status().message() << "\n";
    return claim.status().IsBusy() ? kExitLocked : kExitFailed;
  }
  if (claim->outcome == Claim::Outcome::kLive) return live(claim->run);
  if (claim->outcome == Claim::Outcome::kEnded) return ended(claim->run);
  RemoveDeadOwnersDir(claim->run);
  ResumeState st;
  st.run = claim->run;
  auto steps = store->GetSteps(id);
  auto attempts = store->GetAttempts(id);
  auto decisions = store->GetDecisions(id);
  if (!steps.ok() || !attempts.ok() || !decisions.ok()) {
    Status e = !steps.ok() ? steps.status() : !attempts.ok() ? attempts.status() : decisions.status();
    *ctx.err << "runbook: " << e.message() << "\n";
    return kExitFailed;
  }
  st.steps = *steps;
  st.attempts = *attempts;
  st.decisions = *decisions;
  st.rerun = rerun;
  o->resume = st;
  o->rollback_only = rollback_only;
  int code = Execute(ctx, a, rb, *o, store.get(), clock);
  // For `rollback`, success is every hook passing (SPEC 9).
  if (rollback_only && code == kExitFailed) {
    auto after = store->GetRun(id);
    if (after.ok() && after->status == RunStatus::kRolledBack) return kExitOk;
  }
  return code;
}

int Abandon(const Context& ctx, const std::string& state, const std::string& ref) {
  auto store = OpenExistingStore(ctx, state, true);
  if (!store) return kExitUsage;
  int code = kExitUsage;
  auto id = ResolveRunOrSay(ctx, *store, ref, &code);
  if (!id) return code;
  auto run = store->GetRun(*id);
  if (!run.ok()) return kExitFailed;
  if (run->status == RunStatus::kRunning && OwnerIsLive(*run)) {
    *ctx.err << "runbook: run " << *id << " is live: driven by " << OwnerText(*run) << "\n";
    return kExitLocked;
  }
  if (IsFinal(run->status)) {
    *ctx.err << "runbook: run " << *id << " already ended " << ToString(run->status) << "\n";
    return kExitUsage;
  }
  SystemClock clock;
  RunRecord r = *run;
  r.status = RunStatus::kAbandoned;
  r.phase = RunPhase::kDone;
  r.reason = "abandoned by " + UserName() + "@" + HostName();
  r.finished_at = clock.WallMs();
  Batch b;
  b.run = r;
  b.Add(EventRecord{0, r.id, r.finished_at, "", "run.abandoned", r.reason});
  Status s = store->Commit(b);
  if (!s.ok()) {
    *ctx.err << "runbook: " << s.message() << "\n";
    return kExitFailed;
  }
  *ctx.out << "run " << r.id << " abandoned (no rollback was run)\n";
  return kExitOk;
}

int Note(const Context& ctx, const std::string& state, const std::string& ref, const std::string& text) {
  auto store = OpenExistingStore(ctx, state, true);
  if (!store) return kExitUsage;
  int code = kExitUsage;
  auto id = ResolveRunOrSay(ctx, *store, ref, &code);
  if (!id) return code;
  SystemClock clock;
  Batch b;
  b.Add(EventRecord{0, *id, clock.WallMs(), "", "note", UserName() + "@" + HostName() + ": " + text});
  Status s = store->Commit(b);
  if (!s.ok()) {
    *ctx.err << "runbook: " << s.message() << "\n";
    return kExitFailed;
  }
  *ctx.out << "noted on run " << *id << "\n";
  return kExitOk;
}

int RunRunbook(const Context& ctx, const RunArgs& args) {
  std::string error;
  auto file = ResolveRunbook(args.target, ctx.runbook_path, &error);
  if (!file) {
    *ctx.err << "runbook: " << error << "\n";
    return kExitUsage;
  }
  LoadedRunbook loaded = LoadRunbook(*file, ctx.runbook_path);
  *ctx.err << loaded.FormatDiagnostics();
  if (!loaded.ok()) {
    *ctx.err << *file << ": " << loaded.diags.ErrorCount() << " error(s); nothing was run\n";
    return kExitUsage;
  }
  const Runbook& rb = loaded.runbook;

  std::map<std::string, std::string> given, answers;
  if (!Collect(ctx, args.inputs, args.inputs_file, "input", &given)) return kExitUsage;
  if (!Collect(ctx, args.answers, args.answers_file, "answer", &answers)) return kExitUsage;
  if (!CheckAnswers(ctx, rb, answers)) return kExitUsage;
  InputValues inputs = ResolveInputs(rb, given, [](const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  });
  for (const auto& e : inputs.errors) *ctx.err << "runbook: " << e << "\n";
  for (const auto& m : inputs.missing) {
    const InputDecl* d = rb.FindInput(m);
    *ctx.err << "runbook: missing required input '" << m << "'"
             << (d && !d->from_env.empty() ? " (--input " + m + "=... or $" + d->from_env + ")" : " (--input " + m + "=...)")
             << "\n";
  }
  if (!inputs.errors.empty() || !inputs.missing.empty()) return kExitUsage;

  return StartRun(ctx, args, rb, inputs.values, answers);
}

}  // namespace runbook::cli
