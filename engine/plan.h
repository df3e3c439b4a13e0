// Which steps of one step list (the main steps, or finally) can start, as
// ninja's Plan does for edges, and the one owner of those steps' records:
// a step's status lives in its record here and changes only through
// Transition(), which refuses what CanTransition() (engine/lifecycle.h)
// does not allow. Pure: no processes, clock or SQL.
//
// SPEC 3.4: a step is ready when every one of its needs is finished
// (succeeded, failed, skipped). Then, in this order:
//   - a target of a decision's untaken choice is skipped, whatever its when;
//   - a step with its own `when` is decided by its `when` alone;
//   - a step every one of whose needs was skipped *by propagation* (by `when`
//     or an untaken branch) is skipped too;
//   - otherwise it runs. A manual step a person answered `skip` is skipped
//     without propagating: it counts as finished for the steps after it.
// After Halt() (a failure with on_failure: fail, an interrupt) nothing new
// is ready.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/lifecycle.h"
#include "engine/model.h"
#include "engine/store.h"

namespace runbook {

class Plan {
 public:
  // Every step `pending`, its record for run `run_id`.
  explicit Plan(const std::vector<Step>& steps, const std::string& run_id = "");

  const StepGraph& graph() const { return graph_; }
  int size() const { return graph_.size(); }
  StepStatus state(int v) const { return records_[v].status; }
  const StepRecord& record(int v) const { return records_[v]; }
  // The record's other fields (attempts, times, outputs...). Its status is
  // not to be set through this: only Transition() and Restore() change it.
  StepRecord& Edit(int v) { return records_[v]; }

  // Pending steps whose needs are all finished, in file order. With
  // `slots`, at most that many of those that run a process (run, runbook):
  // the others (manual, wait, decisions...) start without a slot. Kept up to
  // date as steps change state, so asking costs what it returns, not the
  // size of the runbook (ninja's ready set).
  std::vector<int> Ready(int slots = -1) const;

  enum class Gate { kRun, kEvaluateWhen, kSkipUntakenBranch, kSkipNeedsSkipped };
  Gate GateOf(int v) const;

  // Moves step `v` to `to`; false (and nothing changes) if the lifecycle
  // does not allow it. `propagates`: only for kSkipped; false for a
  // person's `skip`, which counts as finished for the steps after it.
  [[nodiscard]] bool Transition(int v, StepStatus to, bool propagates = true);
  // Puts back a record an earlier engine committed (resume), whatever its status.
  void Restore(int v, const StepRecord& r, bool propagating_skip);
  // The decision `v` took `value`: targets of the other choices will be skipped.
  void Choose(int v, const std::string& value);

  void Halt() { halted_ = true; }
  bool halted() const { return halted_; }
  // Every step succeeded, failed or was skipped.
  bool Done() const;
  std::vector<int> InState(StepStatus s) const;

 private:
  void Set(int v, StepStatus s, bool propagates);
  void Refresh(int v);

  StepGraph graph_;
  std::vector<StepRecord> records_;
  std::vector<bool> untaken_;
  std::vector<bool> propagating_skip_;
  std::vector<std::vector<int>> needs_;  // step -> the steps it needs
  std::vector<int> unfinished_needs_;  // per step: how many of its needs are not finished
  std::vector<std::vector<int>> needed_by_;  // step -> the steps that need it
  std::vector<bool> takes_slot_;
  std::set<int> ready_slot_, ready_free_;  // pending, every need finished; by whether it takes a slot
  bool halted_ = false;
};

}  // namespace runbook
