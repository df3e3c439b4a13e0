#include "engine/executor_impl.h"

#include <cerrno>

namespace runbook {

int ExitCodeOf(const std::string& s) {
  if (s == "succeeded") return 0;
  if (s == "waiting") return 3;
  if (s == "interrupted") return 130;
  return 1;
}

namespace {

// What a step wrote to its $RUNBOOK_OUTPUT file, which is then removed. Most
// steps never create it: one failed open(2) says so, without the second
// syscall of a remove() and the allocations of an ifstream on every step.
std::string TakeOutputFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fd);
  ::unlink(path.c_str());
  return text;
}


}  // namespace

// ---- the run ------------------------------------------------------------------

RunOutcome Executor::Impl::Run() {
  RunOutcome out;
  if (!Start()) {
    out.status = "failed";
    out.exit_code = 1;
    out.error = store_error_;
    return out;
  }
  if (o_.rollback_only) {
    std::string status = Rollback();
    if (!interrupted_ && !store_failed_) {
      run_status_ = status;
      RunSteps(rb_.finally);
    }
    Finish(interrupted_ ? "interrupted" : status, "rollback requested by " + o_.user + "@" + o_.host);
  } else if (!Preflight()) {
    Finish(interrupted_ ? "interrupted" : "preflight_failed", interrupted_ ? "" : "a preflight check failed");
  } else {
    PhaseEnd end = RunSteps(rb_.steps);
    if (end == PhaseEnd::kStoreFailed) {
      out.status = "failed";
      out.exit_code = 1;
      out.error = store_error_;
      return out;
    }
    if (end == PhaseEnd::kInterrupted) {
      Finish("interrupted", "");
    } else if (end == PhaseEnd::kWaiting) {
      Finish("waiting", "waiting for a person");
    } else {
      std::string status = "succeeded";
      if (failed_ || timed_out_) status = rb_.rollback_on_failure ? Rollback() : "failed";
      if (status != "failed" && !interrupted_ && !store_failed_) {
        run_status_ = status;
        PhaseEnd fin = RunSteps(rb_.finally);
        if (fin == PhaseEnd::kInterrupted) status = "interrupted";
        else if (failed_in_finally_ && status == "succeeded") status = "finally_failed";
      }
      Finish(status, timed_out_ ? "the run timed out" : "");
    }
  }
  Flush();  // every phase ends with a commit; this only guards the invariant
  out.status = run_status_;
  out.exit_code = ExitCodeOf(run_status_);
  out.error = store_error_;
  out.waiting_commands = waiting_lines_;
  if (!store_error_.empty()) out.exit_code = 1;
  return out;
}

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
  r.started_at = wall_ms;
  for (const auto& d : rb.inputs) {
    if (d.secret) r.secret_inputs.push_back(d.name);
    auto it = o.inputs.find(d.name);
    if (it != o.inputs.end()) r.inputs[d.name] = d.secret ? "***" : it->second;
  }
  return r;
}

bool Executor::Impl::Start() {
  run_ = NewRunRecord(rb_, o_, Wall());
  if (o_.resume) {
    const RunRecord& old = o_.resume->run;
    run_.started_at = old.started_at;
    run_.user = old.user;
    run_.host = old.host;
    for (const auto& r : o_.resume->steps) records_[r.step_id] = r;
    for (const auto& r : o_.resume->steps) completed_seq_ = std::max(completed_seq_, r.completed_seq);
  }
  if (rb_.timeout) run_deadline_ = clock_->Now() + rb_.timeout->count();
  Batch b;
  if (!o_.run_exists) b.new_run = run_;
  b.run = run_;
  b.events.push_back(o_.resume ? Ev("run.resumed", "", "resumed by " + o_.user + "@" + o_.host)
                               : Ev("run.started", "", "run of " + rb_.name + " started by " + o_.user + "@" + o_.host));
  for (const auto* list : {&rb_.steps, &rb_.finally})
    for (const auto& s : *list) {
      b.steps.push_back(Rec(s));
      SyncFacts(Rec(s));
    }
  if (!Commit(std::move(b))) return false;
  ReportEvent e;
  e.kind = "run.started";
  e.message = rb_.name + (o_.rollback_only ? " (rollback)" : o_.resume ? " (resumed)" : "");
  e.at = Wall();
  Report(e);
  for (const auto& var : rb_.env) {
    auto r = RenderText(var.value, *this);
    run_env_[var.name] = r.ok() ? r.text : "";
  }
  return true;
}

void Executor::Impl::Finish(const std::string& status, const std::string& reason) {
  run_status_ = status;
  run_.status = status;
  run_.reason = reason;
  run_.finished_at = status == "waiting" ? 0 : Wall();
  Batch b;
  b.run = run_;
  b.events.push_back(Ev("run." + status, "", reason.empty() ? "run " + status : "run " + status + ": " + reason));
  Commit(std::move(b));
  ReportEvent e;
  e.kind = "run.finished";
  e.status = status;
  e.reason = reason;
  e.duration_ms = Wall() - run_.started_at;
  Report(e);
}


Executor::Impl::PhaseEnd Executor::Impl::RunSteps(const std::vector<runbook::Step>& steps) {
  if (steps.empty()) return PhaseEnd::kDone;
  Plan plan(steps);
  plan_ = &plan;
  in_finally_ = !steps.empty() && steps[0].in_finally;
  if (o_.resume) Restore(plan);
  while (true) {
    if (o_.interrupt && *o_.interrupt && !interrupted_) BeginStop(true, *o_.interrupt > 1);
    if (o_.interrupt && *o_.interrupt > 1 && interrupted_) {
      for (auto& [v, t] : tasks_)
        if (t.handle >= 0) runner_->Kill(t.handle);
    }
    if (store_failed_ && !stopping_) BeginStop(false, true);
    if (!stopping_) StartReady();
    Flush();  // before blocking in Wait or asking a person, and before the phase ends
    if (tasks_.empty()) {
      plan_ = nullptr;
      if (store_failed_) return PhaseEnd::kStoreFailed;
      if (interrupted_) return PhaseEnd::kInterrupted;
      auto waiting = plan.InState(StepState::kWaiting);
      if (!waiting.empty() && !plan.halted()) {
        plan_ = &plan;
        if (asker_->available()) {
          for (int v : waiting) {
            bool answered = PersonStep(v, true);
            if (!answered) return PhaseEnd::kWaiting;
          }
          continue;
        }
        for (int v : waiting) {
          const auto& s = S(v);
          std::string values = s.kind == StepKind::kManual ? "done|skip|fail" : "rerun|done";
          if (s.kind == StepKind::kDecision) {
            values.clear();
            for (const auto& c : s.decision.choices) values += (values.empty() ? "" : "|") + c.value;
          }
          waiting_lines_.push_back("runbook resume " + o_.run_id + " --answer " + s.id + "=" + values);
        }
        plan_ = nullptr;
        return PhaseEnd::kWaiting;
      }
      return plan.halted() ? PhaseEnd::kHalted : PhaseEnd::kDone;
    }
    auto events = runner_->Wait(NextDeadline());
    for (auto& e : events) {
      Task* t = TaskOf(e.handle);
      if (!t) continue;
      if (e.kind == RunnerEvent::Kind::kOutput) {
        EmitOutput(e.handle, S(t->v).id, e.is_stderr, e.data, false);
      } else {
        EmitOutput(e.handle, S(t->v).id, false, "", true);
        EmitOutput(e.handle, S(t->v).id, true, "", true);
        OnExit(*t, e);
      }
    }
    Timers(clock_->Now());
    if (Wall() >= next_tick_) {
      next_tick_ = Wall() + 1000;
      reporter_->Tick(Wall());
    }
  }
}

// Streams output by whole lines, so that a secret split across two reads is
// still masked; the rest is flushed when the process exits.
void Executor::Impl::EmitOutput(int handle, const std::string& step, bool is_stderr, const std::string& data,
                                bool flush) {
  std::string& buf = partial_output_[{handle, is_stderr}];
  buf += data;
  size_t end = flush ? buf.size() : buf.rfind('\n');
  if (end == std::string::npos) return;
  if (!flush) ++end;  // include the newline
  std::string chunk = buf.substr(0, end);
  buf.erase(0, end);
  if (flush) partial_output_.erase({handle, is_stderr});
  if (chunk.empty()) return;
  ReportEvent r;
  r.kind = "step.output";
  r.step = step;
  r.stream = is_stderr ? "stderr" : "stdout";
  r.data = masker_.Mask(chunk);
  Report(r);
}


// ---- results --------------------------------------------------------------------

StepRecord& Executor::Impl::Close(const runbook::Step& s, const std::string& status, const std::string& reason) {
  StepRecord& r = Rec(s);
  r.status = status;
  r.reason = reason;
  r.finished_at = Wall();
  if (!r.started_at) r.started_at = r.finished_at;
  return r;
}

void Executor::Impl::Succeed(int v, std::map<std::string, std::string> outputs, const AttemptRecord* attempt) {
  const auto& s = S(v);
  StepRecord& r = Close(s, "succeeded", "");
  r.completed_seq = ++completed_seq_;
  r.masked_outputs.clear();
  for (auto& [k, val] : outputs) {
    if (masker_.Contains(val)) {
      r.masked_outputs.push_back(k);
      val = masker_.Mask(val);
    }
  }
  r.outputs = std::move(outputs);
  Batch b;
  b.Add(r).Add(Ev("step.succeeded", s.id, "succeeded"));
  if (attempt) b.Add(*attempt);
  Defer(std::move(b));
  SyncFacts(r);
  // Facts keep the clear values for this engine's own later steps.
  plan_->Finish(v, StepState::kSucceeded);
  ReportEvent e;
  e.kind = "step.finished";
  e.step = s.id;
  e.status = "succeeded";
  e.attempt = r.attempts;
  e.exit_code = r.exit_code;
  e.duration_ms = r.finished_at - r.started_at;
  Report(e);
}

void Executor::Impl::Fail(int v, const std::string& reason, const std::string& message) {
  const auto& s = S(v);
  StepRecord& r = Close(s, "failed", reason);
  r.completed_seq = ++completed_seq_;
  Defer(Batch().Add(r).Add(Ev("step.failed", s.id, reason + ": " + masker_.Mask(message))));
  SyncFacts(r);
  plan_->Finish(v, StepState::kFailed);
  if (!s.continue_on_failure && !s.in_finally) {
    plan_->Halt();
    failed_ = true;
  }
  if (s.in_finally) failed_in_finally_ = true;
  ReportEvent e;
  e.kind = "step.finished";
  e.step = s.id;
  e.status = "failed";
  e.reason = reason;
  e.message = masker_.Mask(message);
  e.attempt = r.attempts;
  e.exit_code = r.exit_code;
  e.duration_ms = r.finished_at - r.started_at;
  Report(e);
}

void Executor::Impl::Skip(int v, bool propagates, const std::string& why) {
  const auto& s = S(v);
  StepRecord& r = Close(s, "skipped", "");
  Defer(Batch().Add(r).Add(Ev("step.skipped", s.id, why)));
  SyncFacts(r);
  plan_->Finish(v, StepState::kSkipped, propagates);
  ReportEvent e;
  e.kind = "step.finished";
  e.step = s.id;
  e.status = "skipped";
  e.message = why;
  Report(e);
}

// ---- process exits and timers ----------------------------------------------------

Executor::Impl::Task* Executor::Impl::TaskOf(int handle) {
  for (auto& [v, t] : tasks_)
    if (t.handle == handle) return &t;
  return nullptr;
}

int Executor::Impl::EndTask(Task& t) {
  int v = t.v;
  tasks_.erase(v);
  return v;
}

void Executor::Impl::OnExit(Task& t, const RunnerEvent& e) {
  t.handle = -1;
  t.timeout_at.reset();
  t.kill_at.reset();
  t.rec.finished_at = Wall();
  t.rec.exit_code = e.exit_code;
  t.rec.out = masker_.Mask(e.out);
  t.rec.err = masker_.Mask(e.err);
  t.rec.truncated = e.truncated;
  if (t.interrupted) {
    const auto& s = S(t.v);
    t.rec.status = "interrupted";
    StepRecord& r = Rec(s);
    r.status = "interrupted";
    r.exit_code = e.exit_code;
    Commit(Batch().Add(r).Add(t.rec).Add(Ev("step.interrupted", s.id, "interrupted")));
    SyncFacts(r);
    plan_->Finish(t.v, StepState::kInterrupted);
    ReportEvent ev;
    ev.kind = "step.finished";
    ev.step = s.id;
    ev.status = "interrupted";
    Report(ev);
    EndTask(t);
    return;
  }
  switch (t.phase) {
    case Task::Phase::kCommand: OnCommandExit(t, e); break;
    case Task::Phase::kVerify: OnCheckExit(t, e); break;
    case Task::Phase::kChild: OnChildExit(t, e); break;
    default: break;
  }
}

void Executor::Impl::OnCommandExit(Task& t, const RunnerEvent& e) {
  const auto& s = S(t.v);
  StepRecord& r = Rec(s);
  r.exit_code = e.exit_code;
  std::map<std::string, std::string> from_file = ParseOutputFile(TakeOutputFile(t.output_file));
  if (t.timed_out) {
    AttemptFailed(t, "timeout", "timed out after " + FormatDuration(*s.timeout));
    return;
  }
  if (e.exit_code != 0) {
    std::string tail = TailLines(t.rec.err.empty() ? t.rec.out : t.rec.err, 5);
    AttemptFailed(t, "exit", "exit code " + std::to_string(e.exit_code) + (tail.empty() ? "" : "\n" + tail));
    return;
  }
  auto outputs = ExtractOutputs(s, e.out, e.exit_code, from_file);
  if (e.simulated) {  // a dry run: show where each value would go
    outputs.error.reset();
    for (const auto& o : s.outputs) outputs.values[o.name] = "<steps." + s.id + ".outputs." + o.name + ">";
  }
  if (outputs.error) {
    AttemptFailed(t, "output", *outputs.error);
    return;
  }
  t.rec.status = "succeeded";
  // Its own verification sees its results.
  StepFacts& f = facts_[s.id];
  f.exit_code = e.exit_code;
  f.outputs = outputs.values;
  pending_outputs_[s.id] = outputs.values;
  if (!s.verify.empty()) {
    Commit(Batch().Add(r).Add(t.rec));
    t.check = 0;
    t.check_try = 1;
    StartCheck(t);
    return;
  }
  AttemptRecord done = t.rec;  // committed with the step's result: one transaction
  Succeed(EndTask(t), outputs.values, &done);
}

void Executor::Impl::OnCheckExit(Task& t, const RunnerEvent& e) {
  const auto& s = S(t.v);
  const Check& c = s.verify[t.check];
  std::optional<std::string> why;
  if (t.timed_out)
    why = "timed out after " + FormatDuration(*c.timeout);
  else if (!e.simulated)
    why = CheckExpectation(c.expect, e.exit_code, e.out, e.err);
  t.rec.status = why ? "failed" : "succeeded";
  t.rec.reason = why ? "verification" : "";
  Commit(Batch().Add(t.rec).Add(Ev(why ? "verify.failed" : "verify.passed", s.id,
                                   "verification '" + c.name + (why ? "' failed: " + *why : "' passed"))));
  ReportEvent ev;
  ev.kind = "verify";
  ev.step = s.id;
  ev.status = t.rec.status;
  ev.message = c.name + (why ? ": " + *why : "");
  Report(ev);
  if (!why) {
    if (++t.check < s.verify.size()) {
      t.check_try = 1;
      StartCheck(t);
      return;
    }
    Succeed(EndTask(t), pending_outputs_[s.id]);
    return;
  }
  if (t.check_try <= c.retries) {
    ++t.check_try;
    t.phase = Task::Phase::kVerifyDelay;
    t.timer_at = clock_->Now() + c.interval.count();
    return;
  }
  // The step's own retries re-run the command, then the verification.
  t.rec = AttemptRecord{};
  AttemptFailed(t, "verification", "verification '" + c.name + "' failed: " + *why);
}

void Executor::Impl::OnChildExit(Task& t, const RunnerEvent& e) {
  const auto& s = S(t.v);
  StepRecord& r = Rec(s);
  r.exit_code = e.exit_code;
  if (t.timed_out) {
    AttemptFailed(t, "timeout", "timed out after " + FormatDuration(*s.timeout));
    return;
  }
  if (e.exit_code != 0) {
    AttemptFailed(t, "exit", "child run " + t.child_run + " ended with exit code " + std::to_string(e.exit_code));
    return;
  }
  std::map<std::string, std::string> outputs;
  auto steps = store_->GetSteps(t.child_run);
  if (!steps.ok()) {
    AttemptFailed(t, "error", steps.status().message());
    return;
  }
  for (const auto& cs : *steps) {
    for (const auto& [k, v] : cs.outputs) {
      if (outputs.count(k)) {
        AttemptFailed(t, "error", "output '" + k + "' is produced by two steps of child run " + t.child_run);
        return;
      }
      outputs[k] = v;
    }
  }
  t.rec.status = "succeeded";
  AttemptRecord done = t.rec;
  Succeed(EndTask(t), outputs, &done);
}

void Executor::Impl::AttemptFailed(Task& t, const std::string& reason, const std::string& message) {
  const auto& s = S(t.v);
  StepRecord& r = Rec(s);
  if (!t.rec.step_id.empty() && t.rec.kind == "run") {
    t.rec.status = "failed";
    t.rec.reason = reason;
    if (!t.rec.finished_at) t.rec.finished_at = Wall();
    Commit(Batch().Add(r).Add(t.rec));
  }
  t.handle = -1;
  if (t.attempt < s.retry.attempts && !stopping_) {
    Millis delay = RetryDelay(s.retry, t.attempt + 1);
    std::string first_line = masker_.Mask(message.substr(0, message.find('\n')));
    Commit(Batch().Add(Ev("step.retry", s.id, reason + ": " + first_line + "; attempt " +
                                                  std::to_string(t.attempt + 1) + " in " + FormatDuration(delay))));
    ReportEvent e;
    e.kind = "step.retry";
    e.step = s.id;
    e.reason = reason;
    e.attempt = t.attempt;
    e.message = first_line + "; attempt " + std::to_string(t.attempt + 1) + "/" +
                std::to_string(s.retry.attempts) + " in " + FormatDuration(delay);
    Report(e);
    ++t.attempt;
    t.phase = Task::Phase::kRetryDelay;
    t.timer_at = clock_->Now() + delay.count();
    return;
  }
  Fail(EndTask(t), reason, message);
}

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
  if (!stopping_) take(run_deadline_);
  if (!tasks_.empty()) take(clock_->Now() + 1000);  // the live display's tick
  return d;
}

void Executor::Impl::Timers(int64_t now) {
  if (run_deadline_ && now >= *run_deadline_ && !stopping_) {
    timed_out_ = true;
    failed_ = true;
    Commit(Batch().Add(Ev("run.timeout", "", "the run timeout of " + FormatDuration(*rb_.timeout) + " expired")));
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
    switch (t.phase) {
      case Task::Phase::kRetryDelay: StartCommand(t); break;
      case Task::Phase::kVerifyDelay: StartCheck(t); break;
      case Task::Phase::kWaitStep:
        tasks_.erase(v);
        Succeed(v);
        break;
      default: break;
    }
  }
}

// Interrupt (a signal) or the run timeout: nothing new starts, running
// processes get SIGTERM and, after the grace period, SIGKILL; steps waiting
// on a timer end at once.
void Executor::Impl::BeginStop(bool interrupt, bool kill_now) {
  stopping_ = true;
  if (interrupt) interrupted_ = true;
  if (plan_) plan_->Halt();
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
    tasks_.erase(v);
    if (interrupt) {
      StepRecord& r = Rec(S(v));
      r.status = "interrupted";
      Commit(Batch().Add(r).Add(Ev("step.interrupted", r.step_id, "interrupted")));
      plan_->Finish(v, StepState::kInterrupted);
    } else {
      Fail(v, "timeout", "the run timed out");
    }
  }
  if (interrupt) Commit(Batch().Add(Ev("run.interrupt", "", "interrupted: stopping running steps")));
}

// ---- the facade -------------------------------------------------------------------

Executor::Executor(const Runbook& rb, ExecOptions options, StateStore* store, ProcessRunner* runner, Clock* clock,
                   Reporter* reporter, Asker* asker)
    : impl_(std::make_unique<Impl>(rb, std::move(options), store, runner, clock, reporter, asker)) {}

Executor::~Executor() = default;

RunOutcome Executor::Run() { return impl_->Run(); }

}  // namespace runbook
