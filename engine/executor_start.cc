#include "engine/executor_impl.h"

namespace runbook {

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

ProcessSpec Executor::Impl::StepSpec(const runbook::Step& s, const std::string& script, int number,
                                     const std::string& output_file, std::string* env_error) {
  ProcessSpec spec;
  spec.argv = ShellArgv(s.shell, script);
  spec.env = EnvFor(&s, number, output_file, env_error);
  spec.workdir = WorkdirOf(s);
  spec.display = script;
  return spec;
}

AttemptRecord Executor::Impl::NewAttempt(const std::string& step, const std::string& kind, int number,
                                         const std::string& command) {
  AttemptRecord a;
  a.run_id = o_.run_id;
  a.step_id = step;
  a.kind = kind;
  a.number = number;
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
  ProcessSpec spec = StepSpec(s, cmd.text, number, t.output_file, &env_error);
  if (!env_error.empty()) {
    Fail(EndTask(t), "error", env_error);
    return;
  }
  t.rec = NewAttempt(s.id, "run", number, cmd.text);
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
  ProcessSpec spec = StepSpec(s, cmd.text, Number(s, t.attempt), NewOutputFile(s.id, "verify", number), &env_error);
  if (!env_error.empty()) {
    AttemptFailed(t, "error", "verify " + c.name + ": " + env_error);
    return;
  }
  t.rec = NewAttempt(s.id, "verify", number, cmd.text);
  t.rec.name = c.name;
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
  t.rec = NewAttempt(s.id, "run", Number(s, t.attempt), spec.display + " (run " + t.child_run + ")");
  r.status = "running";
  r.attempts = t.rec.number;
  if (!r.started_at) r.started_at = t.rec.started_at;
  if (!Commit(Batch().Add(r).Add(t.rec).Add(Ev("step.running", s.id, t.rec.command)))) {
    EndTask(t);
    return;
  }
  Spawn(t, spec, "child run " + t.child_run + " of " + s.runbook.value);
}

}  // namespace runbook
