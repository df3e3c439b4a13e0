#include "cli/run_command.h"

#include <limits.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

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
bool CheckAnswers(const Context& ctx, const Runbook& rb, const std::map<std::string, std::string>& answers) {
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
    else if (!s->idempotent) allowed = {"rerun", "done"};
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

void PrintEscalation(const Context& ctx, const Runbook& rb, const std::string& status, bool timed_out) {
  std::vector<std::string> lines;
  for (const auto& e : rb.escalation) {
    bool match = e.when == Escalation::When::kAlways ||
                 (e.when == Escalation::When::kWaiting && status == "waiting") ||
                 (e.when == Escalation::When::kTimeout && timed_out) ||
                 (e.when == Escalation::When::kFailure && status != "waiting" && status != "succeeded");
    if (match) lines.push_back("  " + e.contact + (e.after ? " (after " + FormatDuration(*e.after) + ")" : ""));
  }
  if (lines.empty() || status == "succeeded") return;
  *ctx.err << "escalate to:\n";
  for (const auto& l : lines) *ctx.err << l << "\n";
}

}  // namespace

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

  auto grace = ParseDuration(args.grace);
  if (!grace) {
    *ctx.err << "runbook: invalid --grace '" << args.grace << "'\n";
    return kExitUsage;
  }
  if (args.jobs < 0) {
    *ctx.err << "runbook: --jobs must be at least 1\n";
    return kExitUsage;
  }

  SystemClock clock;
  ExecOptions o;
  o.run_id = args.run_id.empty() ? NewRunId(clock.WallMs()) : args.run_id;
  if (!args.parent.empty()) {
    o.parent_run = args.parent.substr(0, args.parent.find(':'));
    o.parent_step = args.parent.find(':') == std::string::npos ? "" : args.parent.substr(args.parent.find(':') + 1);
  }
  o.workdir = std::filesystem::current_path().string();
  o.user = UserName();
  o.host = HostName();
  o.pid = static_cast<int>(getpid());
  o.inputs = inputs.values;
  o.answers = answers;
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
  o.runbook_path = ctx.runbook_path;
  o.interrupt = &g_interrupt;
  o.tmp_dir = std::filesystem::temp_directory_path().string();
  o.source_sha256 = Sha256(rb.source.text());  // resume refuses a changed file
  if (args.dry_run) o.child_flags.push_back("--dry-run");

  std::unique_ptr<StateStore> store;
  if (args.dry_run) {
    store = std::make_unique<MemoryStore>();
  } else {
    auto opened = SqliteStore::Open(o.state_path, args.durability == "power" ? Durability::kPower : Durability::kCrash);
    if (!opened.ok()) {
      *ctx.err << "runbook: " << opened.status().message() << "\n";
      return kExitFailed;
    }
    store = std::move(opened.value());
  }

  bool tty_out = isatty(STDOUT_FILENO);
  bool color = tty_out && !std::getenv("NO_COLOR");
  std::unique_ptr<Reporter> reporter;
  if (args.output == "json")
    reporter = std::make_unique<JsonReporter>(ctx.out);
  else
    reporter = std::make_unique<TextReporter>(ctx.out, tty_out, color,
                                              rb.rto ? std::optional<int64_t>(rb.rto->count()) : std::nullopt);
  std::unique_ptr<Asker> asker;
  if (args.dry_run)
    asker = std::make_unique<DryRunAsker>(ctx.out, &rb);
  else
    asker = std::make_unique<TtyAsker>(&std::cin, ctx.err, isatty(STDIN_FILENO) && args.output != "json");
  std::unique_ptr<ProcessRunner> runner;
  if (args.dry_run)
    runner = std::make_unique<DryRunRunner>(ctx.out);
  else
    runner = std::make_unique<PosixRunner>(&clock);

  InstallSignalHandlers();
  RunOutcome outcome;
  {
    Executor executor(rb, o, store.get(), runner.get(), &clock, reporter.get(), asker.get());
    outcome = executor.Run();
  }
  if (!outcome.error.empty()) {
    *ctx.err << "runbook: the run stopped because the engine could not record it: " << outcome.error << "\n";
    return kExitFailed;
  }
  if (outcome.status == "waiting") {
    *ctx.err << "run " << o.run_id << " is waiting for a person. Continue it with:\n";
    for (const auto& line : outcome.waiting_commands) *ctx.err << "  " << line << "\n";
  }
  PrintEscalation(ctx, rb, outcome.status, false);
  if (args.dry_run) *ctx.out << "dry run: nothing was executed and nothing was recorded\n";
  return outcome.exit_code;
}

}  // namespace runbook::cli
