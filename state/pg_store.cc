#include "state/pg_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "engine/lifecycle.h"
#include "state/record_json.h"

namespace runbook {
namespace {

using nlohmann::json;

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS runbook_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, parent_run TEXT NOT NULL DEFAULT '', parent_step TEXT NOT NULL DEFAULT '',
  runbook TEXT NOT NULL, path TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT NOT NULL,
  inputs TEXT NOT NULL, secret_inputs TEXT NOT NULL, "user" TEXT NOT NULL, host TEXT NOT NULL,
  workdir TEXT NOT NULL, pid BIGINT NOT NULL, owner_user TEXT NOT NULL, owner_host TEXT NOT NULL,
  owner_start TEXT NOT NULL, owner_since BIGINT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
  started_at BIGINT NOT NULL, finished_at BIGINT NOT NULL, phase TEXT NOT NULL DEFAULT 'steps',
  outcome TEXT NOT NULL DEFAULT '', tmp_dir TEXT NOT NULL DEFAULT '', owner_epoch BIGINT NOT NULL DEFAULT 0,
  created BIGSERIAL);
CREATE INDEX IF NOT EXISTS runs_by_runbook ON runs(runbook, started_at);
CREATE TABLE IF NOT EXISTS steps (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, phase TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT NOT NULL, attempts INTEGER NOT NULL, exit_code INTEGER, started_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL, outputs TEXT NOT NULL, masked_outputs TEXT NOT NULL,
  completed_seq BIGINT NOT NULL, rollback TEXT NOT NULL, ord BIGSERIAL, PRIMARY KEY (run_id, step_id));
CREATE TABLE IF NOT EXISTS attempts (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, kind TEXT NOT NULL, number INTEGER NOT NULL,
  check_no INTEGER NOT NULL DEFAULT 0, try_no INTEGER NOT NULL DEFAULT 1,
  name TEXT NOT NULL, command TEXT NOT NULL, child_run TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
  reason TEXT NOT NULL, exit_code INTEGER, started_at BIGINT NOT NULL, finished_at BIGINT NOT NULL,
  stdout BYTEA NOT NULL, stderr BYTEA NOT NULL, truncated INTEGER NOT NULL, ord BIGSERIAL,
  PRIMARY KEY (run_id, step_id, kind, number, check_no, try_no));
CREATE TABLE IF NOT EXISTS decisions (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, value TEXT NOT NULL, source TEXT NOT NULL,
  by TEXT NOT NULL, at BIGINT NOT NULL, overrode TEXT NOT NULL DEFAULT '', ord BIGSERIAL);
CREATE TABLE IF NOT EXISTS events (
  seq BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, at BIGINT NOT NULL,
  step_id TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_run ON events(run_id, seq);
CREATE TABLE IF NOT EXISTS tokens (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, added_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
  id BIGSERIAL PRIMARY KEY, run_id TEXT NOT NULL, step_id TEXT NOT NULL, value TEXT NOT NULL,
  by TEXT NOT NULL, at BIGINT NOT NULL, taken_at BIGINT NOT NULL DEFAULT 0);
)SQL";

const char* kRunColumns =
    "id, parent_run, parent_step, runbook, path, source, sha256, inputs, secret_inputs, \"user\", host, workdir, "
    "pid, status, reason, started_at, finished_at, owner_user, owner_host, owner_start, owner_since, phase, "
    "outcome, tmp_dir";
const char* kOpenStatuses = "('running','waiting','interrupted','failed')";

// Text PostgreSQL takes: valid UTF-8 (bad bytes become U+FFFD), no NUL.
std::string Clean(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size() && c != 0;
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (ok && n == 2) ok = c >= 0xc2;
    if (ok) {
      out.append(s, i, n);
      i += n;
    } else {
      if (c != 0) out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

using record_json::FromJson;
using record_json::ParseOr;
using record_json::ToJson;

// Parameters, all text but bytea (binary).
class Params {
 public:
  Params& T(const std::string& s) { return Add(Clean(s), 0); }
  Params& I(int64_t v) { return Add(std::to_string(v), 0); }
  Params& OptI(std::optional<int> v) {
    if (!v) {
      values_.emplace_back();
      nulls_.push_back(true);
      formats_.push_back(0);
      return *this;
    }
    return I(*v);
  }
  Params& B(const std::string& bytes) { return Add(bytes, 1); }
  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> Values() const {
    std::vector<const char*> v;
    for (size_t i = 0; i < values_.size(); ++i) v.push_back(nulls_[i] ? nullptr : values_[i].data());
    return v;
  }
  std::vector<int> Lengths() const {
    std::vector<int> v;
    for (const auto& s : values_) v.push_back(static_cast<int>(s.size()));
    return v;
  }
  const int* Formats() const { return formats_.data(); }

 private:
  Params& Add(std::string s, int format) {
    values_.push_back(std::move(s));
    nulls_.push_back(false);
    formats_.push_back(format);
    return *this;
  }
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
  std::vector<int> formats_;
};

class Res {
 public:
  explicit Res(PGresult* r) : r_(r) {}
  Res(Res&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  ~Res() { PQclear(r_); }
  int rows() const { return PQntuples(r_); }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  int64_t Int(int row, int col) const { return std::stoll(Text(row, col)); }
  std::optional<int> OptInt(int row, int col) const {
    if (PQgetisnull(r_, row, col)) return std::nullopt;
    return static_cast<int>(Int(row, col));
  }
  std::string Bytes(int row, int col) const {
    size_t n = 0;
    unsigned char* b = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col)), &n);
    std::string out(reinterpret_cast<char*>(b), n);
    PQfreemem(b);
    return out;
  }
  PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

RunRecord ReadRun(const Res& r, int i) {
  RunRecord x;
  x.id = r.Text(i, 0);
  x.parent_run = r.Text(i, 1);
  x.parent_step = r.Text(i, 2);
  x.runbook = r.Text(i, 3);
  x.path = r.Text(i, 4);
  x.source = r.Text(i, 5);
  x.sha256 = r.Text(i, 6);
  x.inputs = FromJson<std::map<std::string, std::string>>(r.Text(i, 7));
  x.secret_inputs = FromJson<std::vector<std::string>>(r.Text(i, 8));
  x.user = r.Text(i, 9);
  x.host = r.Text(i, 10);
  x.workdir = r.Text(i, 11);
  x.pid = static_cast<int>(r.Int(i, 12));
  x.status = ParseOr(r.Text(i, 13), RunStatus::kFailed);
  x.reason = r.Text(i, 14);
  x.started_at = r.Int(i, 15);
  x.finished_at = r.Int(i, 16);
  x.owner_user = r.Text(i, 17);
  x.owner_host = r.Text(i, 18);
  x.owner_start = r.Text(i, 19);
  x.owner_since = r.Int(i, 20);
  x.phase = ParseOr(r.Text(i, 21), RunPhase::kSteps);
  x.outcome = ParseOr(r.Text(i, 22), RunStatus::kRunning);
  x.tmp_dir = r.Text(i, 23);
  return x;
}

}  // namespace

// A statement of a commit, and what it does (for an error's message).
struct PgStore::Statement {
  std::string what, sql;
  Params params;
};

// One statement, with the store's connection; errors as Status.
class PgStore::Tx {
 public:
  explicit Tx(PgStore* s) : s_(s) {}
  Result<Res> Run(const std::string& sql, const Params& p = Params()) {
    auto values = p.Values();
    auto lengths = p.Lengths();
    PGresult* r = PQexecParams(s_->conn_, sql.c_str(), p.size(), nullptr, values.data(), lengths.data(),
                               p.Formats(), 0);
    Res res(r);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string msg = PQresultErrorMessage(r);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      if (msg.empty()) msg = PQerrorMessage(s_->conn_);
      const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      bool lost = PQstatus(s_->conn_) != CONNECTION_OK;
      Status::Code c = lost ? Status::Code::kIOError
                       : code && std::string(code).rfind("40", 0) == 0 ? Status::Code::kBusy
                       : code && std::string(code).rfind("23", 0) == 0 ? Status::Code::kInvalid
                                                                         : Status::Code::kIOError;
      return Status::Error(c, (lost ? "the connection to the database was lost (" + msg + "); nothing more is "
                                      "written by this engine"
                                    : msg));
    }
    return res;
  }
  Status Do(const std::string& sql, const Params& p = Params()) {
    auto r = Run(sql, p);
    return r.ok() ? Status::Ok() : r.status();
  }
  // Several statements, no parameters (the schema).
  Status Script(const std::string& sql) {
    Res res(PQexec(s_->conn_, sql.c_str()));
    ExecStatusType st = PQresultStatus(res.get());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Status::Ok();
    return Status::IOError(PQerrorMessage(s_->conn_));
  }
  Status Begin() { return Do("BEGIN"); }
  Status Commit() { return Do("COMMIT"); }
  void Rollback() { (void)Do("ROLLBACK"); }

 private:
  PgStore* s_;
};

bool PgStore::Names(const std::string& spec) {
  return spec.rfind("postgresql://", 0) == 0 || spec.rfind("postgres://", 0) == 0;
}

std::string PgStore::Redacted(const std::string& conninfo) {
  // URI user:password@ and ?password= / &password=, and key=value password=...
  std::string s = std::regex_replace(conninfo, std::regex(R"(^(postgres(?:ql)?://[^:@/]*):[^@/]*@)"), "$1:***@");
  s = std::regex_replace(s, std::regex(R"(([?&]password=)[^&]*)"), "$1***");
  return std::regex_replace(s, std::regex(R"((^|\s)password\s*=\s*('[^']*'|\S+))"), "$1password=***");
}

Result<std::unique_ptr<PgStore>> PgStore::Open(const std::string& conninfo) {
  std::string shown = Redacted(conninfo);
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQfinish(c);
    return Status::IOError("cannot connect to the state database " + shown + ": " + msg);
  }
  auto store = std::unique_ptr<PgStore>(new PgStore(c, shown));
  Tx tx(store.get());
  Status s = tx.Do("SET client_min_messages = warning");
  // The schema, made once by whoever comes first (a transaction lock, so two
  // engines starting at once do not race CREATE TABLE).
  if (s.ok()) s = tx.Begin();
  if (s.ok()) s = tx.Do("SELECT pg_advisory_xact_lock(hashtextextended('runbook:schema', 0))");
  if (s.ok()) s = tx.Script(kSchema);
  if (s.ok()) {
    auto v = tx.Run("SELECT max(version) FROM runbook_schema");
    if (!v.ok()) s = v.status();
    else if (v->Text(0, 0).empty()) s = tx.Do("INSERT INTO runbook_schema VALUES (1)");
    else if (v->Int(0, 0) > kSchemaVersion)
      s = Status::Invalid("the state database " + shown + " has schema version " + v->Text(0, 0) +
                          ", newer than this runbook knows (" + std::to_string(kSchemaVersion) + "): upgrade runbook");
  }
  if (s.ok()) s = tx.Commit();
  if (!s.ok()) {
    tx.Rollback();
    return s.Prefixed("state database " + shown);
  }
  return store;
}

PgStore::~PgStore() { PQfinish(conn_); }

int PgStore::BackendPid() const { return PQbackendPID(conn_); }

// A commit is one round trip: its statements go in one pipeline, which the
// server runs as one implicit transaction (all or nothing) up to the sync.
Status PgStore::Commit(const Batch& b) {
  std::string where = "state database " + shown_;
  return Pipeline(Statements(b), RunOf(b)).Prefixed(where);
}

Status PgStore::WriteBatch(const Batch& b) {
  Tx tx(this);
  for (const auto& st : Statements(b))
    if (Status s = tx.Do(st.sql, st.params); !s.ok()) return st.what == "fence" ? Fenced(RunOf(b)) : s.Prefixed(st.what);
  return Status::Ok();
}

std::string PgStore::RunOf(const Batch& b) {
  return b.new_run ? b.new_run->id : b.run ? b.run->id
         : !b.steps.empty() ? b.steps[0].run_id : !b.attempts.empty() ? b.attempts[0].run_id
         : !b.decisions.empty() ? b.decisions[0].run_id : !b.events.empty() ? b.events[0].run_id : "";
}

// Why a fenced commit was refused: who owns the run now.
Status PgStore::Fenced(const std::string& run_id) {
  auto r = Tx(this).Run("SELECT owner_user, owner_host, pid FROM runs WHERE id=$1", Params().T(run_id));
  std::string who = r.ok() && r->rows() == 1 ? " by " + r->Text(0, 0) + "@" + r->Text(0, 1) + " (pid " + r->Text(0, 2) + ")"
                                             : "";
  return Status::Busy("run " + run_id + " was taken over" + who + ": this engine no longer owns it and writes nothing more");
}

std::vector<PgStore::Statement> PgStore::Statements(const Batch& b) {
  std::vector<Statement> out;
  auto add = [&](std::string what, std::string sql, Params p) {
    out.push_back({std::move(what), std::move(sql), std::move(p)});
  };
  std::string run_id = RunOf(b);
  // Fencing: a run this store owns is written only while its epoch stands
  // (a stale one divides by zero, and the whole commit is rolled back).
  if (auto own = owned_.find(run_id); own != owned_.end() && !b.new_run)
    add("fence", "SELECT 1 / (CASE WHEN owner_epoch = $2 THEN 1 ELSE 0 END) FROM runs WHERE id = $1 FOR UPDATE",
        Params().T(run_id).I(own->second));
  if (b.new_run) {
    const RunRecord& r = *b.new_run;
    add("recording run " + r.id,
        std::string("INSERT INTO runs (") + kRunColumns +
            ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)",
        Params().T(r.id).T(r.parent_run).T(r.parent_step).T(r.runbook).T(r.path).T(r.source).T(r.sha256)
            .T(ToJson(r.inputs)).T(ToJson(r.secret_inputs)).T(r.user).T(r.host).T(r.workdir).I(r.pid)
            .T(ToString(r.status)).T(r.reason).I(r.started_at).I(r.finished_at).T(r.owner_user)
            .T(r.owner_host).T(r.owner_start).I(r.owner_since).T(ToString(r.phase))
            .T(ToString(r.outcome)).T(r.tmp_dir));
  }
  if (b.run) {
    const RunRecord& r = *b.run;
    add("updating run " + r.id, "UPDATE runs SET status=$1, reason=$2, finished_at=$3, phase=$4, outcome=$5 WHERE id=$6",
        Params().T(ToString(r.status)).T(r.reason).I(r.finished_at).T(ToString(r.phase)).T(ToString(r.outcome)).T(r.id));
  }
  for (const auto& x : b.steps)
    add("recording step " + x.step_id,
        "INSERT INTO steps (run_id, step_id, phase, status, reason, attempts, exit_code, started_at, finished_at, "
        "outputs, masked_outputs, completed_seq, rollback) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) "
        "ON CONFLICT (run_id, step_id) DO UPDATE SET phase=excluded.phase, status=excluded.status, "
        "reason=excluded.reason, attempts=excluded.attempts, exit_code=excluded.exit_code, "
        "started_at=excluded.started_at, finished_at=excluded.finished_at, outputs=excluded.outputs, "
        "masked_outputs=excluded.masked_outputs, completed_seq=excluded.completed_seq, rollback=excluded.rollback",
        Params().T(x.run_id).T(x.step_id).T(x.phase).T(ToString(x.status)).T(ToString(x.reason)).I(x.attempts)
            .OptI(x.exit_code).I(x.started_at).I(x.finished_at).T(ToJson(x.outputs)).T(ToJson(x.masked_outputs))
            .I(x.completed_seq).T(ToString(x.rollback)));
  for (const auto& a : b.attempts)
    add("recording an attempt of " + a.step_id,
        "INSERT INTO attempts (run_id, step_id, kind, number, check_no, try_no, name, command, child_run, status, "
        "reason, exit_code, started_at, finished_at, stdout, stderr, truncated) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) "
        "ON CONFLICT (run_id, step_id, kind, number, check_no, try_no) DO UPDATE SET name=excluded.name, "
        "command=excluded.command, child_run=excluded.child_run, status=excluded.status, reason=excluded.reason, "
        "exit_code=excluded.exit_code, started_at=excluded.started_at, finished_at=excluded.finished_at, "
        "stdout=excluded.stdout, stderr=excluded.stderr, truncated=excluded.truncated",
        Params().T(a.run_id).T(a.step_id).T(ToString(a.kind)).I(a.number).I(a.check).I(a.try_number).T(a.name)
            .T(a.command).T(a.child_run).T(ToString(a.status)).T(ToString(a.reason)).OptI(a.exit_code)
            .I(a.started_at).I(a.finished_at).B(a.out).B(a.err).I(a.truncated));
  for (const auto& d : b.decisions) {
    add("recording the answer of " + d.step_id,
        "INSERT INTO decisions (run_id, step_id, value, source, by, at, overrode) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        Params().T(d.run_id).T(d.step_id).T(d.value).T(ToString(d.source)).T(d.by).I(d.at).T(d.overrode));
    // The decision takes what waited for it in the inbox.
    add("taking the inbox's answers of " + d.step_id,
        "UPDATE answers SET taken_at=$1 WHERE run_id=$2 AND step_id=$3 AND taken_at=0",
        Params().I(d.at).T(d.run_id).T(d.step_id));
  }
  std::set<std::string> runs;  // whose events this batch writes; one writer of a run's events at a time,
  for (const auto& e : b.events) {  // so their seqs become visible in order
    if (runs.insert(e.run_id).second)
      add("ordering the events of " + e.run_id, "SELECT pg_advisory_xact_lock(hashtextextended('events:' || $1, 0))",
          Params().T(e.run_id));
    add("recording an event", "INSERT INTO events (run_id, at, step_id, kind, message) VALUES ($1,$2,$3,$4,$5)",
        Params().T(e.run_id).I(e.at).T(e.step_id).T(e.kind).T(e.message));
  }
  if (!run_id.empty()) runs.insert(run_id);
  for (const auto& run : runs)  // delivered on commit only
    add("telling the readers",
        "SELECT pg_notify('runbook_events', $1 || ':' || coalesce((SELECT max(seq) FROM events WHERE run_id = $1), 0))",
        Params().T(run));
  return out;
}

Status PgStore::Pipeline(const std::vector<Statement>& stmts, const std::string& run_id) {
  if (stmts.empty()) return Status::Ok();
  auto lost = [&] {
    std::string msg = PQerrorMessage(conn_);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Status::IOError("the connection to the database was lost (" + msg + "); nothing more is written by this engine");
  };
  if (PQstatus(conn_) != CONNECTION_OK || PQenterPipelineMode(conn_) != 1) return lost();
  bool sent = true;
  for (const auto& st : stmts) {
    auto values = st.params.Values();
    auto lengths = st.params.Lengths();
    if (!PQsendQueryParams(conn_, st.sql.c_str(), st.params.size(), nullptr, values.data(), lengths.data(),
                           st.params.Formats(), 0)) {
      sent = false;
      break;
    }
  }
  if (!sent || !PQpipelineSync(conn_)) {
    Status e = lost();
    (void)PQexitPipelineMode(conn_);
    return e;
  }
  Status first = Status::Ok();
  const Statement* failed = nullptr;
  for (const auto& st : stmts) {
    while (PGresult* r = PQgetResult(conn_)) {  // the statement's results, then a null
      ExecStatusType t = PQresultStatus(r);
      if (first.ok() && t == PGRES_FATAL_ERROR) {
        std::string msg = PQresultErrorMessage(r);
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
        first = PQstatus(conn_) != CONNECTION_OK ? lost() : Status::IOError(st.what + ": " + msg);
        failed = &st;
      }
      PQclear(r);
      if (PQstatus(conn_) != CONNECTION_OK) break;
    }
    if (PQstatus(conn_) != CONNECTION_OK) break;
  }
  while (PGresult* r = PQgetResult(conn_)) {  // the sync
    bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (sync) break;
  }
  (void)PQexitPipelineMode(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) return lost();
  if (failed && failed->what == "fence") return Fenced(run_id);
  return first;
}

// Looked up in pg_locks, not tried: trying would hold it for a moment, and
// an engine claiming the run then would read it as live.
bool PgStore::LockHeld(const std::string& id) {
  auto r = Tx(this).Run(
      "WITH k AS (SELECT hashtextextended('run:' || $1, 0) AS key) "
      "SELECT count(*) FROM pg_locks, k WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
      "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND classid::bigint = ((k.key >> 32) & 4294967295) AND objid::bigint = (k.key & 4294967295)",
      Params().T(id));
  return !r.ok() || r->Int(0, 0) > 0;
}

// An owner on this host whose process is gone (`os` can tell) still holds
// its lock until the server has seen its session end, a few milliseconds
// later: that moment is waited for (at most kLockGraceMs), so a resume right
// after a crash is not told the dead engine is live.
bool PgStore::LockOutlives(const RunRecord& run, const LivenessCheck& os,
                           const std::function<bool()>& held) {
  if (!held()) return false;
  if (os(run)) return true;  // alive, or on another host: its lock says
  for (int waited = 0; waited < kLockGraceMs; waited += 10) {
    usleep(10'000);
    if (!held()) return false;
  }
  return true;
}

bool PgStore::OwnerAlive(const RunRecord& run, const LivenessCheck& os) {
  if (owned_.count(run.id)) return true;  // this store: alive
  return LockOutlives(run, os, [&] { return LockHeld(run.id); });
}

Result<std::optional<RunRecord>> PgStore::CreateRun(const RunRecord& run, bool exclusive, const LivenessCheck&) {
  std::string where = "state database " + shown_;
  Tx tx(this);
  Status s = tx.Begin();
  // Across every engine on this database: one creator of a runbook's run at a time.
  if (s.ok()) s = tx.Do("SELECT pg_advisory_xact_lock(hashtextextended('runbook:' || $1, 0))", Params().T(run.runbook));
  if (s.ok() && exclusive) {
    auto r = tx.Run(std::string("SELECT ") + kRunColumns + " FROM runs WHERE runbook=$1 AND parent_run='' AND status IN " +
                        kOpenStatuses + " ORDER BY started_at DESC LIMIT 1",
                    Params().T(run.runbook));
    if (!r.ok()) {
      s = r.status();
    } else if (r->rows() == 1) {
      RunRecord blocking = ReadRun(*r, 0);
      tx.Rollback();
      return std::optional<RunRecord>(blocking);
    }
  }
  if (s.ok()) {
    Batch b;
    b.new_run = run;
    s = WriteBatch(b);
  }
  if (s.ok()) s = tx.Do("SELECT pg_advisory_lock(hashtextextended('run:' || $1, 0))", Params().T(run.id));
  if (s.ok()) {
    auto r = tx.Run("UPDATE runs SET owner_epoch = 1 WHERE id=$1 RETURNING owner_epoch", Params().T(run.id));
    if (!r.ok()) s = r.status();
    else owned_[run.id] = 1;
  }
  if (s.ok()) s = tx.Commit();
  if (!s.ok()) {
    tx.Rollback();
    owned_.erase(run.id);
    return s.Prefixed(where);
  }
  return std::optional<RunRecord>();
}

// The lock first (not in a transaction: a session lock outlives it), then
// the read and the update under FOR UPDATE: of two engines claiming at once,
// one gets the lock and the other reads it held, so the owner is live.
Result<Claim> PgStore::ClaimRun(const std::string& id, const RunRecord& owner, const LivenessCheck& live) {
  std::string where = "state database " + shown_;
  Tx tx(this);
  Status failed = Status::Ok();
  auto try_lock = [&] {
    auto locked = tx.Run("SELECT pg_try_advisory_lock(hashtextextended('run:' || $1, 0))", Params().T(id));
    if (!locked.ok()) failed = locked.status();
    return locked.ok() && locked->Text(0, 0) == "t";
  };
  bool mine = owned_.count(id) || try_lock();
  if (!mine && failed.ok()) {  // held: by a live engine, or by one whose session the server has yet to end
    auto before = GetRun(id);
    if (before.ok()) mine = !LockOutlives(*before, live, [&] { return !try_lock() && failed.ok(); });
  }
  if (!failed.ok()) return failed.Prefixed(where);
  auto unlock = [&] {
    if (!owned_.count(id)) (void)tx.Do("SELECT pg_advisory_unlock(hashtextextended('run:' || $1, 0))", Params().T(id));
  };
  Status s = tx.Begin();
  if (!s.ok()) return s.Prefixed(where);
  auto r = tx.Run(std::string("SELECT ") + kRunColumns + " FROM runs WHERE id=$1 FOR UPDATE", Params().T(id));
  if (!r.ok() || r->rows() != 1) {
    Status e = !r.ok() ? r.status() : Status::NotFound("no run " + id);
    tx.Rollback();
    if (mine) unlock();
    return e.Prefixed(where);
  }
  Claim claim;
  claim.run = ReadRun(*r, 0);
  if (IsFinal(claim.run.status)) claim.outcome = Claim::Outcome::kEnded;
  else if (!mine) claim.outcome = Claim::Outcome::kLive;  // its owner holds the lock, whichever host it is on
  if (claim.outcome != Claim::Outcome::kClaimed) {
    tx.Rollback();
    if (mine) unlock();
    return claim;
  }
  auto up = tx.Run("UPDATE runs SET pid=$1, owner_user=$2, owner_host=$3, owner_start=$4, owner_since=$5, tmp_dir=$6, "
                   "status='running', finished_at=0, owner_epoch=owner_epoch+1 WHERE id=$7 RETURNING owner_epoch",
                   Params().I(owner.pid).T(owner.owner_user).T(owner.owner_host).T(owner.owner_start)
                       .I(owner.owner_since).T(owner.tmp_dir).T(id));
  if (up.ok()) s = tx.Commit();
  if (!up.ok() || !s.ok()) {
    tx.Rollback();
    unlock();
    return (up.ok() ? s : up.status()).Prefixed(where);
  }
  owned_[id] = up->Int(0, 0);
  return claim;
}

Result<RunRecord> PgStore::GetRun(const std::string& id) {
  auto r = Tx(this).Run(std::string("SELECT ") + kRunColumns + " FROM runs WHERE id=$1", Params().T(id));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return Status::NotFound("no run " + id);
  return ReadRun(*r, 0);
}

Result<std::string> PgStore::ResolveRun(const std::string& ref) {
  Tx tx(this);
  if (ref == "last") {
    auto r = tx.Run("SELECT id FROM runs WHERE parent_run='' ORDER BY started_at DESC, created DESC LIMIT 1");
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return Status::NotFound("no runs yet in " + shown_);
    return r->Text(0, 0);
  }
  auto r = tx.Run("SELECT id FROM runs WHERE substr(id, 1, length($1)) = $1 ORDER BY started_at DESC LIMIT 3",
                  Params().T(ref));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return Status::NotFound("no run matches '" + ref + "' in " + shown_ + " (see: runbook runs)");
  for (int i = 0; i < r->rows(); ++i)
    if (r->Text(i, 0) == ref) return ref;
  if (r->rows() > 1)
    return Status::Invalid("'" + ref + "' matches several runs (" + r->Text(0, 0) + ", " + r->Text(1, 0) +
                           ", ...): give more of the id");
  return r->Text(0, 0);
}

Result<std::vector<RunRecord>> PgStore::ListRuns(const RunFilter& f) {
  auto r = Tx(this).Run(std::string("SELECT ") + kRunColumns +
                            " FROM runs WHERE ($1 = '' OR runbook = $1) AND ($2 = '' OR status = $2)" +
                            (f.top_level_only ? " AND parent_run = ''" : "") + " ORDER BY started_at DESC, created DESC",
                        Params().T(f.runbook).T(f.status ? ToString(*f.status) : ""));
  if (!r.ok()) return r.status();
  std::vector<RunRecord> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(ReadRun(*r, i));
  return out;
}

Result<std::vector<StepRecord>> PgStore::GetSteps(const std::string& run_id) {
  auto r = Tx(this).Run("SELECT run_id, step_id, phase, status, reason, attempts, exit_code, started_at, finished_at, "
                        "outputs, masked_outputs, completed_seq, rollback FROM steps WHERE run_id=$1 ORDER BY ord",
                        Params().T(run_id));
  if (!r.ok()) return r.status();
  std::vector<StepRecord> out;
  for (int i = 0; i < r->rows(); ++i) {
    StepRecord s;
    s.run_id = r->Text(i, 0);
    s.step_id = r->Text(i, 1);
    s.phase = r->Text(i, 2);
    s.status = ParseOr(r->Text(i, 3), StepStatus::kFailed);
    s.reason = ParseOr(r->Text(i, 4), Reason::kError);
    s.attempts = static_cast<int>(r->Int(i, 5));
    s.exit_code = r->OptInt(i, 6);
    s.started_at = r->Int(i, 7);
    s.finished_at = r->Int(i, 8);
    s.outputs = FromJson<std::map<std::string, std::string>>(r->Text(i, 9));
    s.masked_outputs = FromJson<std::vector<std::string>>(r->Text(i, 10));
    s.completed_seq = r->Int(i, 11);
    s.rollback = ParseOr(r->Text(i, 12), HookStatus::kFailed);
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<AttemptRecord>> PgStore::GetAttempts(const std::string& run_id) {
  auto r = Tx(this).Run("SELECT run_id, step_id, kind, number, check_no, try_no, name, command, child_run, status, "
                        "reason, exit_code, started_at, finished_at, stdout, stderr, truncated FROM attempts "
                        "WHERE run_id=$1 ORDER BY started_at, ord",
                        Params().T(run_id));
  if (!r.ok()) return r.status();
  std::vector<AttemptRecord> out;
  for (int i = 0; i < r->rows(); ++i) {
    AttemptRecord a;
    a.run_id = r->Text(i, 0);
    a.step_id = r->Text(i, 1);
    a.kind = ParseOr(r->Text(i, 2), AttemptKind::kRun);
    a.number = static_cast<int>(r->Int(i, 3));
    a.check = static_cast<int>(r->Int(i, 4));
    a.try_number = static_cast<int>(r->Int(i, 5));
    a.name = r->Text(i, 6);
    a.command = r->Text(i, 7);
    a.child_run = r->Text(i, 8);
    a.status = ParseOr(r->Text(i, 9), AttemptStatus::kFailed);
    a.reason = ParseOr(r->Text(i, 10), Reason::kError);
    a.exit_code = r->OptInt(i, 11);
    a.started_at = r->Int(i, 12);
    a.finished_at = r->Int(i, 13);
    a.out = r->Bytes(i, 14);
    a.err = r->Bytes(i, 15);
    a.truncated = r->Int(i, 16) != 0;
    out.push_back(std::move(a));
  }
  return out;
}

Result<std::vector<DecisionRecord>> PgStore::GetDecisions(const std::string& run_id) {
  auto r = Tx(this).Run("SELECT run_id, step_id, value, source, by, at, overrode FROM decisions WHERE run_id=$1 "
                        "ORDER BY ord",
                        Params().T(run_id));
  if (!r.ok()) return r.status();
  std::vector<DecisionRecord> out;
  for (int i = 0; i < r->rows(); ++i)
    out.push_back({r->Text(i, 0), r->Text(i, 1), r->Text(i, 2), ParseOr(r->Text(i, 3), AnswerSource::kAuto),
                   r->Text(i, 4), r->Int(i, 5), r->Text(i, 6)});
  return out;
}

Result<std::vector<EventRecord>> PgStore::GetEvents(const std::string& run_id) {
  auto r = Tx(this).Run("SELECT seq, run_id, at, step_id, kind, message FROM events WHERE run_id=$1 ORDER BY seq",
                        Params().T(run_id));
  if (!r.ok()) return r.status();
  std::vector<EventRecord> out;
  for (int i = 0; i < r->rows(); ++i)
    out.push_back({r->Int(i, 0), r->Text(i, 1), r->Int(i, 2), r->Text(i, 3), r->Text(i, 4), r->Text(i, 5)});
  return out;
}

Status PgStore::AddToken(const std::string& name, const std::string& sha256, int64_t at) {
  return Tx(this).Do("INSERT INTO tokens (name, sha256, added_at) VALUES ($1, $2, $3) "
                     "ON CONFLICT (name) DO UPDATE SET sha256=excluded.sha256, added_at=excluded.added_at",
                     Params().T(name).T(sha256).I(at));
}

Result<std::optional<std::string>> PgStore::TokenName(const std::string& sha256) {
  auto r = Tx(this).Run("SELECT name FROM tokens WHERE sha256=$1", Params().T(sha256));
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r->Text(0, 0));
}

Result<std::vector<std::pair<std::string, int64_t>>> PgStore::ListTokens() {
  auto r = Tx(this).Run("SELECT name, added_at FROM tokens ORDER BY name");
  if (!r.ok()) return r.status();
  std::vector<std::pair<std::string, int64_t>> out;
  for (int i = 0; i < r->rows(); ++i) out.emplace_back(r->Text(i, 0), r->Int(i, 1));
  return out;
}

Result<PostedAnswer> PgStore::PostAnswer(const InboxAnswer& a) {
  Tx tx(this);
  Status s = tx.Begin();
  if (s.ok()) s = tx.Do("SELECT pg_advisory_xact_lock(hashtextextended('answer:' || $1 || '/' || $2, 0))",
                        Params().T(a.run_id).T(a.step_id));
  if (!s.ok()) {
    tx.Rollback();
    return s;
  }
  auto step = tx.Run("SELECT status FROM steps WHERE run_id=$1 AND step_id=$2", Params().T(a.run_id).T(a.step_id));
  if (!step.ok()) {
    tx.Rollback();
    return step.status();
  }
  bool waiting = step->rows() == 1 && step->Text(0, 0) == ToString(StepStatus::kWaiting);
  auto given = tx.Run(waiting ? "SELECT id, value, by, at FROM answers WHERE run_id=$1 AND step_id=$2 AND taken_at=0 "
                                "ORDER BY id LIMIT 1"
                              : "SELECT id, value, by, at FROM answers WHERE run_id=$1 AND step_id=$2 ORDER BY id DESC "
                                "LIMIT 1",
                      Params().T(a.run_id).T(a.step_id));
  if (!given.ok() || given->rows() == 1 || !waiting) {
    tx.Rollback();
    if (!given.ok()) return given.status();
    if (given->rows() == 1)
      return PostedAnswer{false, {given->Int(0, 0), a.run_id, a.step_id, given->Text(0, 1), given->Text(0, 2),
                                  given->Int(0, 3)}};
    return Status::Invalid("step '" + a.step_id + "' of run " + a.run_id + " is not waiting for an answer");
  }
  auto ins = tx.Run("INSERT INTO answers (run_id, step_id, value, by, at) VALUES ($1,$2,$3,$4,$5) RETURNING id",
                    Params().T(a.run_id).T(a.step_id).T(a.value).T(a.by).I(a.at));
  if (ins.ok()) s = tx.Do("SELECT pg_notify('runbook_events', $1)", Params().T(a.run_id + ":0"));
  if (ins.ok() && s.ok()) s = tx.Commit();
  if (!ins.ok() || !s.ok()) {
    tx.Rollback();
    return ins.ok() ? s : ins.status();
  }
  PostedAnswer posted{true, a};
  posted.answer.id = ins->Int(0, 0);
  return posted;
}

Result<std::vector<InboxAnswer>> PgStore::PendingAnswers(const std::string& run_id) {
  auto r = Tx(this).Run("SELECT id, run_id, step_id, value, by, at FROM answers WHERE taken_at=0 AND ($1='' OR run_id=$1) "
                        "ORDER BY id",
                        Params().T(run_id));
  if (!r.ok()) return r.status();
  std::vector<InboxAnswer> out;
  for (int i = 0; i < r->rows(); ++i)
    out.push_back({r->Int(i, 0), r->Text(i, 1), r->Text(i, 2), r->Text(i, 3), r->Text(i, 4), r->Int(i, 5)});
  return out;
}

// Every commit ends with NOTIFY runbook_events (state/pg_store.h): a reader
// LISTENs, then waits on the connection's socket.
Result<bool> PgStore::WaitForChange(int64_t timeout_ms) {
  if (!listening_) {
    Status s = Tx(this).Do("LISTEN runbook_events");
    if (!s.ok()) return s;
    listening_ = true;
  }
  auto drain = [&] {
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      any = true;
      PQfreemem(n);
    }
    return any;
  };
  if (drain()) return true;
  pollfd p{PQsocket(conn_), POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(timeout_ms));
  if (rc < 0 && errno != EINTR) return Status::IOError(std::string("waiting for the database: ") + std::strerror(errno));
  if (rc > 0 && !PQconsumeInput(conn_))
    return Status::IOError(std::string("the connection to the database was lost: ") + PQerrorMessage(conn_));
  return drain();
}

Status PgStore::Heartbeat(const std::string& run_id) {
  auto own = owned_.find(run_id);
  if (own == owned_.end()) return Status::Ok();
  auto r = Tx(this).Run("SELECT owner_epoch FROM runs WHERE id=$1", Params().T(run_id));
  if (!r.ok()) return r.status().Prefixed("state database " + shown_);
  if (r->rows() != 1 || r->Int(0, 0) != own->second) return Fenced(run_id).Prefixed("state database " + shown_);
  return Status::Ok();
}

}  // namespace runbook
