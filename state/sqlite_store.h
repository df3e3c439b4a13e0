// The state database: one SQLite file holding every run (SPEC section 7).
//
// Location: --state PATH, or $RUNBOOK_STATE, or .runbook/state.db in the
// nearest folder upward from the working directory that has a .runbook/
// (as git finds .git), else in the working directory. The folder is created
// 0700 and the file 0600: it holds command output. Journal: WAL.
// Writers open it with Open(); readers (runs, show, logs, report, list) with
// OpenForReading(), which never writes, locks for writing or migrates.
// A commit first checks that the path still names the file the store
// opened: a database removed or replaced under a run fails the next commit.
// Durability (SPEC 7, --durability):
//   crash  synchronous=NORMAL: every commit survives the engine's death; an
//          OS crash or power loss may lose the last few commits.
//   power  synchronous=FULL: every commit is fsynced.
// A Batch with `sync` set is committed with synchronous=FULL in either mode
// (the start of an idempotent: false step).
//
// Schema, version 2 (PRAGMA user_version). Times are ms since the epoch.
// Statuses, phases, reasons and kinds are the names of engine/lifecycle.h.
//
//   runs(id PK, parent_run, parent_step, runbook, path, source, sha256,
//        inputs JSON {name: value, secrets "***"}, secret_inputs JSON [names],
//        user, host, workdir, pid, owner_user, owner_host, owner_start,
//        owner_since, status, reason, started_at, finished_at,
//        phase preflight|steps|rollback|finally|done, outcome, tmp_dir)
//        pid/owner_*: the engine driving it now; with owner_start (the
//        process's start time) a reused pid is not taken for a live owner.
//        outcome: in finally, what steps and rollback came to. tmp_dir:
//        the owner's private folder, removed by an engine that takes over.
//   steps(run_id, step_id, phase main|finally, status, reason, attempts,
//         exit_code, started_at, finished_at, outputs JSON, masked_outputs
//         JSON, completed_seq, rollback ""|pending|running|succeeded|failed
//         (its hook); PK (run_id, step_id))
//   attempts(run_id, step_id, kind run|verify|rollback|preflight, number,
//            check_no, try_no, name, command, child_run, status, reason,
//            exit_code, started_at, finished_at, stdout, stderr, truncated;
//            PK (run_id, step_id, kind, number, check_no, try_no))
//            number: the step's attempt (a verification's: the attempt it
//            verifies); check_no: the 1-based check, 0 for a command;
//            try_no: the poll of that check.
//   decisions(run_id, step_id, value, source auto|default|answer|tty, by, at,
//             overrode: what the rules had chosen when a person's answer overrode them)
//   events(seq INTEGER PK AUTOINCREMENT, run_id, at, step_id, kind, message):
//          append-only; never updated or deleted but with its run (prune).
//
// Version 1 is migrated on the first write (Open); a reader of a version 1
// file reads a migrated copy in memory. A database that is not SQLite, or
// whose user_version is newer than this binary knows, is refused with a
// message and never written to.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>

#include "engine/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace runbook {

enum class Durability { kCrash, kPower };

class SqliteStore : public StateStore {
 public:
  static constexpr int kSchemaVersion = 2;

  // Opens (creating if needed) the database at `path`. A database locked by
  // another process is waited for up to `busy_timeout_ms` (then an error
  // that says so); $RUNBOOK_BUSY_TIMEOUT_MS overrides the default 5000.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, Durability durability,
                                                   int busy_timeout_ms = -1);
  // Opens an existing database to read (kNotFound if there is none). Commit
  // on it fails.
  static Result<std::unique_ptr<SqliteStore>> OpenForReading(const std::string& path, int busy_timeout_ms = -1);
  // Deletes finished top-level runs (and their child runs, steps, attempts,
  // decisions and events) that finished before `before_ms`. Returns how many.
  Result<int> Prune(int64_t before_ms);
  // PRAGMA synchronous of this connection: 1 NORMAL, 2 FULL.
  int Synchronous();
  ~SqliteStore() override;

  Status Commit(const Batch& batch) override;
  Result<std::optional<RunRecord>> CreateRun(const RunRecord& run, bool exclusive, const LivenessCheck& live) override;
  Result<Claim> ClaimRun(const std::string& id, const RunRecord& owner, const LivenessCheck& live) override;
  Result<RunRecord> GetRun(const std::string& id) override;
  Result<std::string> ResolveRun(const std::string& ref) override;
  Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override;
  Result<std::vector<StepRecord>> GetSteps(const std::string& run_id) override;
  Result<std::vector<AttemptRecord>> GetAttempts(const std::string& run_id) override;
  Result<std::vector<DecisionRecord>> GetDecisions(const std::string& run_id) override;
  Result<std::vector<EventRecord>> GetEvents(const std::string& run_id) override;
  Status AddToken(const std::string& name, const std::string& sha256, int64_t at) override;
  Result<std::optional<std::string>> TokenName(const std::string& sha256) override;
  Result<std::vector<std::pair<std::string, int64_t>>> ListTokens() override;
  Result<PostedAnswer> PostAnswer(const InboxAnswer& a) override;
  Result<std::vector<InboxAnswer>> PendingAnswers(const std::string& run_id) override;
  Result<bool> WaitForChange(int64_t timeout_ms) override;

  const std::string& path() const { return path_; }

 private:
  SqliteStore(sqlite3* db, std::string path, Durability durability, bool read_only);
  Status Exec(const std::string& sql);
  Result<int> SchemaVersion();
  Status Newer(int version) const;
  Status RememberFile();
  Status CheckFile() const;
  // The hot statements (a commit's BEGIN, writes and COMMIT) are prepared
  // once per connection and reused, keyed by their text's address: `sql`
  // must be a string literal.
  sqlite3_stmt* Cached(const char* sql);
  Status Run(const char* sql);
  Status Migrate();
  Status WriteBatch(const Batch& batch);

  sqlite3* db_;
  std::string path_;
  Durability durability_;
  bool read_only_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::map<const char*, sqlite3_stmt*> cache_;
  int64_t data_version_ = -1;  // WaitForChange: PRAGMA data_version last seen
};

// The database's absolute path from --state, $RUNBOOK_STATE, or the
// nearest .runbook/ upward (see above); a postgresql:// address as given
// (state/open_store.h).
std::string StatePath(const std::string& flag);

}  // namespace runbook
