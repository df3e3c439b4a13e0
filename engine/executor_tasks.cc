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
          EvalResult r = Evaluate(*s.when, *this);
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
  ReportEvent e;
  e.kind = "step.started";
  e.step = s.id;
  e.message = "wait " + FormatDuration(s.wait);
  Report(e);
}

// ---- building processes -------------------------------------------------------------

std::string Executor::Impl::WorkdirOf(const runbook::Step& s) const {
  std::filesystem::path w(s.workdir);
  std::string dir = w.is_absolute() ? w.string() : (std::filesystem::path(o_.workdir) / w).lexically_normal().string();
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();  // "dir/." normalises to "dir/"
  return dir;
}

ProcessSpec Executor::Impl::StepSpec(const runbook::Step& s, const std::string& script, int number,
                                     const std::string& output_file, std::string* env_error) {
  ProcessSpec spec;
  spec.argv = ShellArgv(s.shell, script);
  spec.env = EnvFor(&s, number, output_file, env_error);
  spec.workdir = WorkdirOf(s);
  spec.display = script;
  return spec;
}

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

// A name in the engine's private folder (ExecOptions::tmp_dir); the file is
// created by the step if it writes outputs: most steps never do.
std::string Executor::Impl::NewOutputFile(const std::string& step, const std::string& kind, int n) {
  return o_.tmp_dir + "/" + o_.run_id + "-" + step + "-" + kind + "-" + std::to_string(n);
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
  } else {
    env["RUNBOOK_STEP_ID"] = "preflight";
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
  auto cmd = RenderCommand(s.run, *this, secret_names_);
  if (!cmd.ok()) return Fail(EndTask(t), Reason::kError, *cmd.error);
  t.rec = NewAttempt(s.id, AttemptKind::kRun, 0, cmd.text);
  t.number = t.rec.number;
  std::string env_error;
  t.output_file = NewOutputFile(s.id, "run", t.number);
  ProcessSpec spec = StepSpec(s, cmd.text, t.number, t.output_file, &env_error);
  if (!env_error.empty()) return Fail(EndTask(t), Reason::kError, env_error);
  StepRecord& r = Rec(t.v);
  r.attempts = t.number;
  if (!r.started_at) r.started_at = t.rec.started_at;
  // Write-ahead: the step is recorded running before its process exists.
  Batch b;
  b.Add(r).Add(t.rec).Add(Ev("step.running", s.id, "attempt " + std::to_string(t.number) + ": " + cmd.text));
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
  auto cmd = RenderCommand(c.run, *this, secret_names_);
  if (!cmd.ok()) return AttemptFailed(t, Reason::kError, "verify " + c.name + ": " + *cmd.error);
  std::string env_error;
  int check = static_cast<int>(t.check) + 1;
  ProcessSpec spec =
      StepSpec(s, cmd.text, t.number, NewOutputFile(s.id, "verify", t.number * 1000 + check), &env_error);
  if (!env_error.empty()) return AttemptFailed(t, Reason::kError, "verify " + c.name + ": " + env_error);
  t.rec = AttemptRecord{};
  t.rec.run_id = o_.run_id;
  t.rec.step_id = s.id;
  t.rec.kind = AttemptKind::kVerify;
  t.rec.number = t.number;  // the command attempt it verifies
  t.rec.check = check;
  t.rec.try_number = t.check_try;
  t.rec.name = c.name;
  t.rec.command = cmd.text;
  t.rec.started_at = Wall();
  if (!Commit(Batch().Add(t.rec).Add(Ev("verify.running", s.id, c.name)))) return (void)EndTask(t);
  Spawn(t, spec, c.timeout);
}

// A runbook: step is a child run of this same binary. After a resume, a
// child run the step had started is continued, not started again.
void Executor::Impl::StartChild(Task& t) {
  const auto& s = S(t.v);
  // Found beside the parent's file first, then on RUNBOOK_PATH.
  std::vector<std::string> search = {std::filesystem::path(rb_.source.path()).parent_path().string()};
  search.insert(search.end(), o_.runbook_path.begin(), o_.runbook_path.end());
  std::string file;
  for (const auto& dir : search) {
    for (const char* ext : {".yaml", ".yml"}) {
      auto p = std::filesystem::path(dir.empty() ? "." : dir) / (s.runbook.value + ext);
      if (file.empty() && std::filesystem::is_regular_file(p)) file = std::filesystem::absolute(p).string();
    }
  }
  if (file.empty())
    return Fail(EndTask(t), Reason::kError,
                "child runbook '" + s.runbook.value + "' not found beside " + rb_.source.path() + " or on RUNBOOK_PATH");
  t.rec = NewAttempt(s.id, AttemptKind::kRun, 0, "");
  t.number = t.rec.number;
  ProcessSpec spec;
  auto resume = resume_child_.find(s.id);
  if (resume != resume_child_.end()) {
    t.child_run = resume->second;
    resume_child_.erase(resume);
    auto child = store_->GetRun(t.child_run);
    if (child.ok() && child->status == RunStatus::kSucceeded) {
      // It finished before the parent engine died: its outputs stand.
      t.rec.command = "child run " + t.child_run + " (already succeeded)";
      t.rec.child_run = t.child_run;
      StepRecord& r = Rec(t.v);
      r.attempts = t.number;
      if (!Commit(Batch().Add(r).Add(t.rec))) return (void)EndTask(t);
      RunnerEvent done;
      return OnChildExit(t, done);
    }
    if (child.ok() && !IsFinal(child->status))
      spec.argv = {o_.self_exe, "resume", t.child_run, "--state", o_.state_path, "--jobs", std::to_string(o_.jobs)};
  }
  if (spec.argv.empty()) {
    // Inputs go through a private file, not argv: they may hold secrets.
    std::string inputs_file = NewOutputFile(s.id, "inputs", t.number);
    std::ofstream in(inputs_file);
    for (const auto& [name, value] : s.runbook_inputs) {
      auto v = RenderText(value, *this);
      if (!v.ok()) return Fail(EndTask(t), Reason::kError, "input " + name + ": " + *v.error);
      std::string quoted = "'";
      for (char c : v.text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
      in << name << ": " << quoted << "'\n";
    }
    in.close();
    // Unique across resumes: the attempt number goes on.
    t.child_run = o_.run_id + "." + s.id + (t.number > 1 ? "." + std::to_string(t.number) : "");
    spec.argv = {o_.self_exe, "run", file, "--state", o_.state_path, "--inputs-file", inputs_file,
                 "--run-id", t.child_run, "--parent", o_.run_id + ":" + s.id, "--jobs", std::to_string(o_.jobs)};
  }
  for (const auto& f : o_.child_flags) spec.argv.push_back(f);
  std::string prefix = s.id + ".";
  for (const auto& [k, v] : o_.answers)
    if (k.rfind(prefix, 0) == 0) {
      spec.argv.push_back("--answer");
      spec.argv.push_back(k.substr(prefix.size()) + "=" + v);
    }
  std::string env_error;
  spec.env = EnvFor(&s, t.number, "", &env_error);
  spec.workdir = o_.workdir;
  spec.display = "runbook " + spec.argv[1] + " " + (spec.argv[1] == "run" ? file : t.child_run);
  t.rec.command = spec.display + " (run " + t.child_run + ")";
  t.rec.child_run = t.child_run;
  StepRecord& r = Rec(t.v);
  r.attempts = t.number;
  if (!r.started_at) r.started_at = t.rec.started_at;
  if (!Commit(Batch().Add(r).Add(t.rec).Add(Ev("step.running", s.id, t.rec.command)))) return (void)EndTask(t);
  ReportEvent e;
  e.kind = "step.started";
  e.step = s.id;
  e.attempt = t.attempt;
  e.message = "child run " + t.child_run + " of " + s.runbook.value;
  Report(e);
  Spawn(t, spec, s.timeout);
}

// ---- preflight and rollback ------------------------------------------------------------

void Executor::Impl::StartPreflight(size_t i) {
  const Check& check = rb_.preflight[i];
  Task t;
  t.v = static_cast<int>(i);
  t.kind = Task::Kind::kPreflight;
  auto cmd = RenderCommand(check.run, *this, secret_names_);
  t.rec = NewAttempt("preflight", AttemptKind::kPreflight, static_cast<int>(i) + 1, cmd.text);
  t.rec.name = check.name;
  if (!Commit(Batch().Add(t.rec).Add(Ev("preflight.started", "", check.name)))) return;
  Task& task = tasks_[t.v] = t;
  if (!cmd.ok()) {
    RunnerEvent e;
    e.exit_code = 127;
    task.start_error = *cmd.error;
    return OnExit(task, e);
  }
  ProcessSpec spec;
  spec.argv = ShellArgv("bash", cmd.text);
  std::string env_error;
  spec.env = EnvFor(nullptr, 1, "", &env_error);
  spec.workdir = o_.workdir;
  spec.display = cmd.text;
  Spawn(task, spec, check.timeout);
}

// A hook is recorded `running` before its process starts, like a step; a
// hook that was running when the engine died runs again on resume.
void Executor::Impl::StartHook(int v) {
  const auto& s = S(v);
  Task t;
  t.v = v;
  t.kind = Task::Kind::kHook;
  auto cmd = RenderCommand(s.rollback->run, *this, secret_names_);
  t.rec = NewAttempt(s.id, AttemptKind::kRollback, 0, cmd.text);
  StepRecord& r = Rec(v);
  r.rollback = HookStatus::kRunning;
  if (!Commit(Batch().Add(r).Add(t.rec).Add(Ev("rollback.running", s.id, cmd.text)))) return;
  Task& task = tasks_[v] = t;
  std::string env_error;
  ProcessSpec spec = StepSpec(s, cmd.text, t.rec.number, "", &env_error);
  if (!cmd.ok() || !env_error.empty()) {
    RunnerEvent e;
    e.exit_code = 127;
    task.start_error = cmd.ok() ? env_error : *cmd.error;
    return OnExit(task, e);
  }
  Spawn(task, spec, s.rollback->timeout ? s.rollback->timeout : s.timeout);
}

}  // namespace runbook
