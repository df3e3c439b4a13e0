#include "engine/plan.h"

#include <algorithm>

namespace runbook {

const char* ToString(StepState s) {
  switch (s) {
    case StepState::kPending: return "pending";
    case StepState::kRunning: return "running";
    case StepState::kWaiting: return "waiting";
    case StepState::kSucceeded: return "succeeded";
    case StepState::kFailed: return "failed";
    case StepState::kSkipped: return "skipped";
    case StepState::kInterrupted: return "interrupted";
  }
  return "?";
}

bool IsFinished(StepState s) {
  return s == StepState::kSucceeded || s == StepState::kFailed || s == StepState::kSkipped;
}

Plan::Plan(const std::vector<Step>& steps)
    : graph_(steps),
      state_(steps.size(), StepState::kPending),
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
    takes_slot_[v] = graph_.step(v).kind == StepKind::kRun || graph_.step(v).kind == StepKind::kRunbook;
    Refresh(v);
  }
}

void Plan::Set(int v, StepState s) {
  bool was = IsFinished(state_[v]), is = IsFinished(s);
  state_[v] = s;
  if (was != is)
    for (int d : needed_by_[v]) {
      unfinished_needs_[d] += is ? -1 : 1;
      Refresh(d);
    }
  Refresh(v);
}

void Plan::Refresh(int v) {
  auto& set = takes_slot_[v] ? ready_slot_ : ready_free_;
  if (state_[v] == StepState::kPending && unfinished_needs_[v] == 0)
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

void Plan::Finish(int v, StepState s, bool propagates) {
  Set(v, s);
  propagating_skip_[v] = s == StepState::kSkipped && propagates;
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
  return std::all_of(state_.begin(), state_.end(), IsFinished);
}

std::vector<int> Plan::InState(StepState s) const {
  std::vector<int> out;
  for (int v = 0; v < size(); ++v)
    if (state_[v] == s) out.push_back(v);
  return out;
}

}  // namespace runbook
