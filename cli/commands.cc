#include "cli/commands.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <map>
#include <ostream>

#include "cli/console.h"
#include "cli/plan_view.h"
#include "state/copy.h"
#include "steps/posix_host.h"
#include "state/open_store.h"
#include "serve/guard.h"
#include "serve/server.h"
#include "steps/bash_syntax.h"
#include "steps/posix_runner.h"
#include "engine/embedded.h"
#include "engine/graph.h"
#include "engine/inputs.h"
#include "engine/loader.h"
#include "engine/session.h"
#include "engine/shell_syntax.h"

namespace runbook::cli {
namespace {

// Resolves and loads a runbook, printing every diagnostic. Returns nullopt
// (after printing why) when it cannot be used.
std::optional<LoadedRunbook> LoadValid(const Context& ctx, const std::string& target) {
  std::string error;
  auto file = ResolveRunbook(target, ctx.runbook_path, &error);
  if (!file) {
    *ctx.err << "runbook: " << error << "\n";
    return std::nullopt;
  }
  LoadedRunbook loaded = LoadRunbook(*file, ctx.runbook_path);
  *ctx.err << loaded.FormatDiagnostics();
  if (!loaded.ok()) {
    *ctx.err << *file << ": " << loaded.diags.ErrorCount() << " error"
             << (loaded.diags.ErrorCount() == 1 ? "" : "s") << "; nothing was run\n";
    return std::nullopt;
  }
  return loaded;
}

}  // namespace

int Validate(const Context& ctx, const std::vector<std::string>& targets) {
  int status = kExitOk;
  for (const auto& target : targets) {
    std::string error;
    auto file = ResolveRunbook(target, ctx.runbook_path, &error);
    if (!file) {
      *ctx.err << "runbook: " << error << "\n";
      status = kExitUsage;
      continue;
    }
    LoadedRunbook loaded = LoadRunbook(*file, ctx.runbook_path);
    BashSyntax bash;  // what an import or a paste leaves behind: a script bash cannot read
    LintShellSyntax(loaded.runbook, bash, &loaded.diags);
    *ctx.err << loaded.FormatDiagnostics();
    int errors = loaded.diags.ErrorCount();
    if (errors > 0) {
      *ctx.err << *file << ": " << errors << " error" << (errors == 1 ? "" : "s") << "\n";
      status = kExitUsage;
    } else {
      size_t n = loaded.runbook.steps.size() + loaded.runbook.finally.size();
      *ctx.out << *file << ": ok (" << n << " step" << (n == 1 ? "" : "s") << ")\n";
    }
  }
  return status;
}

int Plan(const Context& ctx, const std::string& target, const std::vector<std::string>& inputs) {
  auto loaded = LoadValid(ctx, target);
  if (!loaded) return kExitUsage;
  std::map<std::string, std::string> given;
  for (const auto& kv : inputs) {
    auto pair = SplitAssignment(kv);
    if (!pair) {
      *ctx.err << "runbook: --input takes KEY=VALUE, got '" << kv << "'\n";
      return kExitUsage;
    }
    given[pair->first] = pair->second;
  }
  InputValues values = ResolveInputs(loaded->runbook, given, [](const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  });
  for (const auto& e : values.errors) *ctx.err << "runbook: " << e << "\n";
  if (!values.errors.empty()) return kExitUsage;
  *ctx.out << RenderPlan(loaded->runbook, values);
  return kExitOk;
}

int Graph(const Context& ctx, const std::string& target, const std::string& format) {
  auto loaded = LoadValid(ctx, target);
  if (!loaded) return kExitUsage;
  // finally steps form their own graph; draw both in one picture.
  std::vector<Step> all = loaded->runbook.steps;
  all.insert(all.end(), loaded->runbook.finally.begin(), loaded->runbook.finally.end());
  StepGraph graph(all);
  *ctx.out << (format == "dot" ? graph.Dot(loaded->runbook.name) : graph.Mermaid());
  return kExitOk;
}

int List(const Context& ctx, bool names_only) {
  auto files = ListRunbookFiles(ctx.runbook_path);
  if (names_only) {  // what `runbook run NAME` takes, one per line
    for (const auto& file : files) *ctx.out << std::filesystem::path(file).stem().string() << "\n";
    return kExitOk;
  }
  if (files.empty()) {
    std::string folders;
    for (const auto& d : ctx.runbook_path) folders += (folders.empty() ? "" : ":") + d;
    *ctx.out << "no runbooks in " << folders << " (set RUNBOOK_PATH)\n";
    return kExitOk;
  }
  // The last run of each, from the state database when there is one. Runs
  // are recorded in the state of the folder they started from, so "never"
  // is only said of a database that was read; the footer names it.
  std::map<std::string, RunRecord> last;
  std::string state_path = StatePath(ctx.state);
  std::string read_from;  // empty: no run was read, so none is "never"
  std::string unread_why = "no state database at " + state_path;
  if (StateExists(state_path)) {
    auto store = OpenStoreForReading(state_path);
    auto runs = store.ok() ? store.value()->ListRuns({}) : Result<std::vector<RunRecord>>(store.status());
    if (runs.ok()) {
      read_from = ShownState(state_path);
      for (const auto& r : *runs) last.emplace(r.runbook, r);  // newest first: keep the first
    } else {
      unread_why = runs.status().message();
    }
  }
  *ctx.out << std::left << std::setw(26) << "NAME" << std::setw(44) << "TITLE" << std::setw(8) << "RTO"
           << std::setw(8) << "RPO" << "LAST RUN\n";
  for (const auto& file : files) {
    LoadedRunbook loaded = LoadRunbook(file, ctx.runbook_path);
    const Runbook& rb = loaded.runbook;
    std::string name = std::filesystem::path(file).stem().string();
    std::string title = loaded.ok() ? rb.Title()
                                    : "(invalid: " + std::to_string(loaded.diags.ErrorCount()) +
                                          " errors; see runbook validate " + name + ")";
    auto it = last.find(loaded.ok() ? rb.name : name);
    std::string last_run = it != last.end() ? Rfc3339(it->second.started_at) + " " + ToString(it->second.status) + " (" +
                                                  it->second.id + ")"
                           : read_from.empty() ? "unknown" : "never";
    if (loaded.ok() && title.size() > 42) title = title.substr(0, 39) + "...";  // never into the next column
    *ctx.out << std::setw(26) << name << std::setw(44) << title << std::setw(8)
             << (rb.rto ? FormatDuration(*rb.rto) : "-") << std::setw(8) << (rb.rpo ? FormatDuration(*rb.rpo) : "-")
             << last_run << "\n";
  }
  if (read_from.empty())
    *ctx.out << "\nlast runs unknown: " << unread_why
             << " (runs are recorded in .runbook/ of the folder they start from; --state or RUNBOOK_STATE picks one)\n";
  else
    *ctx.out << "\nlast runs from " << read_from << "\n";
  return kExitOk;
}

int Prune(const Context& ctx, const std::string& older_than) {
  auto age = ParseDuration(older_than);
  if (!age) {
    *ctx.err << "runbook: invalid duration '" << older_than << "' for --older-than (e.g. 30d, 12h)\n";
    return kExitUsage;
  }
  std::string path = StatePath(ctx.state);
  if (!std::filesystem::exists(path)) {
    *ctx.out << "nothing to prune: no state database at " << path << "\n";
    return kExitOk;
  }
  if (IsPostgres(path)) {
    *ctx.err << "runbook: prune works on a SQLite file; on PostgreSQL, delete old runs with SQL (see "
                "docs/durability.md)\n";
    return kExitUsage;
  }
  auto store = SqliteStore::Open(path, Durability::kCrash);
  if (!store.ok()) {
    *ctx.err << "runbook: " << store.status().message() << "\n";
    return kExitFailed;
  }
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  auto n = store.value()->Prune(now - age->count());
  if (!n.ok()) {
    *ctx.err << "runbook: " << n.status().message() << "\n";
    return kExitFailed;
  }
  *ctx.out << "pruned " << *n << " finished run" << (*n == 1 ? "" : "s") << " older than " << older_than << "\n";
  return kExitOk;
}

int Schema(const Context& ctx) {
  auto schema = embedded::Find(embedded::kSchema, "runbook.schema.json");
  *ctx.out << *schema;
  return kExitOk;
}

int Serve(const Context& ctx, const std::string& listen) {
  serve::Options o;
  size_t colon = listen.rfind(':');
  std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  o.host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
  if (o.host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    *ctx.err << "runbook: --listen takes HOST:PORT (127.0.0.1:8080; port 0 for any free one), got '" << listen << "'\n";
    return kExitUsage;
  }
  o.port = std::stoi(port);
  o.state = StatePath(ctx.state);
  o.runbook_path = ctx.runbook_path;
  return serve::Serve(o, *ctx.out, *ctx.err);
}

int TokenAdd(const Context& ctx, const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) ok &= std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '@';
  if (!ok) {
    *ctx.err << "runbook: a token's name is 1 to 64 letters, digits, '.', '-', '_' or '@', got '" << name << "'\n";
    return kExitUsage;
  }
  std::string spec = StatePath(ctx.state);
  auto store = OpenStore(spec, Durability::kCrash);
  if (!store.ok()) {
    *ctx.err << "runbook: " << store.status().message() << "\n";
    return ExitCodeOf(store.status());
  }
  std::string token = serve::NewToken();
  Status s = (*store)->AddToken(name, Sha256(token), SystemClock().WallMs());
  if (!s.ok()) {
    *ctx.err << "runbook: " << s.message() << "\n";
    return kExitFailed;
  }
  *ctx.err << "a token for " << name << " in " << ShownState(spec)
           << ": give it to them; it is shown only now (the store keeps its sha256), and replaces any earlier one\n";
  *ctx.out << token << "\n";
  return kExitOk;
}

int TokenList(const Context& ctx) {
  auto store = OpenStoreForReading(StatePath(ctx.state));
  if (!store.ok()) {
    *ctx.out << "no tokens\n";
    return store.status().IsNotFound() ? kExitOk : kExitFailed;
  }
  auto tokens = (*store)->ListTokens();
  if (!tokens.ok()) {
    *ctx.err << "runbook: " << tokens.status().message() << "\n";
    return kExitFailed;
  }
  if (tokens->empty()) *ctx.out << "no tokens\n";
  for (const auto& [name, at] : *tokens) *ctx.out << name << "  added " << Rfc3339(at) << "\n";
  return kExitOk;
}

int StateCopy(const Context& ctx, const std::string& from_flag, const std::string& to_flag) {
  std::string from = StatePath(from_flag), to = StatePath(to_flag);
  for (const auto& spec : {from, to})
    if (Status s = CheckStateSpec(spec); !s.ok()) {
      *ctx.err << "runbook: " << s.message() << "\n";
      return kExitUsage;
    }
  if (from == to) {
    *ctx.err << "runbook: FROM and TO are the same store\n";
    return kExitUsage;
  }
  auto src = OpenStoreForReading(from);
  if (!src.ok()) {
    *ctx.err << "runbook: " << src.status().message() << "\n";
    return ExitCodeOf(src.status());
  }
  auto dst = OpenStore(to, Durability::kCrash);
  if (!dst.ok()) {
    *ctx.err << "runbook: " << dst.status().message() << "\n";
    return ExitCodeOf(dst.status());
  }
  PosixHost host;
  StateStore& source = **src;
  auto report = CopyRuns(source, **dst, [&](const RunRecord& r) {
    return source.OwnerAlive(r, [&](const RunRecord& x) { return host.IsLive(x); });
  });
  if (!report.ok()) {
    *ctx.err << "runbook: " << report.status().message() << "\n";
    return kExitFailed;
  }
  for (const auto& s : report->skipped) *ctx.err << "skipped " << s << "\n";
  *ctx.out << "copied " << report->copied << " run" << (report->copied == 1 ? "" : "s") << " from " << ShownState(from)
           << " to " << ShownState(to) << ", each read back from both and equal; " << report->already
           << " already there and equal\n";
  return report->skipped.empty() ? kExitOk : kExitFailed;
}

}  // namespace runbook::cli
