// `runbook runs`, `show` and `logs`: read-only views of the state database.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <set>
#include <thread>
#include <nlohmann/json.hpp>

#include "templates/run_json.h"
#include <ostream>

#include "cli/console.h"
#include "cli/run_command.h"
#include "engine/parser.h"
#include "engine/suggest.h"
#include "state/open_store.h"
#include "steps/posix_host.h"

namespace runbook::cli {
namespace {

using nlohmann::json;

}  // namespace

std::unique_ptr<StateStore> OpenExistingStore(const Context& ctx, const std::string& state, bool write) {
  std::string path = StatePath(state);
  auto s = !write ? OpenStoreForReading(path)
           : StateExists(path) ? OpenStore(path, Durability::kCrash)
                               : Result<std::unique_ptr<StateStore>>(Status::NotFound(path));
  if (!s.ok() && s.status().IsNotFound()) {
    *ctx.err << "runbook: no state database at " << path << " (no run has been recorded here; see --state)\n";
    return nullptr;
  }
  if (!s.ok()) {
    *ctx.err << "runbook: " << s.status().message() << "\n";
    return nullptr;
  }
  return std::move(s.value());
}

std::optional<std::string> ResolveRunOrSay(const Context& ctx, StateStore& store, const std::string& ref,
                                           int* exit_code) {
  auto id = store.ResolveRun(ref);
  if (!id.ok()) {
    *ctx.err << "runbook: " << id.status().message() << "\n";
    *exit_code = ExitCodeOf(id.status());
    return std::nullopt;
  }
  return *id;
}

namespace {



// --follow: the run's timeline as it is recorded, and each attempt's output
// as it is committed (about once a second while it runs, then whole), until
// the run stops (another engine writes; we poll the database, which is all
// we share with it).
int Follow(const Context& ctx, StateStore& store, const std::string& id, const std::string& step) {
  int64_t seen_event = 0;
  std::set<std::string> shown;                             // attempts printed to their end
  std::map<std::string, std::pair<size_t, size_t>> upto;   // how much of a running one's out and err is printed
  auto more = [&](const std::string& text, size_t* printed) {
    if (text.size() <= *printed) return;
    *ctx.out << text.substr(*printed);
    *printed = text.size();
  };
  while (true) {
    // The run's status first: once it has stopped, every event it committed
    // is read below, the last ones too.
    auto run = store.GetRun(id);
    bool over = !run.ok() || run->status != RunStatus::kRunning;
    auto events = store.GetEvents(id);
    if (events.ok())
      for (const auto& e : *events) {
        if (e.seq <= seen_event) continue;
        seen_event = e.seq;
        if (step.empty() || e.step_id == step)
          *ctx.out << Rfc3339(e.at) << " " << e.kind << (e.step_id.empty() ? "" : " " + e.step_id) << ": "
                   << e.message << "\n";
      }
    auto attempts = store.GetAttempts(id);
    if (attempts.ok())
      for (const auto& a : *attempts) {
        std::string key = a.step_id + "/" + ToString(a.kind) + "/" + std::to_string(a.number) + "/" +
                          std::to_string(a.check) + "/" + std::to_string(a.try_number);
        if (shown.count(key) || (!step.empty() && a.step_id != step)) continue;
        auto& [out, err] = upto[key];
        more(a.out, &out);
        more(a.err, &err);
        if (a.status == AttemptStatus::kRunning) continue;
        shown.insert(key);
        if (!a.out.empty() && a.out.back() != '\n') *ctx.out << "\n";
        if (!a.err.empty() && a.err.back() != '\n') *ctx.out << "\n";
      }
    ctx.out->flush();
    if (over) return kExitOk;
    (void)store.WaitForChange(1000);  // another engine's commit wakes it (a NOTIFY, or data_version)
  }
}

}  // namespace

int Runs(const Context& ctx, const std::string& state, const std::string& runbook, const std::string& status,
         bool as_json) {
  std::optional<RunStatus> only;
  if (!status.empty()) {
    only = Parse<RunStatus>(status);
    if (!only) {
      std::string all;
      for (const char* n : EnumNames<RunStatus>::kNames) all += (all.empty() ? "" : ", ") + std::string(n);
      *ctx.err << "runbook: unknown run status '" << status << "': expected one of " << all << "\n";
      return kExitUsage;
    }
  }
  std::string path = StatePath(state);
  if (!StateExists(path)) {
    *ctx.out << (as_json ? "[]\n" : "no runs (no state database at " + path + ")\n");
    return kExitOk;
  }
  auto store = OpenExistingStore(ctx, state);
  if (!store) return kExitFailed;
  if (!as_json) *ctx.err << "state database " << ShownState(StatePath(state)) << "\n";
  auto runs = store->ListRuns({runbook, only, true});
  PosixHost host;
  if (!runs.ok()) {
    *ctx.err << "runbook: " << runs.status().message() << "\n";
    return kExitFailed;
  }
  if (as_json) {
    *ctx.out << Dump(RunsJson(*runs, [&](const RunRecord& r) { return store->OwnerAlive(r, [&](const RunRecord& x) { return host.IsLive(x); }); })) << "\n";
    return kExitOk;
  }
  if (runs->empty()) {
    *ctx.out << "no runs\n";
    return kExitOk;
  }
  *ctx.out << std::left << std::setw(24) << "RUN" << std::setw(24) << "RUNBOOK" << std::setw(21) << "STATUS"
           << std::setw(26) << "STARTED" << std::setw(10) << "DURATION" << "BY\n";
  for (const auto& r : *runs) {
    std::string status = ToString(r.status);
    if (r.status == RunStatus::kRunning && !store->OwnerAlive(r, [&](const RunRecord& x) { return host.IsLive(x); }))
      status += " (orphaned)";  // its engine died
    *ctx.out << std::setw(24) << r.id << std::setw(24) << r.runbook << std::setw(21) << status
             << std::setw(26)
             << Rfc3339(r.started_at) << std::setw(10)
             << (r.finished_at ? HumanDuration(r.finished_at - r.started_at) : "-") << r.user << "@" << r.host << "\n";
  }
  return kExitOk;
}

int Show(const Context& ctx, const ShowArgs& args) {
  auto store = OpenExistingStore(ctx, args.state);
  if (!store) return kExitFailed;
  int code = kExitUsage;
  auto id = ResolveRunOrSay(ctx, *store, args.run, &code);
  if (!id) return code;
  auto run = store->GetRun(*id);
  auto steps = store->GetSteps(*id);
  if (!run.ok() || !steps.ok()) {
    *ctx.err << "runbook: " << (run.ok() ? steps.status() : run.status()).message() << "\n";
    return kExitFailed;
  }
  if (args.json) {
    auto j = ShowJson(*store, *id);
    if (!j.ok()) {
      *ctx.err << "runbook: " << j.status().message() << "\n";
      return kExitFailed;
    }
    *ctx.out << Dump(*j) << "\n";
    return kExitOk;
  }
  const RunRecord& r = *run;
  *ctx.err << "state database " << ShownState(StatePath(args.state)) << "\n";
  *ctx.out << "run      " << r.id << "\nrunbook  " << r.runbook << " (" << r.path << ")\nstatus   " << ToString(r.status)
           << (r.reason.empty() ? "" : " (" + r.reason + ")") << "\nby       " << r.user << "@" << r.host
           << " in " << r.workdir << "\nstarted  " << Rfc3339(r.started_at) << "\nfinished "
           << (r.finished_at ? Rfc3339(r.finished_at) + " (" + HumanDuration(r.finished_at - r.started_at) + ")" : "-")
           << "\n";
  if (auto rto = RtoOf(r)) *ctx.out << "RTO      " << rto->text << "\n";
  if (!r.inputs.empty()) {
    *ctx.out << "inputs  ";
    for (const auto& [k, v] : r.inputs) *ctx.out << " " << k << "=" << v;
    *ctx.out << "\n";
  }
  auto continued = ContinuedOnFailure(r);
  *ctx.out << "\n" << std::left << std::setw(26) << "STEP" << std::setw(19) << "STATUS" << std::setw(14) << "REASON"
           << std::setw(10) << "ATTEMPTS" << std::setw(6) << "EXIT" << "DURATION\n";
  for (const auto& s : *steps) {
    bool went_on = s.status == StepStatus::kFailed && continued.count(s.step_id);
    *ctx.out << std::setw(26) << (s.phase == "finally" ? s.step_id + " (finally)" : s.step_id) << std::setw(19)
             << (went_on ? "failed, continued" : ToString(s.status)) << std::setw(14) << (s.reason == Reason::kNone ? "-" : ToString(s.reason))
             << std::setw(10) << s.attempts
             << std::setw(6) << (s.exit_code ? std::to_string(*s.exit_code) : "-")
             << (s.started_at && s.finished_at ? HumanDuration(s.finished_at - s.started_at) : "-") << "\n";
  }
  return kExitOk;
}

int Logs(const Context& ctx, const std::string& state, const std::string& run, const std::string& step, int attempt,
         bool follow) {
  auto store = OpenExistingStore(ctx, state);
  if (!store) return kExitFailed;
  int code = kExitUsage;
  auto id = ResolveRunOrSay(ctx, *store, run, &code);
  if (!id) return code;
  if (!step.empty() && step != "preflight") {
    auto steps = store->GetSteps(*id);
    std::vector<std::string> ids;
    if (steps.ok())
      for (const auto& st : *steps) ids.push_back(st.step_id);
    if (steps.ok() && std::find(ids.begin(), ids.end(), step) == ids.end()) {
      *ctx.err << "runbook: run " << *id << " has no step '" << step << "'" << DidYouMean(step, ids) << "\n";
      return kExitUsage;
    }
  }
  if (follow) return Follow(ctx, *store, *id, step);
  auto attempts = store->GetAttempts(*id);
  if (!attempts.ok()) {
    *ctx.err << "runbook: " << attempts.status().message() << "\n";
    return kExitFailed;
  }
  bool any = false;
  for (const auto& a : *attempts) {
    if (!step.empty() && a.step_id != step) continue;
    bool command = a.kind == AttemptKind::kRun;
    if (attempt > 0 && !(command && a.number == attempt)) continue;
    any = true;
    *ctx.out << "== " << a.step_id << " " << ToString(a.kind) << (command ? " attempt " + std::to_string(a.number) : "")
             << (a.name.empty() ? "" : " (" + a.name + ")") << ": " << ToString(a.status)
             << (a.exit_code ? " exit " + std::to_string(*a.exit_code) : "") << "\n$ " << a.command << "\n";
    if (a.truncated) *ctx.out << "[output truncated: the tail is kept]\n";
    *ctx.out << a.out;
    if (!a.out.empty() && a.out.back() != '\n') *ctx.out << "\n";
    if (!a.err.empty()) {
      *ctx.out << "-- stderr --\n" << a.err;
      if (a.err.back() != '\n') *ctx.out << "\n";
    }
  }
  if (!any && !step.empty()) {
    *ctx.err << "runbook: step '" << step << "' of run " << *id << " has not run: no output is recorded\n";
    return kExitOk;
  }
  return kExitOk;
}

}  // namespace runbook::cli
