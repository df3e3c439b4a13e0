// The executor's internals, shared by the files that implement it:
// executor.cc (the run, its phases and its loop), executor_tasks.cc
// (starting tasks: commands, checks, children, hooks), executor_exits.cc
// (what a process exit or a deadline means), executor_people.cc (manual
// steps and decisions). What a resume does to the record before the loop is
// engine/resume.h. Not for use outside those files: the interface is
// executor.h.
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
#include <tuple>

#include "engine/backoff.h"
#include "engine/commands.h"
#include "engine/eval.h"
#include "engine/facts.h"
#include "engine/executor.h"
#include "engine/plan.h"
#include "engine/resume.h"
#include "engine/step_io.h"

namespace runbook {

class Executor::Impl {
 public:
  Impl(const Runbook& rb, ExecOptions o, StateStore* store, ProcessRunner* runner, Clock* clock,
       Reporter* reporter, Asker* asker);

  RunOutcome Run();

 private:
  // One unit of work of the loop: a step's command, verification, child run,
  // wait or retry delay; a preflight check; a rollback hook. At most one per
  // unit (`v`) at a time, and only of the current phase.
  struct Task {
    enum class Kind { kCommand, kVerify, kRetryDelay, kVerifyDelay, kWaitStep, kChild, kPreflight, kHook };
    // steps, finally: the plan index; preflight: the check's index;
    // rollback: the main step's plan index.
    int v = 0;
    Kind kind = Kind::kCommand;
    int attempt = 1;  // this engine's tries of the command (retry counts them)
    int number = 0;   // the recorded attempt number of the command being run or verified
    size_t check = 0;
    int check_try = 1;
    int handle = -1;
    std::optional<int64_t> timeout_at, kill_at, timer_at;
    bool timed_out = false;
    bool interrupted = false;
    AttemptRecord rec;
    std::string start_error;  // the process could not be built or started
    std::string output_file;
    std::string child_run;
    bool output_unsaved = false;  // rec.out/err grew since the attempt was last committed
  };

  // ---- the run and its phases (executor.cc) ---------------------------------
  bool Open();
  bool HookApplies(int v) const;
  bool AnyHookApplies() const;
  void Enter(RunPhase phase, RunStatus outcome = RunStatus::kRunning);
  void EndOfWork();
  void ToFinally(RunStatus outcome);
  std::string EndReason() const;
  bool AskOrWait();
  void Waiting(int v);
  void Finish(RunStatus status, const std::string& reason);
  RunOutcome Outcome() const;
  void WaitForEvents();
  void Timers(int64_t now);
  void BeginStop(bool interrupt, bool kill_now);
  std::optional<int64_t> NextDeadline() const;

  // ---- records and commits -------------------------------------------------
  int64_t Wall() { return clock_->WallMs(); }
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
  bool Commit(Batch b);
  void Defer(Batch b) { pending_.Append(std::move(b)); }
  bool Flush() { return pending_.empty() ? !broken_ : Commit(Batch()); }
  void Report(ReportEvent e);
  // The engine cannot go on (the store failed, or a bug refused a
  // transition): the run stops, nothing new starts, the outcome says why.
  void Break(const std::string& error);
  // The one way a step's status changes: through its plan's lifecycle.
  bool Move(int v, StepStatus to, bool propagates = true);

  const runbook::Step& S(int v) const { return plan_->graph().step(v); }
  StepRecord& Rec(int v) { return plan_->Edit(v); }
  std::string NameOf(const runbook::Step& s);

  // ---- starting tasks (executor_tasks.cc) -----------------------------------
  void StartReady();
  void StartReadySteps();
  void Launch(int v);
  void StartStep(int v);  // a step now `running`: its kind's task
  void StartCommand(Task& t);
  void StartCheck(Task& t);
  void StartChild(Task& t);
  void StartWait(int v);
  void StartPreflight(size_t i);
  void StartHook(int v);
  // Starts the task's process (the attempt is committed): false if it did not start.
  bool Spawn(Task& t, const ProcessSpec& spec, std::optional<Millis> timeout);
  AttemptRecord NewAttempt(const std::string& step, AttemptKind kind, int check, const std::string& command);

  // ---- what happened (executor_exits.cc) ------------------------------------
  void OnExit(Task& t, const RunnerEvent& e);
  void OnCommandExit(Task& t, const RunnerEvent& e);
  void OnCheckExit(Task& t, const RunnerEvent& e);
  void OnChildExit(Task& t, const RunnerEvent& e);
  void OnPreflightExit(Task& t, const RunnerEvent& e);
  void OnHookExit(Task& t, const RunnerEvent& e);
  void OnInterrupted(Task& t);
  void AttemptFailed(Task& t, Reason reason, const std::string& message);
  void EmitOutput(int handle, const std::string& step, bool is_stderr, const std::string& data, bool flush);
  static constexpr size_t kLiveOutputLimit = 1 << 20;  // as the runner keeps: the tail
  void SaveOutput();
  void Succeed(int v, std::map<std::string, std::string> outputs = {}, const AttemptRecord* attempt = nullptr);
  void Fail(int v, Reason reason, const std::string& message);
  void Skip(int v, bool propagates, const std::string& why);
  void ReportFinished(const StepRecord& r, const std::string& message, bool continued = false);
  void SetOutputs(int v, std::map<std::string, std::string> outputs);
  StepRecord& Close(int v);
  // Erases the task and returns its unit: `t` is dangling afterwards.
  int EndTask(Task& t);
  Task* TaskOf(int handle);
  int Processes() const;

  // ---- people (executor_people.cc) -----------------------------------------
  struct Answered {  // a step's answer, whence it came and whose it is
    std::string value;
    AnswerSource source;
    std::string by;
  };
  static constexpr int64_t kInboxPollMs = 250;
  bool PersonStep(int v, bool may_ask);
  std::optional<Answered> FromInbox(int v, const std::vector<std::string>& choices);
  std::optional<Answered> AskPerson(int v, bool may_ask, const std::string& text,
                                    const std::vector<std::string>& checklist, const std::vector<std::string>& choices);
  void MarkWaiting(int v);
  void TakeAnswers(int64_t now);
  void Decide(int v, bool may_ask);
  void ResolvePerson(int v, const Answered& a, const std::string& overrode = "");

  // ---- telling the team (executor_notify.cc) -------------------------------
  struct Notice {  // a notifier's process
    std::string what, step, file;
    int64_t timeout_at = 0;
    std::optional<int64_t> kill_at;
    bool timed_out = false;
  };
  void Notify(const std::string& event, const std::string& step, const std::string& message,
              const std::string& contact = "");
  bool OnNotice(const RunnerEvent& e);  // whether `e` was a notifier's
  void NoticeTimers(int64_t now);
  std::optional<int64_t> NoticeDeadline() const;
  void DrainNotices();
  void Escalate();
  void EscalateTimeout(const std::string& step, const std::string& why);
  static std::string EscalationMessage(const std::string& contact, const std::string& why);
  std::optional<int64_t> EscalationDeadline() const;
  void LoadEscalated();

  const Runbook& rb_;
  ExecOptions o_;
  StateStore* store_;
  ProcessRunner* runner_;
  Clock* clock_;
  Reporter* reporter_;
  Asker* asker_;

  Masker masker_;
  std::vector<std::string> secret_names_;
  std::map<std::string, std::string> secret_env_;  // a secret's from_env variable -> the secret
  Commands commands_;  // how commands become processes

  RunRecord run_;  // its status, phase and outcome: the run's state
  Plan steps_;     // the main steps: their records, statuses, readiness
  Plan finally_;
  Plan* plan_ = &steps_;  // the list of the current phase (steps or finally)
  RunFacts facts_;  // what expressions see, read from the plans

  std::map<int, Task> tasks_;  // by unit (v)
  size_t next_check_ = 0;      // preflight
  bool preflight_failed_ = false;
  std::vector<int> hooks_;     // rollback: main steps whose hooks run, in order
  size_t next_hook_ = 0;
  // The highest attempt number recorded per (step, kind, check): numbering
  // goes on across resumes, so an attempt never overwrites another.
  std::map<std::tuple<std::string, AttemptKind, int>, int> numbers_;
  int64_t completed_seq_ = 0;

  bool done_ = false;         // the loop is over
  bool failed_ = false;       // a step failed with on_failure: fail
  bool timed_out_ = false;    // the run timeout expired
  bool timeout_seen_ = false; // a step failed by its timeout (escalation `when: timeout`)
  bool stopping_ = false;     // interrupt, run timeout or a broken engine: terminating what runs
  bool interrupted_ = false;
  bool broken_ = false;
  std::string error_;
  Batch pending_;                          // step results waiting for the next commit
  std::vector<ReportEvent> held_reports_;  // reports of them, and everything after
  std::optional<int64_t> run_deadline_;
  int64_t next_tick_ = 0;
  static constexpr int64_t kHeartbeatMs = 5000;
  int64_t next_heartbeat_ = 0;
  int64_t next_inbox_ = 0;
  bool waiting_steps_ = false;
  std::map<int, Notice> notices_;  // by runner handle
  int notices_started_ = 0;
  std::set<std::string> escalated_;  // contacts whose escalation fell due in this run (each once)
  std::vector<std::string> waiting_lines_;
  LineBuffer lines_;  // step output, by whole lines
  std::set<std::string> held_for_person_;  // not idempotent, running when the engine stopped
  std::map<std::string, std::string> resume_child_;  // runbook: step -> the child run to continue
};

}  // namespace runbook
