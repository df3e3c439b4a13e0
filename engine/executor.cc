#include "engine/executor_impl.h"

namespace runbook {

Executor::Impl::Impl(const Runbook& rb, ExecOptions o, StateStore* store, ProcessRunner* runner, Clock* clock,
                     Reporter* reporter, Asker* asker)
    : rb_(rb), o_(std::move(o)), store_(store), runner_(runner), clock_(clock), reporter_(reporter),
      asker_(asker), commands_(rb_, o_), steps_(rb.steps, o_.run_id), finally_(rb.finally, o_.run_id),
      facts_(rb_, o_, commands_.run_env(), run_, steps_, finally_) {
  for (const auto& d : rb_.inputs) {
    auto it = o_.inputs.find(d.name);
    if (d.secret) {
      secret_names_.push_back(d.name);
      if (!d.from_env.empty()) secret_env_[d.from_env] = d.name;
      if (it != o_.inputs.end()) masker_.Add(it->second);
    }
  }
}

// ---- the loop -------------------------------------------------------------------
//
//   open: commit the run's start (or its resume) with its phase
//   until the run is over:
//     a signal: stop what runs (SIGTERM, SIGKILL after --grace; now, if twice)
//     start what the phase has ready, up to --jobs processes: each task's
//       attempt is committed `running` before its process starts
//     flush held results (before blocking, before the phase ends)
//     nothing runs: the phase is over → ask a person, or wait, or commit
//       the next phase (preflight → steps → rollback → finally), or finish
//     else wait for one event: output, a process exit, or the nearest
//       deadline (a timeout, the grace before SIGKILL, a retry delay, a
//       verification interval, a wait step, the run timeout)
//     hand each to a small handler, which commits the result before the
//       plan lets any dependent start
RunOutcome Executor::Impl::Run() {
  if (!Open()) return Outcome();
  while (!done_) {
    if (o_.interrupt && *o_.interrupt && !interrupted_) BeginStop(true, *o_.interrupt > 1);
    if (o_.interrupt && *o_.interrupt > 1)
      for (auto& [v, t] : tasks_)
        if (t.handle >= 0) runner_->Kill(t.handle);
    if (broken_ && !stopping_) BeginStop(false, true);
    if (!stopping_) StartReady();
    Flush();
    if (tasks_.empty()) {
      EndOfWork();
      continue;
    }
    WaitForEvents();
  }
  (void)Flush();  // every phase ends with a commit; this only guards the invariant
  DrainNotices();
  return Outcome();
}

RunOutcome Executor::Impl::Outcome() const {
  RunOutcome out;
  out.status = broken_ ? RunStatus::kFailed : run_.status;
  out.exit_code = broken_ ? 1 : ExitCodeOf(run_.status);
  out.error = error_;
  out.waiting_commands = waiting_lines_;
  out.timed_out = timed_out_ || timeout_seen_;
  return out;
}

void Executor::Impl::WaitForEvents() {
  auto events = runner_->Wait(NextDeadline());
  for (auto& e : events) {
    Task* t = TaskOf(e.handle);
    if (!t) {
      OnNotice(e);
      continue;
    }
    std::string unit = t->kind == Task::Kind::kPreflight ? "preflight" : S(t->v).id;
    if (e.kind == RunnerEvent::Kind::kOutput) {
      EmitOutput(e.handle, unit, e.is_stderr, e.data, false);
    } else {
      EmitOutput(e.handle, unit, false, "", true);
      EmitOutput(e.handle, unit, true, "", true);
      OnExit(*t, e);
    }
  }
  Timers(clock_->Now());
  NoticeTimers(clock_->Now());
  TakeAnswers(clock_->Now());
  Escalate();
  if (Wall() >= next_tick_) {
    next_tick_ = Wall() + 1000;
    if (Wall() >= next_heartbeat_ && !broken_ && !o_.dry_run) {  // does this engine still own the run?
      next_heartbeat_ = Wall() + kHeartbeatMs;
      if (Status h = store_->Heartbeat(o_.run_id); !h.ok()) Break(h.message());
    }
    SaveOutput();
    reporter_->Tick(Wall());
  }
}

// ---- phases -----------------------------------------------------------------------

RunRecord NewRunRecord(const Runbook& rb, const ExecOptions& o, int64_t wall_ms) {
  RunRecord r;
  r.id = o.run_id;
  r.parent_run = o.parent_run;
  r.parent_step = o.parent_step;
  r.runbook = rb.name;
  r.path = rb.source.path();
  r.source = rb.source.text();
  r.sha256 = o.source_sha256;
  r.user = o.user;
  r.host = o.host;
  r.workdir = o.workdir;
  r.pid = o.pid;
  r.owner_user = o.user;
  r.owner_host = o.host;
  r.owner_start = o.owner_start;
  r.owner_since = wall_ms;
  r.tmp_dir = o.tmp_dir;
  r.started_at = wall_ms;
  r.phase = rb.preflight.empty() ? RunPhase::kSteps : RunPhase::kPreflight;
  for (const auto& d : rb.inputs) {
    if (d.secret) r.secret_inputs.push_back(d.name);
    auto it = o.inputs.find(d.name);
    if (it != o.inputs.end()) r.inputs[d.name] = d.secret ? "***" : it->second;
  }
  return r;
}

// Commits the start of the run, or of its resume: the phase it is in, and
// every step record as this engine begins with it.
bool Executor::Impl::Open() {
  run_ = NewRunRecord(rb_, o_, Wall());
  Batch b;
  if (o_.resume) {
    const ResumeState& st = *o_.resume;
    run_.started_at = st.run.started_at;
    run_.user = st.run.user;
    run_.host = st.run.host;
    run_.phase = st.run.phase;
    run_.outcome = st.run.outcome;
    for (const auto& a : st.attempts) {
      int& n = numbers_[{a.step_id, a.kind, a.check}];
      n = std::max(n, a.number);
    }
    for (const auto& r : st.steps) {
      completed_seq_ = std::max(completed_seq_, r.completed_seq);
      int& n = numbers_[{r.step_id, AttemptKind::kRun, 0}];
      n = std::max(n, r.attempts);
    }
    for (Plan* p : {&steps_, &finally_}) RestoreAsRecorded(*p, st);
    // A phase's unfinished work starts again; what finished stays finished.
    bool before_rollback = run_.phase == RunPhase::kPreflight || run_.phase == RunPhase::kSteps;
    Plan* restart = before_rollback && !o_.rollback_only ? &steps_
                    : run_.phase == RunPhase::kFinally   ? &finally_
                                                         : nullptr;
    if (restart) {
      Restarted r = RestartUnfinished(*restart, st, o_.answers, o_.user + "@" + o_.host, Wall(), &completed_seq_);
      b = std::move(r.batch);
      held_for_person_ = std::move(r.held);
      resume_child_ = std::move(r.continue_child);
    }
  } else {
    if (!o_.run_exists) b.new_run = run_;
    for (Plan* p : {&steps_, &finally_})
      for (int v = 0; v < p->size(); ++v) b.Add(p->record(v));
  }
  if (rb_.timeout) run_deadline_ = clock_->Now() + rb_.timeout->count();
  LoadEscalated();
  b.run = run_;
  b.events.push_back(o_.resume ? Ev("run.resumed", "", "resumed by " + o_.user + "@" + o_.host + " in phase " +
                                                           ToString(run_.phase) +
                                                           (o_.moved_from.empty() ? ""
                                                                                  : ", from another host: its steps "
                                                                                    "ran on " + o_.moved_from +
                                                                                    " (--from-another-host)"))
                               : Ev("run.started", "", "run of " + rb_.name + " started by " + o_.user + "@" + o_.host));
  if (!Commit(std::move(b))) return false;
  ReportEvent started =
      ReportEvent::Of("run.started", "", "",
                      rb_.name + (o_.dry_run         ? " (a dry run: nothing runs, nothing is recorded)"
                                  : o_.rollback_only ? " (rollback)"
                                  : o_.resume        ? " (resumed)"
                                                     : ""));
  started.duration_ms = Wall() - run_.started_at;  // since the run first started: the RTO clock does not restart
  Report(started);
  commands_.RenderRunEnv(facts_);
  plan_ = run_.phase == RunPhase::kFinally ? &finally_ : &steps_;
  if (run_.phase == RunPhase::kRollback) {
    hooks_ = HooksToRun(steps_);
    Report(ReportEvent::Of("rollback.started", "", "", std::to_string(hooks_.size()) + " hook(s) (resumed)"));
  } else if (o_.rollback_only && (run_.phase == RunPhase::kSteps || run_.phase == RunPhase::kPreflight)) {
    Enter(RunPhase::kRollback);
  }
  return !broken_;
}

// A step's hook undoes what it did: it applies once the step ran (succeeded,
// or failed after starting, not by a person's answer) and it has one.
bool Executor::Impl::HookApplies(int v) const {
  const StepRecord& r = steps_.record(v);
  bool started = r.status == StepStatus::kSucceeded ||
                 (r.status == StepStatus::kFailed && r.attempts > 0 && r.reason != Reason::kAnswer);
  return steps_.graph().step(v).rollback && started;
}

bool Executor::Impl::AnyHookApplies() const {
  for (int v = 0; v < steps_.size(); ++v)
    if (HookApplies(v)) return true;
  return false;
}

// Commits the next phase before anything of it starts. Entering rollback
// also schedules its hooks (each `pending`), in the same transaction.
void Executor::Impl::Enter(RunPhase phase, RunStatus outcome) {
  run_.phase = phase;
  if (phase == RunPhase::kFinally) run_.outcome = outcome;
  stopping_ = interrupted_ || broken_;  // a run timeout stops its phase, not rollback or finally
  Batch b;
  b.run = run_;
  if (phase == RunPhase::kRollback) {
    plan_ = &steps_;
    std::vector<int> hooks;
    for (int v = 0; v < steps_.size(); ++v) {
      if (!HookApplies(v)) continue;
      Rec(v).rollback = HookStatus::kPending;
      b.Add(steps_.record(v));
    }
    hooks_ = HooksToRun(steps_);
    next_hook_ = 0;
    b.Add(Ev("rollback.started", "", std::to_string(hooks_.size()) + " rollback hook(s) to run"));
  } else if (phase == RunPhase::kFinally) {
    b.Add(Ev("phase.finally", "", std::to_string(rb_.finally.size()) + " finally step(s) to run; the run is " +
                                      ToString(outcome)));
  } else {
    b.Add(Ev("phase.steps", "", "every preflight check passed"));
  }
  if (phase == RunPhase::kFinally) plan_ = &finally_;
  if (!Commit(std::move(b))) return;
  if (phase == RunPhase::kRollback) {
    Report(ReportEvent::Of("rollback.started", "", "", std::to_string(hooks_.size()) + " hook(s)"));
  }
}

// Nothing runs and nothing more of this phase can start.
void Executor::Impl::EndOfWork() {
  if (broken_) {
    done_ = true;
    return;
  }
  if (interrupted_) return Finish(RunStatus::kInterrupted, "");
  switch (run_.phase) {
    case RunPhase::kPreflight:
      if (preflight_failed_) return Finish(RunStatus::kPreflightFailed, "a preflight check failed");
      return Enter(RunPhase::kSteps);
    case RunPhase::kSteps:
      if (AskOrWait()) return;
      if (!failed_) return ToFinally(RunStatus::kSucceeded);
      if (!rb_.rollback_on_failure) return Finish(RunStatus::kFailed, timed_out_ ? "the run timed out" : "");
      if (!AnyHookApplies())  // nothing to undo: saying rolled_back would claim an undo that never ran
        return ToFinally(RunStatus::kFailed);
      return Enter(RunPhase::kRollback);
    case RunPhase::kRollback:
      return ToFinally(RollbackFailed(steps_) ? RunStatus::kRollbackFailed : RunStatus::kRolledBack);
    case RunPhase::kFinally: {
      if (AskOrWait()) return;
      bool finally_failed = !finally_.InState(StepStatus::kFailed).empty();
      return Finish(run_.outcome == RunStatus::kSucceeded && finally_failed ? RunStatus::kFinallyFailed
                                                                            : run_.outcome,
                    EndReason());
    }
    case RunPhase::kDone: done_ = true; return;
  }
}

// Steps and rollback are over: finally, if the runbook has any.
void Executor::Impl::ToFinally(RunStatus outcome) {
  if (!rb_.finally.empty()) return Enter(RunPhase::kFinally, outcome);
  run_.outcome = outcome;
  Finish(outcome, EndReason());
}

std::string Executor::Impl::EndReason() const {
  if (timed_out_) return "the run timed out";
  if (o_.rollback_only) return "rollback requested by " + o_.user + "@" + o_.host;
  return "";
}

// People come last, so that a slow answer never holds back ready work.
// Returns true while the phase is not over: a person answered (the loop
// goes on), or the run now waits for one.
bool Executor::Impl::AskOrWait() {
  auto waiting = plan_->InState(StepStatus::kWaiting);
  if (waiting.empty() || plan_->halted()) return false;
  if (asker_->available()) {
    for (int v : waiting)
      if (!PersonStep(v, true)) {
        Finish(RunStatus::kWaiting, "waiting for a person");
        return true;
      }
    return true;
  }
  bool answered = false;  // on the web page, meanwhile
  for (int v : waiting) answered |= PersonStep(v, false);
  if (answered) return true;
  for (int v : waiting) Waiting(v);
  Finish(RunStatus::kWaiting, "waiting for a person");
  return true;
}

// What a step waits for, said in full: its text (and checklist), and one
// command per answer it accepts, each complete (a value is one shell word:
// ids and choice values are names).
void Executor::Impl::Waiting(int v) {
  const auto& s = S(v);
  ReportEvent e = ReportEvent::Of("waiting", s.id, "waiting", NameOf(s));
  if (held_for_person_.count(s.id)) {
    e.choices = {"rerun", "done"};
    e.data = "It is not idempotent and was running when the engine stopped: run it again (rerun), or did it "
             "complete (done)?";
  } else if (s.kind == StepKind::kDecision) {
    for (const auto& c : s.decision.choices) e.choices.push_back(c.value);
    if (s.decision.prompt) {
      auto text = RenderText(*s.decision.prompt, facts_);
      e.data = text.ok() ? text.text : s.decision.prompt->raw;
    }
  } else {
    e.choices = {"done", "skip", "fail"};
    auto text = RenderText(s.manual, facts_);
    e.data = text.ok() ? text.text : s.manual.raw;
    e.checklist = s.checklist;
  }
  for (const auto& c : e.choices) {
    e.commands.push_back("runbook resume " + o_.run_id + " --answer " + s.id + "=" + c);
    waiting_lines_.push_back(e.commands.back());
  }
  Report(e);
}

// The run stops here: final, or resumable (waiting, interrupted, failed)
// in the phase it is in.
void Executor::Impl::Finish(RunStatus status, const std::string& reason) {
  done_ = true;
  run_.status = status;
  run_.reason = reason;
  run_.finished_at = status == RunStatus::kWaiting ? 0 : Wall();
  if (IsFinal(status)) run_.phase = RunPhase::kDone;
  std::string name = ToString(status);
  Batch b;
  b.run = run_;
  b.events.push_back(Ev("run." + name, "", reason.empty() ? "run " + name : "run " + name + ": " + reason));
  if (!Commit(std::move(b))) return;
  ReportEvent e;
  e.kind = "run.finished";
  e.status = name;
  e.reason = reason;
  e.duration_ms = Wall() - run_.started_at;
  Report(e);
  std::string event = status == RunStatus::kSucceeded    ? "succeeded"
                      : status == RunStatus::kRolledBack ? "rolled_back"
                      : IsFinal(status) || status == RunStatus::kFailed ? "failed" : "";
  if (!event.empty()) Notify(event, "", "run " + name + (reason.empty() ? "" : ": " + reason));
}

// ---- commits and reports -------------------------------------------------------------

bool Executor::Impl::Commit(Batch b) {
  bool ok = !broken_;
  if (ok) {
    if (!pending_.empty()) b = std::move(pending_.Append(std::move(b)));
    Status s = store_->Commit(b);
    if (!s.ok()) {
      ok = false;
      Break(s.message());
    }
  }
  pending_ = Batch();
  // Held reports are of results that were to be committed with this batch:
  // shown only if it landed, so nothing is shown that the record lacks.
  if (ok)
    for (auto& e : held_reports_) reporter_->Event(e);
  held_reports_.clear();
  return ok;
}

void Executor::Impl::Report(ReportEvent e) {
  if (broken_) return;  // nothing is shown that was not recorded
  e.run_id = o_.run_id;
  if (!e.at) e.at = Wall();
  if (!pending_.empty())
    held_reports_.push_back(std::move(e));
  else
    reporter_->Event(e);
}

void Executor::Impl::Break(const std::string& error) {
  if (broken_) return;
  broken_ = true;
  error_ = error;
}

bool Executor::Impl::Move(int v, StepStatus to, bool propagates) {
  StepStatus from = plan_->state(v);
  if (plan_->Transition(v, to, propagates)) return true;
  Break(std::string("internal error: step '") + S(v).id + "' cannot go from " + ToString(from) + " to " +
        ToString(to));
  return false;
}

std::string Executor::Impl::NameOf(const runbook::Step& s) {
  if (s.name.raw.empty()) return s.id;
  auto r = RenderText(s.name, facts_);
  return r.ok() ? r.text : s.name.raw;
}

// ---- deadlines and stopping --------------------------------------------------------

std::optional<int64_t> Executor::Impl::NextDeadline() const {
  std::optional<int64_t> d;
  auto take = [&](std::optional<int64_t> x) {
    if (x && (!d || *x < *d)) d = x;
  };
  for (const auto& [v, t] : tasks_) {
    take(t.kill_at);
    if (!t.timed_out && !t.interrupted) take(t.timeout_at);
    take(t.timer_at);
  }
  bool timed_phase = run_.phase == RunPhase::kPreflight || run_.phase == RunPhase::kSteps;
  if (!stopping_ && timed_phase) take(run_deadline_);
  if (!tasks_.empty()) take(clock_->Now() + 1000);  // the live display's tick
  if (!tasks_.empty() && !stopping_ && waiting_steps_) take(next_inbox_);
  take(NoticeDeadline());
  if (!tasks_.empty() && !stopping_) take(EscalationDeadline());
  return d;
}

void Executor::Impl::Timers(int64_t now) {
  bool timed_phase = run_.phase == RunPhase::kPreflight || run_.phase == RunPhase::kSteps;
  if (run_deadline_ && now >= *run_deadline_ && !stopping_ && timed_phase) {
    timed_out_ = true;
    failed_ = true;
    std::string why = "the run timeout of " + FormatDuration(*rb_.timeout) + " expired";
    Defer(Batch().Add(Ev("run.timeout", "", why)));
    EscalateTimeout("", why);
    BeginStop(false, false);
  }
  std::vector<int> due;
  for (auto& [v, t] : tasks_) {
    if (t.kill_at && now >= *t.kill_at && t.handle >= 0) {
      runner_->Kill(t.handle);
      t.kill_at.reset();
    }
    if (t.timeout_at && now >= *t.timeout_at && t.handle >= 0 && !t.timed_out) {
      t.timed_out = true;
      runner_->Terminate(t.handle);
      t.kill_at = now + o_.grace_ms;
    }
    if (t.timer_at && now >= *t.timer_at) due.push_back(v);
  }
  for (int v : due) {
    auto it = tasks_.find(v);
    if (it == tasks_.end()) continue;
    Task& t = it->second;
    t.timer_at.reset();
    switch (t.kind) {
      case Task::Kind::kRetryDelay: StartCommand(t); break;
      case Task::Kind::kVerifyDelay: StartCheck(t); break;
      case Task::Kind::kWaitStep: Succeed(EndTask(t)); break;
      default: break;
    }
  }
}

// An interrupt (a signal), the run timeout or a broken engine: nothing new
// starts, running processes get SIGTERM and, after the grace period,
// SIGKILL (at once with kill_now); tasks waiting on a timer end now.
void Executor::Impl::BeginStop(bool interrupt, bool kill_now) {
  stopping_ = true;
  if (interrupt) interrupted_ = true;
  plan_->Halt();
  int64_t now = clock_->Now();
  std::vector<int> timers;
  for (auto& [v, t] : tasks_) {
    if (t.handle >= 0) {
      if (interrupt)
        t.interrupted = true;
      else
        t.timed_out = true;
      if (kill_now) {
        runner_->Kill(t.handle);
      } else {
        runner_->Terminate(t.handle);
        t.kill_at = now + o_.grace_ms;
      }
    } else {
      timers.push_back(v);
    }
  }
  for (int v : timers) {
    Task& t = tasks_.at(v);
    if (broken_)
      EndTask(t);
    else if (interrupt)
      OnInterrupted(t);
    else
      Fail(EndTask(t), Reason::kTimeout, "the run timed out");
  }
  if (interrupt) Defer(Batch().Add(Ev("run.interrupt", "", "interrupted: stopping running steps")));
  if (kill_now)
    for (auto& [h, n] : notices_) runner_->Kill(h);
}

// ---- the facade -------------------------------------------------------------------

Executor::Executor(const Runbook& rb, ExecOptions options, StateStore* store, ProcessRunner* runner, Clock* clock,
                   Reporter* reporter, Asker* asker)
    : impl_(std::make_unique<Impl>(rb, std::move(options), store, runner, clock, reporter, asker)) {}

Executor::~Executor() = default;

RunOutcome Executor::Run() { return impl_->Run(); }

}  // namespace runbook
