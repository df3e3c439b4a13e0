// The run and resume use cases (SPEC 7, 9): everything between a parsed
// command line and the executor. Preparing a run resolves its inputs and
// answers, claims its place (exclusivity) and records it; preparing a resume
// finds the run, checks that no live engine drives it and that its runbook
// did not change, takes its inputs and secrets again, and claims it in one
// transaction. Every effect goes through the store and the Host (engine/
// host.h); the command line only parses and prints.
//
// Errors carry a kind (engine/status.h) the CLI turns into an exit code:
// kBusy for a run another engine drives or an exclusive runbook that is
// open (exit 4), kInvalid or kNotFound for what the person asked (exit 2),
// kIOError for the machine (exit 1). Messages are whole sentences without
// the "runbook: " prefix; a message of several lines (diagnostics) is
// printed as it is.
#pragma once

#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/executor.h"
#include "engine/host.h"
#include "engine/model.h"
#include "engine/store.h"

namespace runbook {

// What run and resume share, from the command line. Paths are absolute.
struct EngineSettings {
  int jobs = 1;
  int64_t grace_ms = 10000;
  std::string state_path;
  std::vector<std::string> runbook_path;
  std::vector<std::string> child_flags;  // --grace, --durability ... passed on to child runs
  const volatile std::sig_atomic_t* interrupt = nullptr;
};

// A run ready to execute: its runbook and options, and the engine's private
// folder, which it owns: destroying it removes the folder.
class PreparedRun {
 public:
  PreparedRun(Host* host, std::unique_ptr<Runbook> owned, const Runbook* rb, ExecOptions o);
  ~PreparedRun();
  PreparedRun(const PreparedRun&) = delete;
  PreparedRun& operator=(const PreparedRun&) = delete;

  const Runbook& runbook() const { return *rb_; }
  const ExecOptions& options() const { return options_; }

 private:
  Host* host_;
  std::unique_ptr<Runbook> owned_;  // a resume parses the recorded source
  const Runbook* rb_;
  ExecOptions options_;
};

struct RunRequest {
  std::map<std::string, std::string> inputs;   // --input, --inputs-file
  std::map<std::string, std::string> answers;  // --answer, --answers-file
  std::string run_id;                          // set by a parent run; else a new id
  std::string parent;                          // RUN:STEP, for a runbook: step's child run
  bool new_run = false;                        // --new: even if the exclusive runbook is open
  bool dry_run = false;                        // nothing is recorded: `store` may be null
};

// A parent run passes a secret into a child's input: that input is secret
// in the child run whatever the child's file says (--secret-input NAME).
// Marks them and validates the runbook again (a secret may now stand where
// it would be shown); unknown names are an error.
Status MarkInputsSecret(Runbook* rb, const std::vector<std::string>& names);

// Whether the request's answers and inputs are acceptable, before anything
// is opened or recorded (PrepareRun checks them again).
Status CheckRun(const Runbook& rb, const RunRequest& req, Host& host);

// A new run of `rb` (validated by the caller), recorded in `store` unless a dry run.
Result<std::unique_ptr<PreparedRun>> PrepareRun(const Runbook& rb, const RunRequest& req, const EngineSettings& s,
                                                StateStore* store, Host& host, Clock& clock);

struct ResumeRequest {
  std::string target;  // RUN: an id, a prefix, `last`; "" for the newest open run
  std::map<std::string, std::string> inputs;   // secret inputs only
  std::map<std::string, std::string> answers;
  std::vector<std::string> rerun;
  bool allow_changed = false;
  bool rollback_only = false;  // `runbook rollback RUN`
  // Its steps ran on another machine (a shared store): run the rest here.
  // Without it such a resume is refused, naming both hosts.
  bool from_another_host = false;
  std::vector<std::string> secret_inputs;  // from a parent run, as for MarkInputsSecret
};

Result<std::unique_ptr<PreparedRun>> PrepareResume(const ResumeRequest& req, const EngineSettings& s,
                                                   StateStore& store, Host& host, Clock& clock);

// Answers name steps that exist and carry values those steps accept
// (STEP.CHILD-STEP passes an answer on to a runbook: step's child run).
Status CheckAnswers(const Runbook& rb, const std::map<std::string, std::string>& answers, bool resuming);

// Whether a resume started by a program (no terminal, no --input) could go
// on with `run`: every secret input it recorded can be had from the
// environment through its from_env variable. Else why not, and what a person
// at a terminal gives instead.
Status CanResumeUnattended(const Runbook& rb, const RunRecord& run, Host& host);

// Ends an open run that no live engine drives as `abandoned`, without rollback.
Result<RunRecord> AbandonRun(StateStore& store, Host& host, const std::string& ref, int64_t now_ms);

// "user@host (pid N) since TIME": who drives a run.
std::string OwnerText(const RunRecord& r);

// Hex sha256 of `text`: a run records its runbook's, and resume compares.
std::string Sha256(const std::string& text);

// A new run id: the UTC start time and 16 random bits, "20261201-031209-3f2a".
std::string NewRunId(int64_t wall_ms);

// A run id names files, URLs and page scripts: it is checked like a step id
// wherever it comes from (--run-id, a parent run, a store written by another
// engine). Letters, digits, '.', '_' and '-', starting with a letter or digit,
// no "..", at most 128 characters; a child run is PARENT.STEP[.N].
Status CheckRunId(const std::string& id);

}  // namespace runbook
