// The executor's internals, shared by the files that implement it:
// executor.cc (the run and its loop: results, process exits, timers),
// executor_start.cc (starting steps), executor_people.cc (manual steps and
// decisions), executor_recovery.cc (preflight, resume, rollback). Not for
// use outside those files: the interface is executor.h.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "engine/backoff.h"
#include "engine/eval.h"
#include "engine/executor.h"
#include "engine/plan.h"
#include "engine/step_io.h"

namespace runbook {

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
  // Group commit. A step's result is not written at once but with the next
  // commit, which is nearly always the start of the step that needed it:
  // one transaction instead of two per step. Nothing acts on the result
  // before that commit: a dependent starts only after its own `running`
  // record (and with it the result) is committed, reports of the result
  // are held until it is, and Flush() writes it before the engine blocks
  // (waiting for processes or asking a person) and at the end of a phase.
  bool Commit(Batch b) {
    bool ok = !store_failed_;
    if (ok) {
      if (!pending_.empty()) b = std::move(pending_.Append(std::move(b)));
      Status s = store_->Commit(b);
      if (!s.ok()) {
        ok = false;
        store_failed_ = true;
        store_error_ = s.message();
      }
    }
    pending_ = Batch();
    for (auto& e : held_reports_) reporter_->Event(e);  // true either way: the step did end
    held_reports_.clear();
    return ok;
  }
  void Defer(Batch b) { pending_.Append(std::move(b)); }
  bool Flush() { return pending_.empty() ? !store_failed_ : Commit(Batch()); }
  void Report(ReportEvent e) {
    e.run_id = o_.run_id;
    if (!e.at) e.at = Wall();
    if (!pending_.empty())
      held_reports_.push_back(std::move(e));
    else
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
  // The process of one of step `s`'s shell commands: attempt `number` is its
  // RUNBOOK_ATTEMPT; an error rendering the step's env goes to `env_error`.
  ProcessSpec StepSpec(const runbook::Step& s, const std::string& script, int number,
                       const std::string& output_file, std::string* env_error);
  // A new attempt record, started now.
  AttemptRecord NewAttempt(const std::string& step, const std::string& kind, int number, const std::string& command);
  // Marks a step's record finished with `status` (and `reason`), now.
  StepRecord& Close(const runbook::Step& s, const std::string& status, const std::string& reason);
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
  Batch pending_;                          // step results waiting for the next commit
  std::vector<ReportEvent> held_reports_;  // reports of them, and everything after
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

}  // namespace runbook
