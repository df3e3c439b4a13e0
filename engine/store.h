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
  std::string status = "running";
  std::string reason;
  int64_t started_at = 0;
  int64_t finished_at = 0;
};

struct StepRecord {
  std::string run_id;
  std::string step_id;
  std::string phase = "main";  // main | finally
  std::string status = "pending";
  std::string reason;           // exit | timeout | verification | output | answer | error
  int attempts = 0;
  std::optional<int> exit_code;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  std::map<std::string, std::string> outputs;  // secrets masked
  std::vector<std::string> masked_outputs;     // outputs that held a secret
  int64_t completed_seq = 0;  // order of completion, for rollback
  std::string rollback;       // "" | succeeded | failed: its rollback hook
};

struct AttemptRecord {
  std::string run_id;
  std::string step_id;
  std::string kind = "run";  // run | verify | rollback | preflight
  int number = 1;            // 1-based within (step, kind)
  std::string name;          // verify/preflight check name
  std::string command;       // as run (secrets never appear: they are variables)
  std::string status = "running";  // running | succeeded | failed | interrupted
  std::string reason;
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
  std::string source;  // auto | default | answer | tty
  std::string by;      // who answered (user@host for people, "runbook" otherwise)
  int64_t at = 0;
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
  std::optional<RunRecord> run;  // update of status, reason, finished_at, pid
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

struct RunFilter {
  std::string runbook;
  std::string status;
  bool top_level_only = true;
};

// Whether the engine recorded as a run's owner is alive (an OS question:
// the store only asks it, inside its transaction).
using LivenessCheck = std::function<bool(const RunRecord&)>;

class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual Status Commit(const Batch& batch) = 0;

  // Atomically: with `exclusive`, finds a run of the same runbook that is
  // live, waiting, interrupted, failed or orphaned and returns it instead of
  // inserting; otherwise inserts `run` and returns nullopt.
  virtual Result<std::optional<RunRecord>> CreateRun(const RunRecord& run, bool exclusive,
                                                     const LivenessCheck& live) = 0;
  // Atomically takes over run `id` for `owner` (its owner_* fields and pid):
  // returns the run unchanged if another live engine owns it, else records
  // the new owner, sets it `running`, and returns nullopt.
  virtual Result<std::optional<RunRecord>> ClaimRun(const std::string& id, const RunRecord& owner,
                                                    const LivenessCheck& live) = 0;

  virtual Result<RunRecord> GetRun(const std::string& id) = 0;
  // An id, a unique prefix of one, or "last" (the newest top-level run).
  virtual Result<std::string> ResolveRun(const std::string& ref) = 0;
  virtual Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) = 0;  // newest first
  virtual Result<std::vector<StepRecord>> GetSteps(const std::string& run_id) = 0;
  virtual Result<std::vector<AttemptRecord>> GetAttempts(const std::string& run_id) = 0;
  virtual Result<std::vector<DecisionRecord>> GetDecisions(const std::string& run_id) = 0;
  virtual Result<std::vector<EventRecord>> GetEvents(const std::string& run_id) = 0;
};

}  // namespace runbook
