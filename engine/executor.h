// The conductor: runs one runbook with a Plan, a ProcessRunner, a Clock and
// a StateStore (SPEC sections 3, 3.3, 4, 7, 8).
//
// One thread, one loop for the whole run (its shape is written above
// Impl::Run in executor.cc). A run goes through phases, each committed
// before the engine acts on it: preflight (the checks, one at a time),
// steps (the main DAG), rollback (the hooks of what ran, newest first),
// finally (its own DAG). Every check, step, verification and hook is a task
// of the same loop: timeouts, the grace period, interrupts and write-ahead
// behave alike in every phase. A resume continues the phase the run was in.
// A failure of the engine itself (the store cannot write) stops the run:
// running processes are killed, nothing new starts, nothing is reported as
// having succeeded that was not recorded.
#pragma once

#include <csignal>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/runner.h"
#include "engine/store.h"

namespace runbook {

// Everything the console and JSON output show; one per transition or chunk.
struct ReportEvent {
  std::string kind;  // run.started step.started step.output step.retry step.waiting step.finished
                     // decision rollback.started run.finished escalation ...
  std::string run_id;
  std::string step;
  std::string status;
  std::string reason;
  std::string message;
  std::string stream;  // step.output: stdout | stderr
  std::string data;    // step.output
  // waiting: the answers a person may give, and for each the command that
  // continues the run with it (the same order).
  std::vector<std::string> choices, commands;
  std::vector<std::string> checklist;  // waiting: a manual step's checklist
  bool continued = false;  // step.finished failed: under on_failure: continue, not the run's failure
  int attempt = 0;
  std::optional<int> exit_code;
  int64_t at = 0;           // wall ms
  int64_t duration_ms = -1;

  static ReportEvent Of(std::string kind, std::string step = "", std::string status = "", std::string message = "") {
    ReportEvent e;
    e.kind = std::move(kind);
    e.step = std::move(step);
    e.status = std::move(status);
    e.message = std::move(message);
    return e;
  }
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void Event(const ReportEvent& e) = 0;
  // Called about once a second while steps run (live displays).
  virtual void Tick(int64_t /*wall_ms*/) {}
};

// A person at a terminal. available() is false without a TTY: then a step
// that needs a person makes the run `waiting`.
class Asker {
 public:
  virtual ~Asker() = default;
  virtual bool available() const = 0;
  // Shows `text` (and `checklist`) and returns one of `choices`, or nullopt
  // if the person gave up (end of input). While the person thinks it calls
  // `elsewhere` about every quarter second: when that returns true (someone
  // answered on the web page) it stops asking and returns nullopt.
  virtual std::optional<std::string> Ask(const std::string& step, const std::string& text,
                                         const std::vector<std::string>& checklist,
                                         const std::vector<std::string>& choices,
                                         const std::function<bool()>& elsewhere) = 0;
};

// What an earlier engine recorded, for `runbook resume`.
struct ResumeState {
  RunRecord run;
  std::vector<StepRecord> steps;
  std::vector<AttemptRecord> attempts;  // numbering goes on after them; a runbook: step's child run
  std::vector<DecisionRecord> decisions;
  std::vector<std::string> rerun;  // --rerun: these and every step after them run again
};

struct ExecOptions {
  std::string run_id;
  std::string parent_run, parent_step;
  std::string workdir;  // absolute: where commands run unless a step says otherwise
  std::string user, host;
  int pid = 0;
  std::string owner_start;  // this process's start time (liveness, see store.h)
  std::map<std::string, std::string> inputs;   // resolved, secrets in clear (never stored)
  std::map<std::string, std::string> answers;  // --answer ID=VALUE
  std::map<std::string, std::string> base_env; // the engine's own environment
  int jobs = 2;
  int64_t grace_ms = 10000;
  bool sync_every_commit = false;  // --durability power (the store does it; kept for the record)
  // Sub-runbooks run as child processes of this same binary.
  std::string self_exe;
  std::string state_path;
  std::vector<std::string> child_flags;  // --durability, --grace ... passed on
  std::vector<std::string> runbook_path;
  // Set by signal handlers: 1 = interrupt (grace), 2 = again (kill now).
  const volatile std::sig_atomic_t* interrupt = nullptr;
  std::string tmp_dir;  // for $RUNBOOK_OUTPUT files: a folder only this engine's user can enter (recorded)
  std::string source_sha256;  // of the runbook's text, recorded with the run
  bool run_exists = false;    // the caller inserted the run record (CreateRun/ClaimRun)
  bool rollback_only = false; // `runbook rollback RUN`: the hooks of what ran, then finally
  std::string moved_from;     // resume --from-another-host: the host its steps ran on
  bool dry_run = false;       // nothing runs or is kept: what the engine says must say so
  std::optional<ResumeState> resume;
};

struct RunOutcome {
  RunStatus status = RunStatus::kFailed;  // SPEC 9
  int exit_code = 1;   // SPEC 9 exit code
  std::string error;   // the engine itself failed (store), if set
  // One complete command per answer a waiting step accepts:
  // `runbook resume RUN --answer ID=VALUE`, ready to paste.
  std::vector<std::string> waiting_commands;
  bool timed_out = false;  // the run, or a step that failed by its timeout, timed out in this engine
};

class Executor {
 public:
  Executor(const Runbook& rb, ExecOptions options, StateStore* store, ProcessRunner* runner, Clock* clock,
           Reporter* reporter, Asker* asker);
  ~Executor();

  RunOutcome Run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The record of a new run of `rb` under `o` (inputs redacted), started at
// `wall_ms`. The executor inserts it unless o.run_exists.
RunRecord NewRunRecord(const Runbook& rb, const ExecOptions& o, int64_t wall_ms);

}  // namespace runbook
