// What one step's write-ahead commit costs in the real store (bench/goals.py
// reports it; issue 7's "remaining floor"). Each commit is the batch the
// executor writes per step of a chain: the previous step's result (its step
// row, attempt and event) and the next step's start (the same three), as
// SqliteStore::Commit writes them: one transaction in WAL mode.
//
//   commit_floor DIR N     N commits twice into DIR/hot.db and DIR/cold.db
//   commit_floor postgresql://... N
//                          the same into that database (two runs of it)
//
// hot:  commits back to back, caches warm: SQLite's own cost.
// cold: a step process (/bin/sh -c true, started and reaped by the real
//       PosixRunner) between commits, as in a run: the same work then meets
//       caches the process start and exit have evicted.
// Prints the median and 90th percentile of each, in microseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/lifecycle.h"
#include "state/open_store.h"
#include "steps/posix_runner.h"

namespace runbook {
namespace {

using Micros = std::chrono::duration<double, std::micro>;

std::string Id(int i) {
  std::string id = "s";
  id += std::to_string(i);  // not "s" + ...: GCC 12 warns falsely on that at -O3 (-Wrestrict)
  return id;
}

StepRecord Step(const std::string& run, int i, const std::string& status) {
  StepRecord r;
  r.run_id = run;
  r.step_id = Id(i);
  r.status = *Parse<StepStatus>(status);
  r.attempts = 1;
  r.started_at = 1764470000000 + i;
  if (status == "succeeded") {
    r.exit_code = 0;
    r.finished_at = r.started_at + 1;
    r.completed_seq = i;
  }
  return r;
}

AttemptRecord Attempt(const std::string& run, int i, const std::string& status) {
  AttemptRecord a;
  a.run_id = run;
  a.step_id = Id(i);
  a.command = "true";
  a.status = *Parse<AttemptStatus>(status);
  a.started_at = 1764470000000 + i;
  if (status == "succeeded") {
    a.exit_code = 0;
    a.finished_at = a.started_at + 1;
  }
  return a;
}

EventRecord Event(const std::string& run, int i, const std::string& kind, const std::string& message) {
  EventRecord e;
  e.run_id = run;
  e.at = 1764470000000 + i;
  e.step_id = Id(i);
  e.kind = kind;
  e.message = message;
  return e;
}

// Microseconds of each of n - 1 step commits; with `runner`, a step process
// runs to its end before each.
std::vector<double> Measure(const std::string& path, int n, PosixRunner* runner) {
  auto store = OpenStore(path, Durability::kCrash);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    std::exit(1);
  }
  const std::string run = "20261130-000000-bench-" + std::to_string(runner != nullptr) + "-" +
                          std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  Batch first;
  RunRecord r;
  r.id = run;
  r.runbook = "bench";
  first.new_run = r;
  for (int i = 0; i < n; ++i) first.Add(Step(run, i, "pending"));
  if (!(*store)->Commit(first).ok()) std::exit(1);
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", "true"};
  spec.workdir = "/";
  std::vector<double> times;
  for (int i = 1; i < n; ++i) {
    if (runner) {
      if (!runner->Start(spec).ok()) std::exit(1);
      while (runner->running()) runner->Wait(std::nullopt);
    }
    Batch b;
    b.Add(Step(run, i - 1, "succeeded")).Add(Attempt(run, i - 1, "succeeded")).Add(Event(run, i - 1, "step.succeeded", "succeeded"));
    b.Add(Step(run, i, "running")).Add(Attempt(run, i, "running")).Add(Event(run, i, "step.running", "attempt 1: true"));
    auto start = std::chrono::steady_clock::now();
    if (!(*store)->Commit(b).ok()) std::exit(1);
    times.push_back(Micros(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times;
}

}  // namespace
}  // namespace runbook

int main(int argc, char** argv) {
  int n = argc == 3 ? std::atoi(argv[2]) : 0;
  if (n < 2) {  // n - 1 commits are timed: at least one
    std::fprintf(stderr, "usage: commit_floor DIR N (N >= 2)\n");
    return 2;
  }
  std::string dir = argv[1];
  runbook::SystemClock clock;
  runbook::PosixRunner runner(&clock);
  bool pg = runbook::IsPostgres(dir);
  auto hot = runbook::Measure(pg ? dir : dir + "/hot.db", n, nullptr);
  auto cold = runbook::Measure(pg ? dir : dir + "/cold.db", n, &runner);
  auto at = [](const std::vector<double>& v, double q) { return v[static_cast<size_t>(q * (v.size() - 1))]; };
  std::printf("hot p50 %.1f p90 %.1f cold p50 %.1f p90 %.1f\n", at(hot, 0.5), at(hot, 0.9), at(cold, 0.5), at(cold, 0.9));
  return 0;
}
