#include "engine/resume.h"

#include <algorithm>

namespace runbook {

void RestoreAsRecorded(Plan& plan, const ResumeState& st) {
  std::set<std::string> skipped_by_person;
  for (const auto& d : st.decisions)
    if (d.value == "skip" && (d.source == AnswerSource::kAnswer || d.source == AnswerSource::kTty ||
                              d.source == AnswerSource::kWeb))
      skipped_by_person.insert(d.step_id);
  for (const auto& r : st.steps) {
    auto v = plan.graph().Index(r.step_id);
    if (!v || plan.graph().step(*v).in_finally != (r.phase == "finally")) continue;
    plan.Restore(*v, r, r.status == StepStatus::kSkipped && !skipped_by_person.count(r.step_id));
    const auto& s = plan.graph().step(*v);
    if (s.kind == StepKind::kDecision && r.status == StepStatus::kSucceeded && r.outputs.count("choice") &&
        !std::count(st.rerun.begin(), st.rerun.end(), s.id))
      plan.Choose(*v, r.outputs.at("choice"));
  }
}

Restarted RestartUnfinished(Plan& plan, const ResumeState& st, const std::map<std::string, std::string>& answers,
                            const std::string& who, int64_t now, int64_t* completed_seq) {
  Restarted out;
  Batch* b = &out.batch;
  std::set<int> rerun;
  for (const auto& id : st.rerun) {
    auto v = plan.graph().Index(id);
    if (!v) continue;
    rerun.insert(*v);
    for (int d = 0; d < plan.size(); ++d)
      if (plan.graph().Ancestors(d)[*v]) rerun.insert(d);
  }
  std::map<std::string, std::string> last_child;
  for (const auto& a : st.attempts)
    if (a.kind == AttemptKind::kRun && !a.child_run.empty()) last_child[a.step_id] = a.child_run;
  for (int v = 0; v < plan.size(); ++v) {
    const auto& s = plan.graph().step(v);
    StepRecord r = plan.record(v);
    StepStatus was = r.status;
    auto answer = answers.find(s.id);
    bool unfinished = was == StepStatus::kFailed || was == StepStatus::kRunning ||
                      was == StepStatus::kInterrupted || was == StepStatus::kWaiting;
    bool attested = answer != answers.end() && answer->second == "done" && s.kind != StepKind::kManual &&
                    s.kind != StepKind::kDecision && unfinished;
    if (!rerun.count(v)) {
      if (attested) {
        r.status = StepStatus::kSucceeded;
        r.reason = Reason::kNone;
        r.finished_at = now;
        r.completed_seq = ++*completed_seq;
        plan.Restore(v, r, false);
        b->Add(r).Add(EventRecord{0, r.run_id, now, s.id, "step.succeeded", "attested done by " + who});
        b->Add(DecisionRecord{r.run_id, s.id, "done", AnswerSource::kAnswer, who, now, ""});
        continue;
      }
      if (was == StepStatus::kSucceeded || was == StepStatus::kSkipped || was == StepStatus::kRolledBack) continue;
      if (was == StepStatus::kFailed && s.continue_on_failure) {
        // Its failure was an answer, not an abort: once a step after it has
        // run, that answer has been acted on and stands.
        bool consumed = false;
        for (const auto& e : plan.graph().edges())
          if (e.need == v && plan.record(e.step).status != StepStatus::kPending) consumed = true;
        if (consumed) continue;
      }
    }
    if (was == StepStatus::kPending && !rerun.count(v)) continue;
    bool was_running = was == StepStatus::kRunning || was == StepStatus::kInterrupted;
    // Only manual steps and decisions wait for their own question; a step of
    // another kind waits only when an earlier resume held it for a person, and
    // that record is the mark: it stays held until a person answers.
    bool was_held = was == StepStatus::kWaiting && s.kind != StepKind::kManual && s.kind != StepKind::kDecision;
    // Everything else starts again from pending (a wait step keeps its start:
    // it waits only for what remains). Earlier attempts stay recorded.
    if (s.kind != StepKind::kWait) r.started_at = 0;
    r.status = StepStatus::kPending;
    r.reason = Reason::kNone;
    r.exit_code.reset();
    r.outputs.clear();
    r.masked_outputs.clear();
    r.finished_at = 0;
    r.rollback = HookStatus::kNone;
    plan.Restore(v, r, false);
    b->Add(r);
    if (was_running && s.kind == StepKind::kRunbook && last_child.count(s.id) && !rerun.count(v))
      out.continue_child[s.id] = last_child[s.id];
    if ((was_running || was_held) && !s.idempotent) {
      bool rerun_answered = answer != answers.end() && answer->second == "rerun";
      if (!rerun_answered && !rerun.count(v)) out.held.insert(s.id);
    }
  }
  return out;
}

// A hook that was running when the engine died runs again; one that
// succeeded or failed does not.
std::vector<int> HooksToRun(const Plan& steps) {
  std::vector<int> hooks;
  for (int v = 0; v < steps.size(); ++v) {
    HookStatus h = steps.record(v).rollback;
    if (h == HookStatus::kPending || h == HookStatus::kRunning) hooks.push_back(v);
  }
  std::sort(hooks.begin(), hooks.end(),
            [&](int a, int b) { return steps.record(a).completed_seq > steps.record(b).completed_seq; });
  return hooks;
}

bool RollbackFailed(const Plan& steps) {
  for (int v = 0; v < steps.size(); ++v)
    if (steps.record(v).rollback == HookStatus::kFailed) return true;
  return false;
}

}  // namespace runbook
