// What the engine records about runs, and the interface of the store that
// keeps it (implemented over SQLite in state/, by a fake in tests).
//
// Write-ahead: the executor commits a Batch describing a transition *before*
// acting on it (a step is `running` before its process starts), and a step's
// result before any dependent starts. A Batch is one transaction: it lands
// whole or not at all.
//
// Times are milliseconds since the Unix epoch (UTC); 0 means "not yet".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/lifecycle.h"
#include "engine/status.h"

namespace runbook {

struct RunRecord {
  std::string id;
  std::string parent_run;   // "" for a top-level run
  std::string parent_step;
  std::string runbook;      // its name
  std::string path;         // the file, as given
  std::string source;       // the file's full text when the run started
  std::string sha256;       // of `source`
  std::map<std::string, std::string> inputs;  // secrets already redacted as "***"
  std::vector<std::string> secret_inputs;     // names, for masking on resume
  std::string user, host, workdir;  // who started it, where, in which folder
  // The engine driving it now. A run `running` whose owner is not alive
  // (pid gone, or reused: its start time differs) is orphaned.
  int pid = 0;
  std::string owner_user, owner_host;
  std::string owner_start;  // the owner process's start time (/proc/PID/stat field 22)
  int64_t owner_since = 0;
  std::string tmp_dir;  // the owner's private folder ($RUNBOOK_OUTPUT files): removed by whoever takes over
  RunStatus status = RunStatus::kRunning;
  RunPhase phase = RunPhase::kSteps;  // committed before the engine acts on it
  // In the finally phase: what the steps and rollback came to (`run.status`
  // for finally's expressions; the final status unless finally fails).
  RunStatus outcome = RunStatus::kRunning;
  std::string reason;
  int64_t started_at = 0;
  int64_t finished_at = 0;
};

struct StepRecord {
  std::string run_id;
  std::string step_id;
  std::string phase = "main";  // main | finally: the step list it belongs to
  StepStatus status = StepStatus::kPending;
  Reason reason = Reason::kNone;
  int attempts = 0;            // of its command (run attempts), numbered on across resumes
  std::optional<int> exit_code;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  std::map<std::string, std::string> outputs;  // secrets masked
  std::vector<std::string> masked_outputs;     // outputs that held a secret
  int64_t completed_seq = 0;  // order of completion, for rollback
  HookStatus rollback = HookStatus::kNone;  // its rollback hook, once rollback scheduled it
};

// One process the engine started for a step. Its identity is (run, step,
// kind, number, check, try): `number` is the step's attempt (1-based, going
// on across resumes; for rollback and preflight their own count), `check`
// the 1-based verification or preflight check (0 for the command itself),
// `try` the poll of that check within the attempt (1 for the command).
struct AttemptRecord {
  std::string run_id;
  std::string step_id;       // "preflight" for preflight checks
  AttemptKind kind = AttemptKind::kRun;
  int number = 1;
  int check = 0;
  int try_number = 1;
  std::string name;          // verify/preflight check name
  std::string command;       // as run (secrets never appear: they are variables)
  std::string child_run;     // a runbook: step's child run
  AttemptStatus status = AttemptStatus::kRunning;
  Reason reason = Reason::kNone;
  std::optional<int> exit_code;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  std::string out;  // captured stdout (tail), secrets masked
  std::string err;  // captured stderr (tail), secrets masked
  bool truncated = false;
};

struct DecisionRecord {
  std::string run_id;
  std::string step_id;
  std::string value;
  AnswerSource source = AnswerSource::kAuto;
  std::string by;      // who answered (user@host for people, "runbook" otherwise)
  int64_t at = 0;
  // A person's answer that overrode the decision's rules: what the rules had
  // chosen ("" when they chose nothing, or when nobody overrode them).
  std::string overrode;
};

// An answer a person gave elsewhere than the engine's terminal (the web
// page), in the run's inbox until the engine driving the run takes it: the
// commit that records a decision for the step takes every answer waiting for
// it (the decision is what was answered; a later one lost).
struct InboxAnswer {
  int64_t id = 0;  // assigned by the store
  std::string run_id;
  std::string step_id;
  std::string value;
  std::string by;  // "alice (web)"
  int64_t at = 0;
};

struct PostedAnswer {
  bool first = false;  // this answer stands; else `answer` is the one given before it
  InboxAnswer answer;
};

struct EventRecord {
  int64_t seq = 0;  // assigned by the store
  std::string run_id;
  int64_t at = 0;
  std::string step_id;
  std::string kind;     // run.started, step.running, step.succeeded, note, ...
  std::string message;
};

// One transition, committed atomically.
struct Batch {
  std::optional<RunRecord> new_run;
  std::optional<RunRecord> run;  // update of status, phase, outcome, reason, finished_at
  std::vector<StepRecord> steps;
  std::vector<AttemptRecord> attempts;
  std::vector<DecisionRecord> decisions;
  std::vector<EventRecord> events;
  bool sync = false;  // fsync before returning, whatever the durability mode

  Batch& Add(const StepRecord& r) { steps.push_back(r); return *this; }
  Batch& Add(const AttemptRecord& a) { attempts.push_back(a); return *this; }
  Batch& Add(const DecisionRecord& d) { decisions.push_back(d); return *this; }
  Batch& Add(const EventRecord& e) { events.push_back(e); return *this; }
  // Appends `later`: its records are written after these (a step in both
  // ends as `later` has it).
  Batch& Append(Batch later) {
    if (later.new_run) new_run = std::move(later.new_run);
    if (later.run) run = std::move(later.run);
    for (auto& r : later.steps) steps.push_back(std::move(r));
    for (auto& a : later.attempts) attempts.push_back(std::move(a));
    for (auto& d : later.decisions) decisions.push_back(std::move(d));
    for (auto& e : later.events) events.push_back(std::move(e));
    sync = sync || later.sync;
    return *this;
  }
  bool empty() const {
    return !new_run && !run && steps.empty() && attempts.empty() && decisions.empty() && events.empty();
  }
};

struct Claim {
  enum class Outcome {
    kClaimed,  // the caller drives the run now
    kLive,     // another live engine drives it: `run` names it
    kEnded,    // it ended (`run.status`): nothing to take over
  };
  Outcome outcome = Outcome::kClaimed;
  RunRecord run;  // as it was before the claim
};

struct RunFilter {
  std::string runbook;
  std::optional<RunStatus> status;
  bool top_level_only = true;
};

// Whether the engine recorded as a run's owner is alive (an OS question:
// the store only asks it, inside its transaction).
using LivenessCheck = std::function<bool(const RunRecord&)>;

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Writes the batch in one transaction. Fails (kIOError) without writing
  // if the database file was removed or replaced since it was opened.
  virtual Status Commit(const Batch& batch) = 0;

  // Atomically: with `exclusive`, finds a run of the same runbook that is
  // live, waiting, interrupted, failed or orphaned and returns it instead of
  // inserting; otherwise inserts `run` and returns nullopt.
  virtual Result<std::optional<RunRecord>> CreateRun(const RunRecord& run, bool exclusive,
                                                     const LivenessCheck& live) = 0;
  // Atomically, in one transaction: reads run `id`, and if it is open
  // (waiting, interrupted, failed, or running with no live owner) records
  // `owner` (its pid and owner_* fields, tmp_dir) as its driver and sets it
  // `running`. The answer says which happened, with the run as it was read.
  virtual Result<Claim> ClaimRun(const std::string& id, const RunRecord& owner, const LivenessCheck& live) = 0;

  virtual Result<RunRecord> GetRun(const std::string& id) = 0;
  // An id, a unique prefix of one, or "last" (the newest top-level run).
  virtual Result<std::string> ResolveRun(const std::string& ref) = 0;
  virtual Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) = 0;  // newest first
  virtual Result<std::vector<StepRecord>> GetSteps(const std::string& run_id) = 0;
  virtual Result<std::vector<AttemptRecord>> GetAttempts(const std::string& run_id) = 0;
  virtual Result<std::vector<DecisionRecord>> GetDecisions(const std::string& run_id) = 0;
  virtual Result<std::vector<EventRecord>> GetEvents(const std::string& run_id) = 0;

  // Named people's tokens for `runbook serve` (`runbook token add NAME`): only
  // a sha256 of each is kept. Adding a name again replaces its token.
  virtual Status AddToken(const std::string& name, const std::string& sha256, int64_t at) = 0;
  // The name a token's sha256 belongs to, or nullopt.
  virtual Result<std::optional<std::string>> TokenName(const std::string& sha256) = 0;
  virtual Result<std::vector<std::pair<std::string, int64_t>>> ListTokens() = 0;  // name, when added

  // Atomically: posts `a` to the inbox if its step is `waiting` and has no
  // answer there yet (the first wins; `first` says whether it is this one).
  // For a step that no longer waits, the last answer given to it stands
  // (an engine is acting on it); with none, kInvalid.
  virtual Result<PostedAnswer> PostAnswer(const InboxAnswer& a) = 0;
  // Answers not yet taken, of `run_id` (of every run when empty), oldest first.
  virtual Result<std::vector<InboxAnswer>> PendingAnswers(const std::string& run_id) = 0;

  // For live readers (serve, logs --follow): blocks until another connection
  // commits, or `timeout_ms` passes. True if something was committed since
  // the last call (SQLite: PRAGMA data_version; PostgreSQL: LISTEN).
  virtual Result<bool> WaitForChange(int64_t timeout_ms) = 0;

  // Whether the engine recorded as driving `r` is alive. A store of one
  // machine asks the OS (`os`: this host's processes, and "assume alive" for
  // another host's); a shared store knows for any host (PostgreSQL: the
  // owner's session lock).
  virtual bool OwnerAlive(const RunRecord& r, const LivenessCheck& os) { return os(r); }

  // The engine driving `run_id` asks, every few seconds while its steps run,
  // whether it still owns the run: a shared store says no once its session
  // is gone or another engine claimed the run (the engine then stops its
  // steps rather than let two engines run them). A file has no session.
  virtual Status Heartbeat(const std::string& /*run_id*/) { return Status::Ok(); }
};

}  // namespace runbook
