// The state database in PostgreSQL (issue 16): the same record as the SQLite
// file (state/sqlite_store.h), shared by a team, through libpq.
//
// --state postgresql://... (or postgres://, or RUNBOOK_STATE) opens it.
// Credentials come from libpq's own sources -- the connection string's
// service file, ~/.pgpass or PGPASSWORD -- and a connection string is
// printed only with its password removed (Redacted).
//
// Ownership and fencing (docs/durability.md): the store that creates or
// claims a run holds a session advisory lock on it for as long as its
// connection lives, and bumps the run's owner_epoch. "Is the owner alive?"
// is "is its lock held?", whatever host it runs on. Every commit of an owned
// run checks the epoch inside its transaction: an engine that lost the run
// (its session was terminated, another engine claimed it) fails its next
// commit and writes nothing after the new owner. The store never
// reconnects: a lost connection is a lost run.
//
// Live readers: every commit ends with NOTIFY runbook_events, 'RUN:SEQ'.
// Events of one run are inserted under a per-run transaction lock, so their
// seq values become visible in order: a reader resuming after seq N never
// misses a smaller one committed later.
//
// Schema: the tables of the SQLite store (outputs as bytea, so any bytes
// survive; other text made valid UTF-8), runs.owner_epoch, and
// runbook_schema(version).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/store.h"

struct pg_conn;

namespace runbook {

class PgStore : public StateStore {
 public:
  static constexpr int kSchemaVersion = 1;

  // Whether `spec` names a PostgreSQL database rather than a file.
  static bool Names(const std::string& spec);
  // `conninfo` with any password in it replaced by "***".
  static std::string Redacted(const std::string& conninfo);
  // Connects and makes the schema if it is not there.
  static Result<std::unique_ptr<PgStore>> Open(const std::string& conninfo);
  ~PgStore() override;

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

  // Whether the engine that owns run `id` is alive: its lock is held (by
  // anyone, this store included). A store that cannot tell says alive.
  bool OwnerAlive(const RunRecord& r, const LivenessCheck& os) override;
  Status Heartbeat(const std::string& run_id) override;
  // The backend pid of this store's connection (tests terminate it).
  int BackendPid() const;
  const std::string& shown() const { return shown_; }

 private:
  PgStore(pg_conn* conn, std::string shown) : conn_(conn), shown_(std::move(shown)) {}
  class Tx;
  struct Statement;
  Status WriteBatch(const Batch& b);  // inside a transaction of the caller's
  std::vector<Statement> Statements(const Batch& b);
  Status Pipeline(const std::vector<Statement>& stmts, const std::string& run_id);
  Status Fenced(const std::string& run_id);
  static std::string RunOf(const Batch& b);
  bool LockHeld(const std::string& id);
  static constexpr int kLockGraceMs = 2000;
  bool LockOutlives(const RunRecord& run, const LivenessCheck& os, const std::function<bool()>& held);

  pg_conn* conn_;
  std::string shown_;
  std::map<std::string, int64_t> owned_;  // run id -> the epoch this store claimed it at
  bool listening_ = false;
};

}  // namespace runbook
