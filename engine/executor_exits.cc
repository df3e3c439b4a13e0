#include "engine/executor_impl.h"

#include <cerrno>

namespace runbook {
namespace {

std::string TimedOut(const std::optional<Millis>& timeout) {
  return timeout ? "timed out after " + FormatDuration(*timeout) : "stopped: the run timed out";
}

}  // namespace

// ---- tasks ------------------------------------------------------------------------

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

void Executor::Impl::EmitOutput(int handle, const std::string& step, bool is_stderr, const std::string& data,
                                bool flush) {
  std::string chunk = lines_.Take(handle, is_stderr, data, flush, masker_);
  if (chunk.empty()) return;
  // The attempt's output so far, for readers of the record while it runs
  // (serve, logs --follow): committed about once a second (SaveOutput); the
  // runner's own capture replaces it when the attempt ends.
  if (Task* t = TaskOf(handle)) {
    std::string& so_far = is_stderr ? t->rec.err : t->rec.out;
    so_far += chunk;
    if (so_far.size() > kLiveOutputLimit) {
      so_far.erase(0, so_far.size() - kLiveOutputLimit);
      t->rec.truncated = true;
    }
    t->output_unsaved = true;
  }
  ReportEvent r = ReportEvent::Of("step.output", step);
  r.stream = is_stderr ? "stderr" : "stdout";
  r.data = std::move(chunk);
  Report(r);
}

void Executor::Impl::SaveOutput() {
  if (o_.dry_run) return;
  Batch b;
  for (auto& [v, t] : tasks_)
    if (t.output_unsaved && t.handle >= 0) {
      b.Add(t.rec);
      t.output_unsaved = false;
    }
  if (!b.empty()) Defer(std::move(b));
}

// ---- a process ended -----------------------------------------------------------------

void Executor::Impl::OnExit(Task& t, const RunnerEvent& e) {
  t.handle = -1;
  t.timeout_at.reset();
  t.kill_at.reset();
  if (broken_) return (void)EndTask(t);  // nothing more can be recorded, so nothing is claimed
  t.rec.finished_at = Wall();
  t.rec.exit_code = e.exit_code;
  t.rec.out = masker_.Mask(e.out);
  t.rec.err = masker_.Mask(t.start_error.empty() ? e.err : t.start_error);
  t.rec.truncated = e.truncated;
  if (t.interrupted) return OnInterrupted(t);
  switch (t.kind) {
    case Task::Kind::kCommand: return OnCommandExit(t, e);
    case Task::Kind::kVerify: return OnCheckExit(t, e);
    case Task::Kind::kChild: return OnChildExit(t, e);
    case Task::Kind::kPreflight: return OnPreflightExit(t, e);
    case Task::Kind::kHook: return OnHookExit(t, e);
    default: return;
  }
}

// Stopped by a signal: the attempt is `interrupted`, and so is a step; a
// hook goes back to `pending` (it runs again on resume).
void Executor::Impl::OnInterrupted(Task& t) {
  Batch b;
  bool live_attempt = !t.rec.step_id.empty() && t.rec.status == AttemptStatus::kRunning;
  if (live_attempt) {
    t.rec.status = AttemptStatus::kInterrupted;
    if (!t.rec.finished_at) t.rec.finished_at = Wall();
    b.Add(t.rec);
  }
  std::string unit = t.kind == Task::Kind::kPreflight ? "preflight" : S(t.v).id;
  if (t.kind == Task::Kind::kHook) {
    Rec(t.v).rollback = HookStatus::kPending;
    b.Add(Rec(t.v));
  } else if (t.kind != Task::Kind::kPreflight) {
    if (!Move(t.v, StepStatus::kInterrupted)) return (void)EndTask(t);
    b.Add(Rec(t.v));
  }
  b.Add(Ev("step.interrupted", unit, "interrupted"));
  EndTask(t);
  if (!Commit(std::move(b))) return;
  Report(ReportEvent::Of("step.finished", unit, "interrupted"));
}

void Executor::Impl::OnCommandExit(Task& t, const RunnerEvent& e) {
  const auto& s = S(t.v);
  StepRecord& r = Rec(t.v);
  r.exit_code = e.exit_code;
  std::map<std::string, std::string> from_file = ParseOutputFile(TakeOutputFile(t.output_file));
  if (!t.start_error.empty()) return AttemptFailed(t, Reason::kError, t.start_error);
  if (t.timed_out) return AttemptFailed(t, Reason::kTimeout, TimedOut(s.timeout));
  if (e.exit_code != 0) {
    std::string tail = FailureLines(t.rec.err.empty() ? t.rec.out : t.rec.err, 5);
    return AttemptFailed(t, Reason::kExit,
                         "exit code " + std::to_string(e.exit_code) + (tail.empty() ? "" : "\n" + tail));
  }
  auto outputs = ExtractOutputs(s, e.out, e.exit_code, from_file);
  if (e.simulated) {  // a dry run: show where each value would go
    outputs.error.reset();
    for (const auto& o : s.outputs) outputs.values[o.name] = "<steps." + s.id + ".outputs." + o.name + ">";
  }
  if (outputs.error) return AttemptFailed(t, Reason::kOutput, *outputs.error);
  t.rec.status = AttemptStatus::kSucceeded;
  SetOutputs(t.v, std::move(outputs.values));  // its own verification sees them
  if (!s.verify.empty()) {
    if (!Commit(Batch().Add(r).Add(t.rec))) return (void)EndTask(t);
    t.check = 0;
    t.check_try = 1;
    return StartCheck(t);
  }
  AttemptRecord done = t.rec;  // committed with the step's result: one transaction
  Succeed(EndTask(t), {}, &done);
}

void Executor::Impl::OnCheckExit(Task& t, const RunnerEvent& e) {
  const auto& s = S(t.v);
  const Check& c = s.verify[t.check];
  std::optional<std::string> why;
  if (!t.start_error.empty())
    why = t.start_error;
  else if (t.timed_out)
    why = TimedOut(c.timeout);
  else if (!e.simulated)
    why = CheckExpectation(c.expect, e.exit_code, e.out, e.err);
  t.rec.status = why ? AttemptStatus::kFailed : AttemptStatus::kSucceeded;
  t.rec.reason = why ? Reason::kVerification : Reason::kNone;
  if (!Commit(Batch().Add(t.rec).Add(Ev(why ? "verify.failed" : "verify.passed", s.id,
                                        "verification '" + c.name + (why ? "' failed: " + *why : "' passed")))))
    return (void)EndTask(t);
  Report(ReportEvent::Of("verify", s.id, ToString(t.rec.status), c.name + (why ? ": " + *why : "")));
  if (!why) {
    if (++t.check < s.verify.size()) {
      t.check_try = 1;
      return StartCheck(t);
    }
    return Succeed(EndTask(t));
  }
  if (t.check_try <= c.retries && !stopping_) {
    ++t.check_try;
    t.kind = Task::Kind::kVerifyDelay;
    t.timer_at = clock_->Now() + c.interval.count();
    return;
  }
  // The step's own retries re-run the command, then the verification.
  AttemptFailed(t, Reason::kVerification, "verification '" + c.name + "' failed: " + *why);
}

void Executor::Impl::OnChildExit(Task& t, const RunnerEvent& e) {
  const auto& s = S(t.v);
  Rec(t.v).exit_code = e.exit_code;
  if (!t.start_error.empty()) return AttemptFailed(t, Reason::kError, t.start_error);
  if (t.timed_out) return AttemptFailed(t, Reason::kTimeout, TimedOut(s.timeout));
  if (e.exit_code != 0)
    return AttemptFailed(t, Reason::kExit,
                         "child run " + t.child_run + " ended with exit code " + std::to_string(e.exit_code));
  std::map<std::string, std::string> outputs;
  auto steps = store_->GetSteps(t.child_run);
  if (!steps.ok()) return AttemptFailed(t, Reason::kError, steps.status().message());
  for (const auto& cs : *steps) {
    for (const auto& [k, v] : cs.outputs) {
      if (outputs.count(k))
        return AttemptFailed(t, Reason::kError,
                             "output '" + k + "' is produced by two steps of child run " + t.child_run);
      outputs[k] = v;
    }
  }
  t.rec.status = AttemptStatus::kSucceeded;
  AttemptRecord done = t.rec;
  Succeed(EndTask(t), outputs, &done);
}

void Executor::Impl::OnPreflightExit(Task& t, const RunnerEvent& e) {
  const Check& check = rb_.preflight[t.v];
  std::optional<std::string> why;
  if (!t.start_error.empty())
    why = t.start_error;
  else if (t.timed_out)
    why = TimedOut(check.timeout);
  else
    why = CheckExpectation(check.expect, e.exit_code, e.out, e.err);
  AttemptRecord& a = t.rec;
  a.status = why ? AttemptStatus::kFailed : AttemptStatus::kSucceeded;
  a.reason = why ? (t.start_error.empty() ? Reason::kVerification : Reason::kError) : Reason::kNone;
  if (why) preflight_failed_ = true;
  ReportEvent r;
  r.kind = "preflight";
  r.step = check.name;
  r.status = ToString(a.status);
  // What ran, and where: a person must be able to run it by hand.
  r.message = why ? *why + "\n$ " + a.command + "\n(in " + o_.workdir + ")" +
                        (a.err.empty() && a.out.empty() ? "" : "\n" + FailureLines(a.err.empty() ? a.out : a.err, 5))
                  : "";
  Batch b;
  b.Add(a).Add(Ev(why ? "preflight.failed" : "preflight.passed", "", check.name + (why ? ": " + *why : "")));
  EndTask(t);
  if (Commit(std::move(b))) Report(r);
}

void Executor::Impl::OnHookExit(Task& t, const RunnerEvent& e) {
  const auto& s = S(t.v);
  std::string error = !t.start_error.empty() ? t.start_error : t.timed_out ? TimedOut(s.rollback->timeout ? s.rollback->timeout : s.timeout) : "";
  bool ok = error.empty() && e.exit_code == 0;
  AttemptRecord& a = t.rec;
  a.status = ok ? AttemptStatus::kSucceeded : AttemptStatus::kFailed;
  a.reason = ok ? Reason::kNone : !t.start_error.empty() ? Reason::kError : t.timed_out ? Reason::kTimeout : Reason::kExit;
  StepRecord& r = Rec(t.v);
  r.rollback = ok ? HookStatus::kSucceeded : HookStatus::kFailed;
  if (ok && !Move(t.v, StepStatus::kRolledBack)) return (void)EndTask(t);
  std::string message =
      ok ? "rolled back" : "rollback failed: " + (error.empty() ? "exit code " + std::to_string(e.exit_code) : error);
  ReportEvent ev;
  ev.kind = "rollback";
  ev.step = s.id;
  ev.status = ToString(a.status);
  ev.message = ok ? "" : message + "\n" + FailureLines(a.err.empty() ? a.out : a.err, 5);
  ev.duration_ms = a.finished_at - a.started_at;
  Batch b;
  b.Add(r).Add(a).Add(Ev(ok ? "rollback.succeeded" : "rollback.failed", s.id, message));
  EndTask(t);
  if (Commit(std::move(b))) Report(ev);
}

// An attempt of the command, its verification or its child run failed:
// retry after the backoff, or the step fails.
void Executor::Impl::AttemptFailed(Task& t, Reason reason, const std::string& message) {
  const auto& s = S(t.v);
  StepRecord& r = Rec(t.v);
  Batch b;
  if (t.rec.kind == AttemptKind::kRun && t.rec.status == AttemptStatus::kRunning && !t.rec.step_id.empty()) {
    t.rec.status = AttemptStatus::kFailed;
    t.rec.reason = reason;
    if (!t.rec.finished_at) t.rec.finished_at = Wall();
    b.Add(r).Add(t.rec);
  }
  t.handle = -1;
  if (t.attempt < s.retry.attempts && !stopping_) {
    Millis delay = RetryDelay(s.retry, t.attempt + 1);
    std::string first_line = masker_.Mask(message.substr(0, message.find('\n')));
    b.Add(Ev("step.retry", s.id, std::string(ToString(reason)) + ": " + first_line + "; attempt " +
                                     std::to_string(t.attempt + 1) + " in " + FormatDuration(delay)));
    if (!Commit(std::move(b))) return (void)EndTask(t);
    ReportEvent e;
    e.kind = "step.retry";
    e.step = s.id;
    e.reason = ToString(reason);
    e.attempt = t.attempt;
    e.message = first_line + "; attempt " + std::to_string(t.attempt + 1) + "/" + std::to_string(s.retry.attempts) +
                " in " + FormatDuration(delay);
    Report(e);
    ++t.attempt;
    t.kind = Task::Kind::kRetryDelay;
    t.timer_at = clock_->Now() + delay.count();
    return;
  }
  Defer(std::move(b));
  Fail(EndTask(t), reason, message);
}

// ---- a step's result -------------------------------------------------------------------

StepRecord& Executor::Impl::Close(int v) {
  StepRecord& r = Rec(v);
  r.finished_at = Wall();
  if (!r.started_at) r.started_at = r.finished_at;
  return r;
}

// Recorded masked where a value held a secret; this engine keeps the clear
// value for its own later steps.
void Executor::Impl::SetOutputs(int v, std::map<std::string, std::string> outputs) {
  StepRecord& r = Rec(v);
  r.masked_outputs.clear();
  facts_.ForgetClear(r.step_id);
  for (auto& [k, val] : outputs) {
    if (!masker_.Contains(val)) continue;
    r.masked_outputs.push_back(k);
    facts_.KeepClear(r.step_id, k, val);
    val = masker_.Mask(val);
  }
  r.outputs = std::move(outputs);
}

void Executor::Impl::Succeed(int v, std::map<std::string, std::string> outputs, const AttemptRecord* attempt) {
  const auto& s = S(v);
  if (!outputs.empty()) SetOutputs(v, std::move(outputs));
  StepRecord& r = Close(v);
  r.reason = Reason::kNone;
  r.completed_seq = ++completed_seq_;
  if (!Move(v, StepStatus::kSucceeded)) return;
  Batch b;
  b.Add(r).Add(Ev("step.succeeded", s.id, "succeeded"));
  if (attempt) b.Add(*attempt);
  Defer(std::move(b));
  ReportFinished(r, "");
}

// The console's and JSON's line for a step that ended; `message` if it failed.
void Executor::Impl::ReportFinished(const StepRecord& r, const std::string& message, bool continued) {
  ReportEvent e = ReportEvent::Of("step.finished", r.step_id, ToString(r.status), message);
  e.continued = continued;
  if (r.reason != Reason::kNone) e.reason = ToString(r.reason);
  e.attempt = r.attempts;
  e.exit_code = r.exit_code;
  e.duration_ms = r.finished_at - r.started_at;
  Report(e);
}

void Executor::Impl::Fail(int v, Reason reason, const std::string& message) {
  const auto& s = S(v);
  StepRecord& r = Close(v);
  r.reason = reason;
  r.completed_seq = ++completed_seq_;
  if (!Move(v, StepStatus::kFailed)) return;
  Defer(Batch().Add(r).Add(Ev("step.failed", s.id, std::string(ToString(reason)) + ": " + masker_.Mask(message))));
  if (!s.continue_on_failure && !s.in_finally) {
    plan_->Halt();
    failed_ = true;
  }
  ReportFinished(r, masker_.Mask(message), s.continue_on_failure);
  if (reason == Reason::kTimeout) EscalateTimeout(s.id, "step " + s.id + " " + masker_.Mask(message));
}

void Executor::Impl::Skip(int v, bool propagates, const std::string& why) {
  const auto& s = S(v);
  StepRecord& r = Close(v);
  if (!Move(v, StepStatus::kSkipped, propagates)) return;
  Defer(Batch().Add(r).Add(Ev("step.skipped", s.id, why)));
  Report(ReportEvent::Of("step.finished", s.id, "skipped", why));
}

}  // namespace runbook
