#include "engine/executor_impl.h"

namespace runbook {

// ---- preflight ------------------------------------------------------------------

bool Executor::Impl::Preflight() {
  int n = 0;
  for (const auto& check : rb_.preflight) {
    ++n;
    std::string error;
    auto cmd = RenderCommand(check.run, *this, secret_names_);
    AttemptRecord a = NewAttempt("preflight", "preflight", n, cmd.text);
    a.name = check.name;
    if (!Commit(Batch().Add(a).Add(Ev("preflight.started", "", check.name)))) return false;
    RunnerEvent e;
    std::optional<std::string> why;
    if (!cmd.ok()) {
      why = *cmd.error;
    } else {
      ProcessSpec spec;
      spec.argv = ShellArgv("bash", cmd.text);
      spec.env = EnvFor(nullptr, 1, "", &error);
      spec.workdir = o_.workdir;
      e = RunToEnd("preflight", spec, check.timeout, &error);
      if (!error.empty()) why = error;
      else why = CheckExpectation(check.expect, e.exit_code, e.out, e.err);
    }
    a.finished_at = Wall();
    a.exit_code = e.exit_code;
    a.out = masker_.Mask(e.out);
    a.err = masker_.Mask(e.err);
    a.status = why ? "failed" : "succeeded";
    a.reason = why ? "verification" : "";
    Commit(Batch().Add(a).Add(Ev(why ? "preflight.failed" : "preflight.passed", "",
                                               check.name + (why ? ": " + *why : ""))));
    ReportEvent r;
    r.kind = "preflight";
    r.step = check.name;
    r.status = a.status;
    r.message = why ? *why + (a.err.empty() && a.out.empty() ? "" : "\n" + TailLines(a.err.empty() ? a.out : a.err, 5)) : "";
    Report(r);
    if (interrupted_ || why) return false;
  }
  return true;
}


// ---- resume --------------------------------------------------------------------

// SPEC 7: steps that succeeded are never run again and keep their outputs;
// failed, interrupted and orphaned-running steps run again, except that an
// `idempotent: false` step that was running needs --answer ID=rerun|done and
// waits for one like a manual step; --answer ID=done attests a step done;
// --rerun ID runs ID and everything after it again.
void Executor::Impl::Restore(Plan& plan) {
  const ResumeState& st = *o_.resume;
  std::set<int> rerun;
  for (const auto& id : st.rerun) {
    auto v = plan.graph().Index(id);
    if (!v) continue;
    rerun.insert(*v);
    for (int d = 0; d < plan.size(); ++d)
      if (plan.graph().Ancestors(d)[*v]) rerun.insert(d);
  }
  std::set<std::string> skipped_by_person;
  for (const auto& d : st.decisions)
    if (d.value == "skip" && (d.source == "answer" || d.source == "tty")) skipped_by_person.insert(d.step_id);
  Batch b;
  for (int v = 0; v < plan.size(); ++v) {
    const auto& s = plan.graph().step(v);
    StepRecord& r = Rec(s);
    std::string was = r.status;
    auto answer = o_.answers.find(s.id);
    bool attested = answer != o_.answers.end() && answer->second == "done" && s.kind != StepKind::kManual &&
                    s.kind != StepKind::kDecision && (was == "failed" || was == "running" || was == "interrupted" ||
                                                      was == "waiting");
    if (rerun.count(v)) {
      was = "pending";
    } else if (attested) {
      r.status = "succeeded";
      r.reason.clear();
      r.finished_at = Wall();
      r.completed_seq = ++completed_seq_;
      b.Add(r).Add(Ev("step.succeeded", s.id, "attested done by " + o_.user + "@" + o_.host));
      b.Add(DecisionRecord{o_.run_id, s.id, "done", "answer", o_.user + "@" + o_.host, Wall()});
      SyncFacts(r);
      plan.Restore(v, StepState::kSucceeded, false);
      continue;
    }
    if (was == "succeeded") {
      plan.Restore(v, StepState::kSucceeded, false);
      if (s.kind == StepKind::kDecision && r.outputs.count("choice")) plan.Choose(v, r.outputs.at("choice"));
      continue;
    }
    if (was == "skipped") {
      plan.Restore(v, StepState::kSkipped, !skipped_by_person.count(s.id));
      continue;
    }
    if (was == "failed" && s.continue_on_failure) {
      // Its failure was an answer, not an abort: once a step after it has
      // run, that answer has been acted on and stands.
      bool consumed = false;
      for (const auto& e : plan.graph().edges())
        if (e.need == v && Rec(plan.graph().step(e.step)).status != "pending") consumed = true;
      if (consumed) {
        plan.Restore(v, StepState::kFailed, false);
        continue;
      }
    }
    bool was_running = was == "running" || was == "interrupted";
    // Everything else starts again from pending (a wait step keeps its start:
    // it waits only for what remains).
    if (s.kind != StepKind::kWait) r.started_at = 0;
    r.status = "pending";
    r.reason.clear();
    r.exit_code.reset();
    r.outputs.clear();
    r.masked_outputs.clear();
    r.finished_at = 0;
    attempt_base_[s.id] = r.attempts;  // numbering goes on: earlier attempts stay recorded
    r.rollback.clear();
    b.Add(r);
    SyncFacts(r);
    if (was_running && !s.idempotent) {
      bool rerun_answered = answer != o_.answers.end() && answer->second == "rerun";
      if (!rerun_answered && !rerun.count(v)) held_for_person_.insert(s.id);
    }
  }
  Commit(std::move(b));
}


// ---- rollback -------------------------------------------------------------------

RunnerEvent Executor::Impl::RunToEnd(const std::string& step, const ProcessSpec& spec, std::optional<Millis> timeout,
                                     std::string* error) {
  RunnerEvent result;
  auto h = runner_->Start(spec);
  if (!h.ok()) {
    *error = h.status().message();
    result.exit_code = 127;
    return result;
  }
  std::optional<int64_t> timeout_at, kill_at;
  if (timeout) timeout_at = clock_->Now() + timeout->count();
  bool timed_out = false;
  while (true) {
    if (o_.interrupt && *o_.interrupt && !interrupted_) {
      interrupted_ = true;
      runner_->Terminate(*h);
      kill_at = clock_->Now() + o_.grace_ms;
    }
    if (o_.interrupt && *o_.interrupt > 1) runner_->Kill(*h);
    std::optional<int64_t> d = kill_at ? kill_at : timeout_at;
    for (auto& e : runner_->Wait(d)) {
      if (e.handle != *h) continue;
      if (e.kind == RunnerEvent::Kind::kOutput) {
        EmitOutput(e.handle, step, e.is_stderr, e.data, false);
        continue;
      }
      EmitOutput(e.handle, step, false, "", true);
      EmitOutput(e.handle, step, true, "", true);
      if (timed_out) *error = "timed out after " + FormatDuration(*timeout);
      return e;
    }
    int64_t now = clock_->Now();
    if (kill_at && now >= *kill_at) {
      runner_->Kill(*h);
      kill_at.reset();
    }
    if (timeout_at && now >= *timeout_at && !timed_out) {
      timed_out = true;
      runner_->Terminate(*h);
      kill_at = now + o_.grace_ms;
      timeout_at.reset();
    }
  }
}

// SPEC 3.3: the rollback hook of every step that ran (succeeded, or failed
// after starting its command), in reverse order of completion; a failing hook
// is recorded and the others still run.
std::string Executor::Impl::Rollback() {
  std::vector<const runbook::Step*> ran;
  for (const auto& s : rb_.steps) {
    const StepRecord& r = Rec(s);
    bool started = r.status == "succeeded" || (r.status == "failed" && r.attempts > 0 && r.reason != "answer");
    if (s.rollback && started) ran.push_back(&s);
  }
  std::sort(ran.begin(), ran.end(), [&](auto* a, auto* b) { return Rec(*a).completed_seq > Rec(*b).completed_seq; });
  Commit(Batch().Add(Ev("rollback.started", "", std::to_string(ran.size()) + " rollback hook(s) to run")));
  ReportEvent start;
  start.kind = "rollback.started";
  start.message = std::to_string(ran.size()) + " hook(s)";
  Report(start);
  bool all_ok = true;
  for (const auto* s : ran) {
    if (interrupted_) break;
    StepRecord& r = Rec(*s);
    auto cmd = RenderCommand(s->rollback->run, *this, secret_names_);
    AttemptRecord a = NewAttempt(s->id, "rollback", 1, cmd.text);
    Commit(Batch().Add(a).Add(Ev("rollback.running", s->id, cmd.text)));
    std::string error;
    RunnerEvent e;
    if (!cmd.ok()) {
      error = *cmd.error;
    } else {
      std::string env_error;
      ProcessSpec spec = StepSpec(*s, cmd.text, 1, "", &env_error);
      e = RunToEnd(s->id, spec, s->rollback->timeout ? s->rollback->timeout : s->timeout, &error);
    }
    bool ok = error.empty() && e.exit_code == 0;
    a.finished_at = Wall();
    a.exit_code = e.exit_code;
    a.out = masker_.Mask(e.out);
    a.err = masker_.Mask(e.err);
    a.status = ok ? "succeeded" : "failed";
    a.reason = ok ? "" : error.empty() ? "exit" : "error";
    r.rollback = a.status;
    if (ok) r.status = "rolled_back";
    std::string message = ok ? "rolled back" : "rollback failed: " + (error.empty() ? "exit code " + std::to_string(e.exit_code) : error);
    Commit(Batch().Add(r).Add(a).Add(Ev(ok ? "rollback.succeeded" : "rollback.failed", s->id, message)));
    ReportEvent ev;
    ev.kind = "rollback";
    ev.step = s->id;
    ev.status = a.status;
    ev.message = ok ? "" : message + "\n" + TailLines(a.err.empty() ? a.out : a.err, 5);
    ev.duration_ms = a.finished_at - a.started_at;
    Report(ev);
    all_ok = all_ok && ok;
  }
  return all_ok ? "rolled_back" : "rollback_failed";
}

}  // namespace runbook
