#include "engine/plan.h"

#include <algorithm>

namespace runbook {

Plan::Plan(const std::vector<Step>& steps, const std::string& run_id)
    : graph_(steps),
      records_(steps.size()),
      untaken_(steps.size(), false),
      propagating_skip_(steps.size(), false),
      needs_(steps.size()),
      unfinished_needs_(steps.size(), 0),
      needed_by_(steps.size()),
      takes_slot_(steps.size(), false) {
  for (const auto& e : graph_.edges()) {
    needs_[e.step].push_back(e.need);
    needed_by_[e.need].push_back(e.step);
    ++unfinished_needs_[e.step];
  }
  for (int v = 0; v < size(); ++v) {
    records_[v].run_id = run_id;
    records_[v].step_id = graph_.step(v).id;
    records_[v].phase = graph_.step(v).in_finally ? "finally" : "main";
    takes_slot_[v] = graph_.step(v).kind == StepKind::kRun || graph_.step(v).kind == StepKind::kRunbook;
    Refresh(v);
  }
}

void Plan::Set(int v, StepStatus s, bool propagates) {
  bool was = IsFinished(records_[v].status), is = IsFinished(s);
  records_[v].status = s;
  propagating_skip_[v] = s == StepStatus::kSkipped && propagates;
  if (was != is)
    for (int d : needed_by_[v]) {
      unfinished_needs_[d] += is ? -1 : 1;
      Refresh(d);
    }
  Refresh(v);
}

void Plan::Refresh(int v) {
  auto& set = takes_slot_[v] ? ready_slot_ : ready_free_;
  if (records_[v].status == StepStatus::kPending && unfinished_needs_[v] == 0)
    set.insert(v);
  else
    set.erase(v);
}

std::vector<int> Plan::Ready(int slots) const {
  std::vector<int> out;
  if (halted_) return out;
  out.assign(ready_free_.begin(), ready_free_.end());
  size_t free = out.size();
  for (int v : ready_slot_) {
    if (slots >= 0 && static_cast<int>(out.size() - free) >= slots) break;
    out.push_back(v);
  }
  std::inplace_merge(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(free), out.end());
  return out;
}

Plan::Gate Plan::GateOf(int v) const {
  if (untaken_[v]) return Gate::kSkipUntakenBranch;
  if (graph_.step(v).when) return Gate::kEvaluateWhen;
  if (!needs_[v].empty() &&
      std::all_of(needs_[v].begin(), needs_[v].end(), [&](int n) { return propagating_skip_[n]; }))
    return Gate::kSkipNeedsSkipped;
  return Gate::kRun;
}

bool Plan::Transition(int v, StepStatus to, bool propagates) {
  if (!CanTransition(records_[v].status, to)) return false;
  Set(v, to, propagates);
  return true;
}

void Plan::Restore(int v, const StepRecord& r, bool propagating_skip) {
  StepStatus was = records_[v].status;  // Set() counts the change from what the plan had
  records_[v] = r;
  records_[v].status = was;
  Set(v, r.status, propagating_skip);
}

void Plan::Choose(int v, const std::string& value) {
  const Step& d = graph_.step(v);
  std::vector<std::string> taken;
  for (const auto& c : d.decision.choices)
    if (c.value == value)
      for (const auto& t : c.go_to) taken.push_back(t.value);
  for (const auto& c : d.decision.choices) {
    if (c.value == value) continue;
    for (const auto& t : c.go_to) {
      auto idx = graph_.Index(t.value);
      if (idx && std::find(taken.begin(), taken.end(), t.value) == taken.end()) untaken_[*idx] = true;
    }
  }
}

bool Plan::Done() const {
  return std::all_of(records_.begin(), records_.end(), [](const StepRecord& r) { return IsFinished(r.status); });
}

std::vector<int> Plan::InState(StepStatus s) const {
  std::vector<int> out;
  for (int v = 0; v < size(); ++v)
    if (records_[v].status == s) out.push_back(v);
  return out;
}

}  // namespace runbook
