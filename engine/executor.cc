#include "engine/executor.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/backoff.h"
#include "engine/eval.h"
#include "engine/plan.h"
#include "engine/step_io.h"

namespace runbook {

int ExitCodeOf(const std::string& s) {
  if (s == "succeeded") return 0;
  if (s == "waiting") return 3;
  if (s == "interrupted") return 130;
  return 1;
}

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}


}  // namespace

class Executor::Impl : public EvalContext {
 public:
  Impl(const Runbook& rb, ExecOptions o, StateStore* store, ProcessRunner* runner, Clock* clock,
       Reporter* reporter, Asker* asker)
      : rb_(rb), o_(std::move(o)), store_(store), runner_(runner), clock_(clock), reporter_(reporter),
        asker_(asker) {
    for (const auto& d : rb_.inputs) {
      auto it = o_.inputs.find(d.name);
      if (d.secret) {
        secret_names_.push_back(d.name);
        if (it != o_.inputs.end()) masker_.Add(it->second);
      }
    }
  }

  RunOutcome Run();

  // ---- EvalContext ----------------------------------------------------------
  std::optional<Value> Input(const std::string& name) const override {
    auto it = o_.inputs.find(name);
    if (it == o_.inputs.end()) return Value::Null();
    const InputDecl* d = rb_.FindInput(name);
    if (d && d->type == InputDecl::Type::kNumber) return Value::Number(std::strtod(it->second.c_str(), nullptr));
    if (d && d->type == InputDecl::Type::kBoolean) return Value::Bool(it->second == "true");
    return Value::String(it->second);
  }
  std::optional<std::string> Env(const std::string& name) const override {
    auto it = run_env_.find(name);
    if (it != run_env_.end()) return it->second;
    auto b = o_.base_env.find(name);
    if (b != o_.base_env.end()) return b->second;
    return std::nullopt;
  }
  std::string RunField(const std::string& field) const override { return field == "id" ? o_.run_id : run_status_; }
  const StepFacts* Step(const std::string& id) const override {
    auto it = facts_.find(id);
    return it == facts_.end() ? nullptr : &it->second;
  }

 private:
  struct Task {
    enum class Phase { kCommand, kVerify, kRetryDelay, kVerifyDelay, kWaitStep, kChild };
    int v = 0;
    Phase phase = Phase::kCommand;
    int attempt = 1;
    size_t check = 0;
    int check_try = 1;
    int handle = -1;
    std::optional<int64_t> timeout_at, kill_at, timer_at;
    bool timed_out = false;
    bool interrupted = false;
    AttemptRecord rec;
    std::string output_file;
    std::string child_run;
  };
  enum class PhaseEnd { kDone, kHalted, kWaiting, kInterrupted, kStoreFailed };

  // ---- records ---------------------------------------------------------------
  int64_t Wall() { return clock_->WallMs(); }
  StepRecord& Rec(const runbook::Step& s) {
    auto [it, inserted] = records_.try_emplace(s.id);
    if (inserted) {
      it->second.run_id = o_.run_id;
      it->second.step_id = s.id;
      it->second.phase = s.in_finally ? "finally" : "main";
    }
    return it->second;
  }
  EventRecord Ev(const std::string& kind, const std::string& step, const std::string& message) {
    return {0, o_.run_id, Wall(), step, kind, message};
  }
  bool Commit(Batch b) {
    if (store_failed_) return false;
    Status s = store_->Commit(b);
    if (!s.ok()) {
      store_failed_ = true;
      store_error_ = s.message();
      return false;
    }
    return true;
  }
  void Report(ReportEvent e) {
    e.run_id = o_.run_id;
    if (!e.at) e.at = Wall();
    reporter_->Event(e);
  }
  void SyncFacts(const StepRecord& r) {
    StepFacts& f = facts_[r.step_id];
    f.status = r.status;
    f.exit_code = r.exit_code;
    f.outputs = r.outputs;
    f.masked_outputs = r.masked_outputs;
  }

  const runbook::Step& S(int v) const { return plan_->graph().step(v); }
  std::string NameOf(const runbook::Step& s) {
    if (s.name.raw.empty()) return s.id;
    auto r = RenderText(s.name, *this);
    return r.ok() ? r.text : s.name.raw;
  }

  // ---- phases ---------------------------------------------------------------
  bool Start();
  bool Preflight();
  PhaseEnd RunSteps(const std::vector<runbook::Step>& steps);
  std::string Rollback();
  void Finish(const std::string& status, const std::string& reason);

  // ---- the loop's handlers ---------------------------------------------------
  void Restore(Plan& plan);
  void StartReady();
  void Launch(int v);
  void StartCommand(Task& t);
  void StartCheck(Task& t);
  void Spawn(Task& t, const ProcessSpec& spec, const std::string& message);
  void StartChild(Task& t);
  void ResolvePerson(int v, const std::string& value, const std::string& source);
  bool PersonStep(int v, bool may_ask);
  void MarkWaiting(int v);
  void EmitOutput(int handle, const std::string& step, bool is_stderr, const std::string& data, bool flush);
  void Decide(int v, bool may_ask);
  void OnExit(Task& t, const RunnerEvent& e);
  void OnCommandExit(Task& t, const RunnerEvent& e);
  void OnCheckExit(Task& t, const RunnerEvent& e);
  void OnChildExit(Task& t, const RunnerEvent& e);
  void AttemptFailed(Task& t, const std::string& reason, const std::string& message);
  void Timers(int64_t now);
  void Succeed(int v, std::map<std::string, std::string> outputs = {}, const AttemptRecord* attempt = nullptr);
  void Fail(int v, const std::string& reason, const std::string& message);
  void Skip(int v, bool propagates, const std::string& why);
  void BeginStop(bool interrupt, bool kill_now);
  std::optional<int64_t> NextDeadline() const;
  // Erases the task and returns its step index: `t` is dangling afterwards.
  int EndTask(Task& t);
  Task* TaskOf(int handle);
  int Processes() const;

  // ---- building commands ----------------------------------------------------
  std::map<std::string, std::string> EnvFor(const runbook::Step* s, int attempt, const std::string& output_file,
                                            std::string* error);
  std::string WorkdirOf(const runbook::Step& s) const;
  std::string NewOutputFile(const std::string& step, const std::string& kind, int n);
  // Runs one command to its end (preflight, rollback), honouring `timeout`,
  // the grace period and interrupts.
  RunnerEvent RunToEnd(const std::string& step, const ProcessSpec& spec, std::optional<Millis> timeout,
                       std::string* start_error);

  const Runbook& rb_;
  ExecOptions o_;
  StateStore* store_;
  ProcessRunner* runner_;
  Clock* clock_;
  Reporter* reporter_;
  Asker* asker_;

  Masker masker_;
  std::vector<std::string> secret_names_;
  std::map<std::string, std::string> run_env_;
  std::map<std::string, StepRecord> records_;
  std::map<std::string, StepFacts> facts_;
  std::string run_status_ = "running";
  RunRecord run_;

  Plan* plan_ = nullptr;
  std::map<int, Task> tasks_;  // by plan index
  int64_t completed_seq_ = 0;
  bool failed_ = false;      // a step failed with on_failure: fail
  bool timed_out_ = false;   // the run timeout expired
  bool stopping_ = false;    // interrupt or run timeout: terminating what runs
  bool interrupted_ = false;
  bool store_failed_ = false;
  std::string store_error_;
  std::optional<int64_t> run_deadline_;
  int64_t next_tick_ = 0;
  std::vector<std::string> waiting_lines_;
  bool in_finally_ = false;
  bool failed_in_finally_ = false;
  std::map<std::string, std::map<std::string, std::string>> pending_outputs_;  // until verified
  std::map<std::pair<int, bool>, std::string> partial_output_;                 // (handle, stderr) -> unended line
  std::set<std::string> held_for_person_;  // not idempotent, running when the engine stopped
  std::map<std::string, int> attempt_base_;  // attempts recorded before a resume
  int Number(const runbook::Step& s, int attempt) const {
    auto it = attempt_base_.find(s.id);
    return (it == attempt_base_.end() ? 0 : it->second) + attempt;
  }
};

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

bool Executor::Impl::Preflight() {
  int n = 0;
  for (const auto& check : rb_.preflight) {
    ++n;
    std::string error;
    auto cmd = RenderCommand(check.run, *this, secret_names_);
    AttemptRecord a;
    a.run_id = o_.run_id;
    a.step_id = "preflight";
    a.kind = "preflight";
    a.number = n;
    a.name = check.name;
    a.command = cmd.text;
    a.started_at = Wall();
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

// ---- starting steps -------------------------------------------------------------

int Executor::Impl::Processes() const {
  int n = 0;
  for (const auto& [v, t] : tasks_) n += t.handle >= 0 || t.phase == Task::Phase::kRetryDelay;
  return n;
}

void Executor::Impl::StartReady() {
  bool progress = true;
  while (progress && !stopping_ && !store_failed_) {
    progress = false;
    for (int v : plan_->Ready()) {
      const auto& s = S(v);
      bool needs_slot = s.kind == StepKind::kRun || s.kind == StepKind::kRunbook;
      if (needs_slot && Processes() >= o_.jobs) continue;
      switch (plan_->GateOf(v)) {
        case Plan::Gate::kSkipUntakenBranch: Skip(v, true, "branch not taken"); break;
        case Plan::Gate::kSkipNeedsSkipped: Skip(v, true, "every step it needs was skipped"); break;
        case Plan::Gate::kEvaluateWhen: {
          EvalResult r = Evaluate(*s.when, *this);
          if (!r.ok()) {
            plan_->Start(v);
            Fail(v, "error", "when: " + *r.error);
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
      if (stopping_ || store_failed_) break;
    }
  }
}

void Executor::Impl::Launch(int v) {
  const auto& s = S(v);
  plan_->Start(v);
  if (held_for_person_.count(s.id)) {
    // It may have run to its end before the engine died: a person says.
    MarkWaiting(v);
    return;
  }
  Task t;
  t.v = v;
  switch (s.kind) {
    case StepKind::kRun:
      tasks_[v] = t;
      StartCommand(tasks_[v]);
      break;
    case StepKind::kRunbook:
      tasks_[v] = t;
      StartChild(tasks_[v]);
      break;
    case StepKind::kManual:
    case StepKind::kDecision:
      // Answers and automatic choices resolve now; a person is asked only
      // once nothing else runs, so a slow answer never holds back ready work.
      PersonStep(v, false);
      break;
    case StepKind::kWait: {
      StepRecord& r = Rec(s);
      r.status = "running";
      if (!r.started_at) r.started_at = Wall();  // a resume waits only for what remains
      r.attempts = 1;
      t.phase = Task::Phase::kWaitStep;
      t.timer_at = clock_->Now() + std::max<int64_t>(0, r.started_at + s.wait.count() - Wall());
      tasks_[v] = t;
      Commit(Batch().Add(r).Add(Ev("step.running", s.id, "waiting " + FormatDuration(s.wait))));
      ReportEvent e;
      e.kind = "step.started";
      e.step = s.id;
      e.message = "wait " + FormatDuration(s.wait);
      Report(e);
      break;
    }
  }
}

std::string Executor::Impl::WorkdirOf(const runbook::Step& s) const {
  std::filesystem::path w(s.workdir);
  std::string dir = w.is_absolute() ? w.string() : (std::filesystem::path(o_.workdir) / w).lexically_normal().string();
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();  // "dir/." normalises to "dir/"
  return dir;
}

std::string Executor::Impl::NewOutputFile(const std::string& step, const std::string& kind, int n) {
  std::string path = o_.tmp_dir + "/" + o_.run_id + "-" + step + "-" + kind + "-" + std::to_string(n);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  return path;
}

std::map<std::string, std::string> Executor::Impl::EnvFor(const runbook::Step* s, int attempt,
                                                          const std::string& output_file, std::string* error) {
  std::map<std::string, std::string> env = o_.base_env;
  for (const auto& [k, v] : run_env_) env[k] = v;
  if (s) {
    for (const auto& var : s->env) {
      auto r = RenderText(var.value, *this);
      if (!r.ok()) *error = "env " + var.name + ": " + *r.error;
      env[var.name] = r.text;
    }
    env["RUNBOOK_STEP_ID"] = s->id;
  }
  env["RUNBOOK_RUN_ID"] = o_.run_id;
  env["RUNBOOK_ATTEMPT"] = std::to_string(attempt);
  env["RUNBOOK_OUTPUT"] = output_file;
  for (const auto& d : rb_.inputs) {
    auto it = o_.inputs.find(d.name);
    env[InputEnvName(d.name)] = it == o_.inputs.end() ? "" : it->second;
  }
  return env;
}

void Executor::Impl::StartCommand(Task& t) {
  const auto& s = S(t.v);
  t.phase = Task::Phase::kCommand;
  t.timed_out = false;
  auto cmd = RenderCommand(s.run, *this, secret_names_);
  StepRecord& r = Rec(s);
  if (!cmd.ok()) {
    Fail(EndTask(t), "error", *cmd.error);
    return;
  }
  std::string env_error;
  int number = Number(s, t.attempt);
  t.output_file = NewOutputFile(s.id, "run", number);
  ProcessSpec spec;
  spec.argv = ShellArgv(s.shell, cmd.text);
  spec.env = EnvFor(&s, number, t.output_file, &env_error);
  spec.workdir = WorkdirOf(s);
  spec.display = cmd.text;
  if (!env_error.empty()) {
    Fail(EndTask(t), "error", env_error);
    return;
  }
  t.rec = AttemptRecord{};
  t.rec.run_id = o_.run_id;
  t.rec.step_id = s.id;
  t.rec.kind = "run";
  t.rec.number = number;
  t.rec.command = cmd.text;
  t.rec.started_at = Wall();
  r.status = "running";
  r.attempts = number;
  if (!r.started_at) r.started_at = t.rec.started_at;
  // Write-ahead: the step is recorded running before its process exists.
  Batch b;
  b.Add(r).Add(t.rec).Add(Ev("step.running", s.id, "attempt " + std::to_string(number) + ": " + cmd.text));
  b.sync = !s.idempotent;
  if (!Commit(std::move(b))) {
    EndTask(t);
    return;
  }
  SyncFacts(r);
  Spawn(t, spec, NameOf(s));
}

// Reports the start and starts the step's process, with its timeout.
void Executor::Impl::Spawn(Task& t, const ProcessSpec& spec, const std::string& message) {
  const auto& s = S(t.v);
  ReportEvent e;
  e.kind = "step.started";
  e.step = s.id;
  e.attempt = t.attempt;
  e.message = message;
  Report(e);
  auto h = runner_->Start(spec);
  if (!h.ok()) {
    AttemptFailed(t, "error", h.status().message());
    return;
  }
  t.handle = *h;
  if (s.timeout) t.timeout_at = clock_->Now() + s.timeout->count();
}

void Executor::Impl::StartCheck(Task& t) {
  const auto& s = S(t.v);
  const Check& c = s.verify[t.check];
  t.phase = Task::Phase::kVerify;
  t.timed_out = false;
  auto cmd = RenderCommand(c.run, *this, secret_names_);
  if (!cmd.ok()) {
    AttemptFailed(t, "error", "verify " + c.name + ": " + *cmd.error);
    return;
  }
  int number = static_cast<int>(t.check) * 1000 + (Number(s, t.attempt) - 1) * 100 + t.check_try;
  std::string env_error;
  ProcessSpec spec;
  spec.argv = ShellArgv(s.shell, cmd.text);
  spec.env = EnvFor(&s, t.attempt, NewOutputFile(s.id, "verify", number), &env_error);
  spec.workdir = WorkdirOf(s);
  spec.display = cmd.text;
  t.rec = AttemptRecord{};
  t.rec.run_id = o_.run_id;
  t.rec.step_id = s.id;
  t.rec.kind = "verify";
  t.rec.number = number;
  t.rec.name = c.name;
  t.rec.command = cmd.text;
  t.rec.started_at = Wall();
  if (!Commit(Batch().Add(t.rec).Add(Ev("verify.running", s.id, c.name)))) return;
  auto h = runner_->Start(spec);
  if (!h.ok()) {
    AttemptFailed(t, "error", h.status().message());
    return;
  }
  t.handle = *h;
  t.timeout_at.reset();
  if (c.timeout) t.timeout_at = clock_->Now() + c.timeout->count();
}

void Executor::Impl::StartChild(Task& t) {
  const auto& s = S(t.v);
  StepRecord& r = Rec(s);
  // Found beside the parent's file first, then on RUNBOOK_PATH.
  std::vector<std::string> search = {std::filesystem::path(rb_.source.path()).parent_path().string()};
  search.insert(search.end(), o_.runbook_path.begin(), o_.runbook_path.end());
  std::string file;
  for (const auto& dir : search) {
    for (const char* ext : {".yaml", ".yml"}) {
      auto p = std::filesystem::path(dir.empty() ? "." : dir) / (s.runbook.value + ext);
      if (file.empty() && std::filesystem::is_regular_file(p)) file = p.string();
    }
  }
  if (file.empty()) {
    Fail(EndTask(t), "error", "child runbook '" + s.runbook.value + "' not found beside " + rb_.source.path() +
                           " or on RUNBOOK_PATH");
    return;
  }
  // Inputs go through a private file, not argv: they may hold secrets.
  std::string inputs_file = NewOutputFile(s.id, "inputs", t.attempt);
  std::ofstream in(inputs_file);
  for (const auto& [name, value] : s.runbook_inputs) {
    auto v = RenderText(value, *this);
    if (!v.ok()) {
      Fail(EndTask(t), "error", "input " + name + ": " + *v.error);
      return;
    }
    std::string quoted = "'";
    for (char c : v.text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    in << name << ": " << quoted << "'\n";
  }
  in.close();
  t.child_run = o_.run_id + "." + s.id + (t.attempt > 1 ? "." + std::to_string(t.attempt) : "");
  t.phase = Task::Phase::kChild;
  ProcessSpec spec;
  spec.argv = {o_.self_exe, "run", file, "--state", o_.state_path, "--inputs-file", inputs_file,
               "--run-id", t.child_run, "--parent", o_.run_id + ":" + s.id, "--jobs", std::to_string(o_.jobs)};
  for (const auto& f : o_.child_flags) spec.argv.push_back(f);
  std::string prefix = s.id + ".";
  for (const auto& [k, v] : o_.answers)
    if (k.rfind(prefix, 0) == 0) {
      spec.argv.push_back("--answer");
      spec.argv.push_back(k.substr(prefix.size()) + "=" + v);
    }
  std::string env_error;
  spec.env = EnvFor(&s, t.attempt, "", &env_error);
  spec.workdir = o_.workdir;
  spec.display = "runbook run " + file;
  t.rec = AttemptRecord{};
  t.rec.run_id = o_.run_id;
  t.rec.step_id = s.id;
  t.rec.kind = "run";
  t.rec.number = Number(s, t.attempt);
  t.rec.command = spec.display + " (run " + t.child_run + ")";
  t.rec.started_at = Wall();
  r.status = "running";
  r.attempts = t.rec.number;
  if (!r.started_at) r.started_at = t.rec.started_at;
  if (!Commit(Batch().Add(r).Add(t.rec).Add(Ev("step.running", s.id, t.rec.command)))) {
    EndTask(t);
    return;
  }
  Spawn(t, spec, "child run " + t.child_run + " of " + s.runbook.value);
}

// ---- people -------------------------------------------------------------------

// Resolves a manual step or decision now if it can: from an --answer, by its
// automatic choices, or (may_ask) from the person at the terminal. Otherwise
// it becomes `waiting`. Returns whether it was resolved.
bool Executor::Impl::PersonStep(int v, bool may_ask) {
  const auto& s = S(v);
  if (held_for_person_.count(s.id)) {
    std::optional<std::string> a;
    if (may_ask && asker_->available())
      a = asker_->Ask(s.id, "Step '" + s.id + "' is not idempotent and was running when the engine stopped. "
                      "Run it again (rerun), or did it complete (done)?", {}, {"rerun", "done"});
    if (!a) return false;
    held_for_person_.erase(s.id);
    DecisionRecord d{o_.run_id, s.id, *a, "tty", o_.user + "@" + o_.host, Wall()};
    Commit(Batch().Add(d).Add(Ev("decision", s.id, *a + " (tty, " + d.by + ")")));
    if (*a == "done") {
      Succeed(v);
    } else {
      plan_->Finish(v, StepState::kPending);
      plan_->Start(v);
      Launch(v);
    }
    return true;
  }
  if (s.kind == StepKind::kDecision) {
    Decide(v, may_ask);
    return plan_->state(v) != StepState::kWaiting;
  }
  auto answer = o_.answers.find(s.id);
  if (answer != o_.answers.end()) {
    ResolvePerson(v, answer->second, "answer");
    return true;
  }
  if (may_ask && asker_->available()) {
    auto text = RenderText(s.manual, *this);
    auto a = asker_->Ask(s.id, text.ok() ? text.text : s.manual.raw, s.checklist, {"done", "skip", "fail"});
    if (a) {
      ResolvePerson(v, *a, "tty");
      return true;
    }
  }
  MarkWaiting(v);
  return false;
}

void Executor::Impl::MarkWaiting(int v) {
  const auto& s = S(v);
  if (plan_->state(v) != StepState::kWaiting) {
    plan_->Wait(v);
    StepRecord& r = Rec(s);
    r.status = "waiting";
    if (!r.started_at) r.started_at = Wall();
    SyncFacts(r);
    Commit(Batch().Add(r).Add(Ev("step.waiting", s.id, "waiting for a person")));
    ReportEvent e;
    e.kind = "step.waiting";
    e.step = s.id;
    e.message = NameOf(s);
    Report(e);
  }
}

void Executor::Impl::Decide(int v, bool may_ask) {
  const auto& s = S(v);
  const Decision& d = s.decision;
  std::optional<std::string> value;
  std::string source = "auto";
  for (const auto& c : d.choices) {
    if (!c.when) {
      if (!d.prompt) {  // without a prompt, a choice with no `when` is the catch-all
        value = c.value;
        break;
      }
      continue;
    }
    EvalResult r = Evaluate(*c.when, *this);
    if (!r.ok()) {
      Fail(v, "error", "choice " + c.value + ": " + *r.error);
      return;
    }
    if (r.value.Truthy()) {
      value = c.value;
      break;
    }
  }
  if (!value && d.prompt) {
    auto answer = o_.answers.find(s.id);
    std::vector<std::string> values;
    for (const auto& c : d.choices) values.push_back(c.value);
    if (answer != o_.answers.end()) {
      value = answer->second;
      source = "answer";
    } else if (may_ask && asker_->available()) {
      auto text = RenderText(*d.prompt, *this);
      value = asker_->Ask(s.id, text.ok() ? text.text : d.prompt->raw, {}, values);
      source = "tty";
    }
    if (!value) {
      MarkWaiting(v);
      return;
    }
  } else if (!value && d.default_choice) {
    value = d.default_choice->value;
    source = "default";
  }
  if (!value) {
    Fail(v, "error", "no choice applies and there is no prompt or default");
    return;
  }
  ResolvePerson(v, *value, source);
}

void Executor::Impl::ResolvePerson(int v, const std::string& value, const std::string& source) {
  const auto& s = S(v);
  DecisionRecord d{o_.run_id, s.id, value, source,
                   source == "answer" || source == "tty" ? o_.user + "@" + o_.host : "runbook", Wall()};
  StepRecord& r = Rec(s);
  if (!r.started_at) r.started_at = d.at;
  r.attempts = 1;
  Commit(Batch().Add(d).Add(Ev("decision", s.id, value + " (" + source + ", " + d.by + ")")));
  ReportEvent e;
  e.kind = "decision";
  e.step = s.id;
  e.message = value;
  e.reason = source;
  Report(e);
  if (s.kind == StepKind::kDecision) {
    plan_->Choose(v, value);
    Succeed(v, {{"choice", value}});
  } else if (value == "done") {
    Succeed(v);
  } else if (value == "skip") {
    Skip(v, false, "skipped by " + d.by);
  } else {
    Fail(v, "answer", "a person answered fail");
  }
}

// ---- results --------------------------------------------------------------------

void Executor::Impl::Succeed(int v, std::map<std::string, std::string> outputs, const AttemptRecord* attempt) {
  const auto& s = S(v);
  StepRecord& r = Rec(s);
  r.status = "succeeded";
  r.reason.clear();
  r.finished_at = Wall();
  if (!r.started_at) r.started_at = r.finished_at;
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
  Commit(std::move(b));
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
  StepRecord& r = Rec(s);
  r.status = "failed";
  r.reason = reason;
  r.finished_at = Wall();
  if (!r.started_at) r.started_at = r.finished_at;
  r.completed_seq = ++completed_seq_;
  Commit(Batch().Add(r).Add(Ev("step.failed", s.id, reason + ": " + masker_.Mask(message))));
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
  StepRecord& r = Rec(s);
  r.status = "skipped";
  r.reason.clear();
  r.finished_at = Wall();
  if (!r.started_at) r.started_at = r.finished_at;
  Commit(Batch().Add(r).Add(Ev("step.skipped", s.id, why)));
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
  std::map<std::string, std::string> from_file = ParseOutputFile(ReadFile(t.output_file));
  std::filesystem::remove(t.output_file);
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
    AttemptRecord a;
    a.run_id = o_.run_id;
    a.step_id = s->id;
    a.kind = "rollback";
    a.number = 1;
    a.command = cmd.text;
    a.started_at = Wall();
    Commit(Batch().Add(a).Add(Ev("rollback.running", s->id, cmd.text)));
    std::string error;
    RunnerEvent e;
    if (!cmd.ok()) {
      error = *cmd.error;
    } else {
      std::string env_error;
      ProcessSpec spec;
      spec.argv = ShellArgv(s->shell, cmd.text);
      spec.env = EnvFor(s, 1, "", &env_error);
      spec.workdir = WorkdirOf(*s);
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

// ---- the facade -------------------------------------------------------------------

Executor::Executor(const Runbook& rb, ExecOptions options, StateStore* store, ProcessRunner* runner, Clock* clock,
                   Reporter* reporter, Asker* asker)
    : impl_(std::make_unique<Impl>(rb, std::move(options), store, runner, clock, reporter, asker)) {}

Executor::~Executor() = default;

RunOutcome Executor::Run() { return impl_->Run(); }

}  // namespace runbook
