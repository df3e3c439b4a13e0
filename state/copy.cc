#include "state/copy.h"

#include <sstream>
#include <tuple>

namespace runbook {
namespace {

struct Record {
  RunRecord run;
  std::vector<StepRecord> steps;
  std::vector<AttemptRecord> attempts;
  std::vector<DecisionRecord> decisions;
  std::vector<EventRecord> events;
};

Result<Record> Read(StateStore& s, const std::string& id) {
  Record r;
  auto run = s.GetRun(id);
  if (!run.ok()) return run.status();
  r.run = *run;
  auto steps = s.GetSteps(id);
  auto attempts = s.GetAttempts(id);
  auto decisions = s.GetDecisions(id);
  auto events = s.GetEvents(id);
  for (const Status* e : {&steps.status(), &attempts.status(), &decisions.status(), &events.status()})
    if (!e->ok()) return *e;
  r.steps = *steps;
  r.attempts = *attempts;
  r.decisions = *decisions;
  r.events = *events;
  return r;
}

auto Key(const RunRecord& r) {
  return std::tie(r.id, r.parent_run, r.parent_step, r.runbook, r.path, r.source, r.sha256, r.inputs, r.secret_inputs,
                  r.user, r.host, r.workdir, r.pid, r.owner_user, r.owner_host, r.owner_start, r.owner_since,
                  r.tmp_dir, r.status, r.phase, r.outcome, r.reason, r.started_at, r.finished_at);
}
auto Key(const StepRecord& s) {
  return std::tie(s.run_id, s.step_id, s.phase, s.status, s.reason, s.attempts, s.exit_code, s.started_at,
                  s.finished_at, s.outputs, s.masked_outputs, s.completed_seq, s.rollback);
}
auto Key(const AttemptRecord& a) {
  return std::tie(a.run_id, a.step_id, a.kind, a.number, a.check, a.try_number, a.name, a.command, a.child_run,
                  a.status, a.reason, a.exit_code, a.started_at, a.finished_at, a.out, a.err, a.truncated);
}
auto Key(const DecisionRecord& d) { return std::tie(d.run_id, d.step_id, d.value, d.source, d.by, d.at, d.overrode); }
auto Key(const EventRecord& e) { return std::tie(e.run_id, e.at, e.step_id, e.kind, e.message); }  // not seq

template <class T>
std::string Diff(const char* what, const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size())
    return std::string(what) + ": " + std::to_string(a.size()) + " against " + std::to_string(b.size());
  for (size_t i = 0; i < a.size(); ++i)
    if (Key(a[i]) != Key(b[i])) return std::string(what) + " #" + std::to_string(i + 1) + " differs";
  return "";
}

std::string Diff(const Record& a, const Record& b) {
  if (Key(a.run) != Key(b.run)) return "the run record differs";
  for (const std::string& d : {Diff("steps", a.steps, b.steps), Diff("attempts", a.attempts, b.attempts),
                               Diff("decisions", a.decisions, b.decisions), Diff("events", a.events, b.events)})
    if (!d.empty()) return d;
  return "";
}

}  // namespace

std::string CompareRun(StateStore& a, StateStore& b, const std::string& id) {
  auto x = Read(a, id);
  auto y = Read(b, id);
  if (!x.ok()) return x.status().message();
  if (!y.ok()) return y.status().message();
  return Diff(*x, *y);
}

Result<CopyReport> CopyRuns(StateStore& from, StateStore& to, const LivenessCheck& alive) {
  RunFilter all;
  all.top_level_only = false;
  auto runs = from.ListRuns(all);
  if (!runs.ok()) return runs.status();
  CopyReport report;
  // Oldest first: a parent before its children, and the destination's
  // events numbered in the order they happened.
  for (auto it = runs->rbegin(); it != runs->rend(); ++it) {
    const RunRecord& run = *it;
    if (run.status == RunStatus::kRunning && alive(run)) {
      report.skipped.push_back(run.id + ": a live engine drives it (copy it when it has stopped)");
      continue;
    }
    auto there = to.GetRun(run.id);
    if (there.ok()) {
      std::string d = CompareRun(from, to, run.id);
      if (d.empty())
        ++report.already;
      else
        report.skipped.push_back(run.id + ": the destination has another record of it (" + d + ")");
      continue;
    }
    if (!there.status().IsNotFound()) return there.status();
    auto rec = Read(from, run.id);
    if (!rec.ok()) return rec.status();
    Batch b;
    b.new_run = rec->run;
    b.steps = rec->steps;
    b.attempts = rec->attempts;
    b.decisions = rec->decisions;
    for (auto e : rec->events) {
      e.seq = 0;  // the destination numbers them
      b.events.push_back(std::move(e));
    }
    b.sync = true;
    if (Status s = to.Commit(b); !s.ok()) return s.Prefixed("copying run " + run.id);
    std::string d = CompareRun(from, to, run.id);
    if (!d.empty()) return Status::Corrupt("run " + run.id + " was copied but reads back differently: " + d);
    ++report.copied;
  }
  return report;
}

}  // namespace runbook
