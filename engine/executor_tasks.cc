#include "engine/executor_impl.h"

namespace runbook {

// ---- what the phase has ready -----------------------------------------------------

int Executor::Impl::Processes() const {
  int n = 0;
  for (const auto& [v, t] : tasks_) n += t.handle >= 0 || t.kind == Task::Kind::kRetryDelay;
  return n;
}

// Preflight checks and rollback hooks run one at a time, in their order;
// steps as their plan allows, up to --jobs processes.
void Executor::Impl::StartReady() {
  auto go = [&] { return tasks_.empty() && !stopping_ && !broken_; };
  switch (run_.phase) {
    case RunPhase::kPreflight:
      while (go() && !preflight_failed_ && next_check_ < rb_.preflight.size()) StartPreflight(next_check_++);
      break;
    case RunPhase::kRollback:
      while (go() && next_hook_ < hooks_.size()) StartHook(hooks_[next_hook_++]);
      break;
    case RunPhase::kSteps:
    case RunPhase::kFinally: StartReadySteps(); break;
    case RunPhase::kDone: break;
  }
}

void Executor::Impl::StartReadySteps() {
  bool progress = true;
  while (progress && !stopping_ && !broken_) {
    progress = false;
    for (int v : plan_->Ready(std::max(0, o_.jobs - Processes()))) {
      const auto& s = S(v);
      bool needs_slot = s.kind == StepKind::kRun || s.kind == StepKind::kRunbook;
      if (needs_slot && Processes() >= o_.jobs) continue;
      switch (plan_->GateOf(v)) {
        case Plan::Gate::kSkipUntakenBranch: Skip(v, true, "branch not taken"); break;
        case Plan::Gate::kSkipNeedsSkipped: Skip(v, true, "every step it needs was skipped"); break;
        case Plan::Gate::kEvaluateWhen: {
          EvalResult r = Evaluate(*s.when, facts_);
          if (!r.ok()) {
            if (Move(v, StepStatus::kRunning)) Fail(v, Reason::kError, "when: " + *r.error);
          } else if (!r.value.Truthy()) {
            Skip(v, true, "when is false: " + ToString(*s.when));
          } else {
            Launch(v);
          }
          break;
        }
        case Plan::Gate::kRun: Launch(v); break;
      }
      progress = true;
      if (stopping_ || broken_) break;
    }
  }
}

void Executor::Impl::Launch(int v) {
  const auto& s = S(v);
  if (!Move(v, StepStatus::kRunning)) return;
  if (held_for_person_.count(s.id)) {
    // It may have run to its end before the engine died: a person says.
    MarkWaiting(v);
    return;
  }
  StartStep(v);
}

void Executor::Impl::StartStep(int v) {
  Task t;
  t.v = v;
  switch (S(v).kind) {
    case StepKind::kRun:
      StartCommand(tasks_[v] = t);
      break;
    case StepKind::kRunbook:
      t.kind = Task::Kind::kChild;
      StartChild(tasks_[v] = t);
      break;
    case StepKind::kManual:
    case StepKind::kDecision:
      // Answers and automatic choices resolve now; a person is asked only
      // once nothing else runs.
      PersonStep(v, false);
      break;
    case StepKind::kWait: StartWait(v); break;
  }
}

void Executor::Impl::StartWait(int v) {
  const auto& s = S(v);
  StepRecord& r = Rec(v);
  if (!r.started_at) r.started_at = Wall();  // a resume waits only for what remains
  r.attempts = 1;
  Task t;
  t.v = v;
  t.kind = Task::Kind::kWaitStep;
  t.timer_at = clock_->Now() + std::max<int64_t>(0, r.started_at + s.wait.count() - Wall());
  if (!Commit(Batch().Add(r).Add(Ev("step.running", s.id, "waiting " + FormatDuration(s.wait))))) return;
  tasks_[v] = t;
  Report(ReportEvent::Of("step.started", s.id, "", "wait " + FormatDuration(s.wait)));
}

// ---- attempts and processes -----------------------------------------------------------

// A new attempt record, started now, numbered after every earlier one of
// the same (step, kind, check), whichever engine recorded it.
AttemptRecord Executor::Impl::NewAttempt(const std::string& step, AttemptKind kind, int check,
                                         const std::string& command) {
  AttemptRecord a;
  a.run_id = o_.run_id;
  a.step_id = step;
  a.kind = kind;
  a.check = check;
  a.number = ++numbers_[{step, kind, check}];
  a.command = command;
  a.started_at = Wall();
  return a;
}

// Starts the process of a task whose attempt was just committed, with its
// timeout. A process that cannot start is that attempt's failure.
bool Executor::Impl::Spawn(Task& t, const ProcessSpec& spec, std::optional<Millis> timeout) {
  auto h = runner_->Start(spec);
  if (!h.ok()) {
    RunnerEvent e;
    e.exit_code = 127;
    t.start_error = h.status().message();
    OnExit(t, e);
    return false;
  }
  t.handle = *h;
  t.start_error.clear();
  t.timed_out = false;
  t.timeout_at.reset();
  if (timeout) t.timeout_at = clock_->Now() + timeout->count();
  return true;
}

// ---- steps --------------------------------------------------------------------------

void Executor::Impl::StartCommand(Task& t) {
  const auto& s = S(t.v);
  t.kind = Task::Kind::kCommand;
  auto cmd = RenderCommand(s.run, facts_, secret_names_, secret_env_);
  if (!cmd.ok()) return Fail(EndTask(t), Reason::kError, *cmd.error);
  t.rec = NewAttempt(s.id, AttemptKind::kRun, 0, cmd.shown);
  t.number = t.rec.number;
  std::string env_error;
  t.output_file = commands_.OutputFile(s.id, "run", t.number);
  ProcessSpec spec = commands_.ForScript(&s, cmd, t.number, t.output_file, facts_, &env_error);
  if (!env_error.empty()) return Fail(EndTask(t), Reason::kError, env_error);
  StepRecord& r = Rec(t.v);
  r.attempts = t.number;
  if (!r.started_at) r.started_at = t.rec.started_at;
  // Write-ahead: the step is recorded running before its process exists.
  Batch b;
  b.Add(r).Add(t.rec).Add(Ev("step.running", s.id, "attempt " + std::to_string(t.number) + ": " + cmd.shown));
  b.sync = !s.idempotent;
  if (!Commit(std::move(b))) return (void)EndTask(t);
  ReportEvent e;
  e.kind = "step.started";
  e.step = s.id;
  e.attempt = t.attempt;
  e.message = NameOf(s);
  Report(e);
  Spawn(t, spec, s.timeout);
}

void Executor::Impl::StartCheck(Task& t) {
  const auto& s = S(t.v);
  const Check& c = s.verify[t.check];
  t.kind = Task::Kind::kVerify;
  auto cmd = RenderCommand(c.run, facts_, secret_names_, secret_env_);
  if (!cmd.ok()) return AttemptFailed(t, Reason::kError, "verify " + c.name + ": " + *cmd.error);
  std::string env_error;
  int check = static_cast<int>(t.check) + 1;
  ProcessSpec spec = commands_.ForScript(&s, cmd, t.number,
                                         commands_.OutputFile(s.id, "verify", t.number * 1000 + check), facts_,
                                         &env_error);
  if (!env_error.empty()) return AttemptFailed(t, Reason::kError, "verify " + c.name + ": " + env_error);
  t.rec = AttemptRecord{};
  t.rec.run_id = o_.run_id;
  t.rec.step_id = s.id;
  t.rec.kind = AttemptKind::kVerify;
  t.rec.number = t.number;  // the command attempt it verifies
  t.rec.check = check;
  t.rec.try_number = t.check_try;
  t.rec.name = c.name;
  t.rec.command = cmd.shown;
  t.rec.started_at = Wall();
  if (!Commit(Batch().Add(t.rec).Add(Ev("verify.running", s.id, c.name)))) return (void)EndTask(t);
  Spawn(t, spec, c.timeout);
}

// A runbook: step is a child run of this same binary. After a resume, a
// child run the step had started is continued, not started again.
void Executor::Impl::StartChild(Task& t) {
  const auto& s = S(t.v);
  std::string file = commands_.FindChild(s);
  if (file.empty())
    return Fail(EndTask(t), Reason::kError,
                "child runbook '" + s.runbook.value + "' not found beside " + rb_.source.path() + " or on RUNBOOK_PATH");
  t.rec = NewAttempt(s.id, AttemptKind::kRun, 0, "");
  t.number = t.rec.number;
  StepRecord& r = Rec(t.v);
  r.attempts = t.number;
  bool resume = false;
  if (auto it = resume_child_.find(s.id); it != resume_child_.end()) {
    t.child_run = it->second;
    resume_child_.erase(it);
    auto child = store_->GetRun(t.child_run);
    if (child.ok() && child->status == RunStatus::kSucceeded) {
      // It finished before the parent engine died: its outputs stand.
      t.rec.command = "child run " + t.child_run + " (already succeeded)";
      t.rec.child_run = t.child_run;
      if (!Commit(Batch().Add(r).Add(t.rec))) return (void)EndTask(t);
      return OnChildExit(t, RunnerEvent{});
    }
    resume = child.ok() && !IsFinal(child->status);
  }
  // Unique across resumes: the attempt number goes on.
  if (!resume) t.child_run = o_.run_id + "." + s.id + (t.number > 1 ? "." + std::to_string(t.number) : "");
  auto spec = commands_.ForChild(s, file, t.child_run, resume, t.number, facts_);
  if (!spec.ok()) return Fail(EndTask(t), Reason::kError, spec.status().message());
  t.rec.command = spec->display + " (run " + t.child_run + ")";
  t.rec.child_run = t.child_run;
  if (!r.started_at) r.started_at = t.rec.started_at;
  if (!Commit(Batch().Add(r).Add(t.rec).Add(Ev("step.running", s.id, t.rec.command)))) return (void)EndTask(t);
  ReportEvent e;
  e.kind = "step.started";
  e.step = s.id;
  e.attempt = t.attempt;
  e.message = "child run " + t.child_run + " of " + s.runbook.value;
  Report(e);
  Spawn(t, *spec, s.timeout);
}

// ---- preflight and rollback ------------------------------------------------------------

void Executor::Impl::StartPreflight(size_t i) {
  const Check& check = rb_.preflight[i];
  Task t;
  t.v = static_cast<int>(i);
  t.kind = Task::Kind::kPreflight;
  auto cmd = RenderCommand(check.run, facts_, secret_names_, secret_env_);
  t.rec = NewAttempt("preflight", AttemptKind::kPreflight, static_cast<int>(i) + 1, cmd.shown);
  t.rec.name = check.name;
  if (!Commit(Batch().Add(t.rec).Add(Ev("preflight.started", "", check.name)))) return;
  Task& task = tasks_[t.v] = t;
  if (!cmd.ok()) {
    RunnerEvent e;
    e.exit_code = 127;
    task.start_error = *cmd.error;
    return OnExit(task, e);
  }
  std::string env_error;
  Spawn(task, commands_.ForScript(nullptr, cmd, 1, "", facts_, &env_error), check.timeout);
}

// A hook is recorded `running` before its process starts, like a step; a
// hook that was running when the engine died runs again on resume.
void Executor::Impl::StartHook(int v) {
  const auto& s = S(v);
  Task t;
  t.v = v;
  t.kind = Task::Kind::kHook;
  auto cmd = RenderCommand(s.rollback->run, facts_, secret_names_, secret_env_);
  t.rec = NewAttempt(s.id, AttemptKind::kRollback, 0, cmd.shown);
  StepRecord& r = Rec(v);
  r.rollback = HookStatus::kRunning;
  if (!Commit(Batch().Add(r).Add(t.rec).Add(Ev("rollback.running", s.id, cmd.shown)))) return;
  Task& task = tasks_[v] = t;
  std::string env_error;
  ProcessSpec spec = commands_.ForScript(&s, cmd, t.rec.number, "", facts_, &env_error);
  if (!cmd.ok() || !env_error.empty()) {
    RunnerEvent e;
    e.exit_code = 127;
    task.start_error = cmd.ok() ? env_error : *cmd.error;
    return OnExit(task, e);
  }
  Spawn(task, spec, s.rollback->timeout ? s.rollback->timeout : s.timeout);
}

}  // namespace runbook
