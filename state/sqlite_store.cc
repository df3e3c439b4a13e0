#include "state/sqlite_store.h"

#include "state/private_files.h"
#include "state/record_json.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <thread>
#include <fstream>
#include <nlohmann/json.hpp>

namespace runbook {
namespace {

using nlohmann::json;

const char* kSchema = R"SQL(
CREATE TABLE runs (
  id TEXT PRIMARY KEY, parent_run TEXT NOT NULL DEFAULT '', parent_step TEXT NOT NULL DEFAULT '',
  runbook TEXT NOT NULL, path TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT NOT NULL,
  inputs TEXT NOT NULL, secret_inputs TEXT NOT NULL, user TEXT NOT NULL, host TEXT NOT NULL,
  workdir TEXT NOT NULL, pid INTEGER NOT NULL, owner_user TEXT NOT NULL, owner_host TEXT NOT NULL,
  owner_start TEXT NOT NULL, owner_since INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
  started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL, phase TEXT NOT NULL DEFAULT 'steps',
  outcome TEXT NOT NULL DEFAULT '', tmp_dir TEXT NOT NULL DEFAULT '');
CREATE INDEX runs_by_runbook ON runs(runbook, started_at);
CREATE TABLE steps (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, phase TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT NOT NULL, attempts INTEGER NOT NULL, exit_code INTEGER, started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL, outputs TEXT NOT NULL, masked_outputs TEXT NOT NULL,
  completed_seq INTEGER NOT NULL, rollback TEXT NOT NULL, PRIMARY KEY (run_id, step_id));
CREATE TABLE attempts (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, kind TEXT NOT NULL, number INTEGER NOT NULL,
  check_no INTEGER NOT NULL DEFAULT 0, try_no INTEGER NOT NULL DEFAULT 1,
  name TEXT NOT NULL, command TEXT NOT NULL, child_run TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
  reason TEXT NOT NULL, exit_code INTEGER, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,
  stdout BLOB NOT NULL, stderr BLOB NOT NULL, truncated INTEGER NOT NULL,
  PRIMARY KEY (run_id, step_id, kind, number, check_no, try_no));
CREATE TABLE decisions (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, value TEXT NOT NULL, source TEXT NOT NULL,
  by TEXT NOT NULL, at INTEGER NOT NULL, overrode TEXT NOT NULL DEFAULT '');
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at INTEGER NOT NULL,
  step_id TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX events_by_run ON events(run_id, seq);
)SQL";

// Version 1 -> 2: the run's phase, its outcome before finally and its
// owner's private folder; an attempt's check and try in columns of their own
// (version 1 packed them into `number` as check*1000 + (attempt-1)*100 + try
// for verifications, and numbered preflight checks by their index). A run
// version 1 left open is taken to be in its steps (it did not record more).
const char* kMigrate1To2 = R"SQL(
ALTER TABLE runs ADD COLUMN phase TEXT NOT NULL DEFAULT 'steps';
ALTER TABLE runs ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN tmp_dir TEXT NOT NULL DEFAULT '';
ALTER TABLE decisions ADD COLUMN overrode TEXT NOT NULL DEFAULT '';
UPDATE runs SET phase = 'done' WHERE status NOT IN ('running', 'waiting', 'interrupted', 'failed');
CREATE TABLE attempts_v2 (
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, kind TEXT NOT NULL, number INTEGER NOT NULL,
  check_no INTEGER NOT NULL DEFAULT 0, try_no INTEGER NOT NULL DEFAULT 1,
  name TEXT NOT NULL, command TEXT NOT NULL, child_run TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
  reason TEXT NOT NULL, exit_code INTEGER, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,
  stdout BLOB NOT NULL, stderr BLOB NOT NULL, truncated INTEGER NOT NULL,
  PRIMARY KEY (run_id, step_id, kind, number, check_no, try_no));
INSERT INTO attempts_v2 (run_id, step_id, kind, number, check_no, try_no, name, command, child_run, status,
                         reason, exit_code, started_at, finished_at, stdout, stderr, truncated)
  SELECT run_id, step_id, kind,
         CASE kind WHEN 'verify' THEN (number % 1000) / 100 + 1 WHEN 'preflight' THEN 1 ELSE number END,
         CASE kind WHEN 'verify' THEN number / 1000 + 1 WHEN 'preflight' THEN number ELSE 0 END,
         CASE kind WHEN 'verify' THEN number % 100 ELSE 1 END,
         name, command, '', status, reason, exit_code, started_at, finished_at, stdout, stderr, truncated
  FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_v2 RENAME TO attempts;
)SQL";

std::string Hint(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return " (another process holds the state database locked; gave up after the busy timeout)";
    case SQLITE_FULL: return " (the disk is full)";
    case SQLITE_IOERR: return " (an I/O error writing the state database)";
    case SQLITE_READONLY: return " (the state database is read-only)";
    default: return "";
  }
}

// The kind of an SQLite error (engine/status.h), with a hint for a person.
Status SqlError(int rc, const std::string& message) {
  Status::Code code = Status::Code::kIOError;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: code = Status::Code::kBusy; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: code = Status::Code::kCorrupt; break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISUSE:
    case SQLITE_ERROR: code = Status::Code::kInvalid; break;
    default: break;
  }
  return Status::Error(code, message + Hint(rc));
}

// A prepared statement: one of its own, finalized at the end of the scope,
// or one borrowed from the store's cache, reset and unbound instead.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  Stmt(sqlite3* db, sqlite3_stmt* cached) : db_(db), stmt_(cached), rc_(cached ? SQLITE_OK : sqlite3_extended_errcode(db)), owned_(false) {}
  ~Stmt() {
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(const std::string& s) {
    sqlite3_bind_text(stmt_, ++index_, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(const std::string& s) {
    sqlite3_bind_blob(stmt_, ++index_, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int64_t v) {
    sqlite3_bind_int64(stmt_, ++index_, v);
    return *this;
  }
  Stmt& Bind(std::optional<int> v) {
    if (v)
      sqlite3_bind_int64(stmt_, ++index_, *v);
    else
      sqlite3_bind_null(stmt_, ++index_);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return stmt_ ? rc_ = sqlite3_step(stmt_) : rc_; }  // a failed prepare: its error
  std::string Text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<int> OptInt(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return static_cast<int>(sqlite3_column_int64(stmt_, col));
  }
  Status Error(const std::string& what) const { return SqlError(rc_, what + ": " + sqlite3_errmsg(db_)); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
  bool owned_ = true;
  int index_ = 0;
};

using record_json::FromJson;
using record_json::ToJson;

// Whether the file `db` opened is empty or an SQLite database, read through
// SQLite's own descriptor. Never open and close the database file by another
// descriptor in a process that may hold a connection to it: POSIX locks
// belong to the process, so that close drops the locks of every connection
// here, another process then takes the database as unused, checkpoints and
// deletes the WAL under them, and their reads see a stale WAL index: "disk
// I/O error", "database disk image is malformed", commits never seen (serve,
// issue 22).
bool IsSqliteFile(sqlite3* db) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || !file || !file->pMethods)
    return false;
  sqlite3_int64 size = 0;
  if (file->pMethods->xFileSize(file, &size) != SQLITE_OK) return false;
  if (size == 0) return true;
  char header[16] = {};
  if (file->pMethods->xRead(file, header, sizeof header, 0) != SQLITE_OK) return false;
  return std::memcmp(header, "SQLite format 3", 16) == 0;
}

}  // namespace

SqliteStore::SqliteStore(sqlite3* db, std::string path, Durability durability, bool read_only)
    : db_(db), path_(std::move(path)), durability_(durability), read_only_(read_only) {}

SqliteStore::~SqliteStore() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

sqlite3_stmt* SqliteStore::Cached(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) return nullptr;
  return cache_[sql] = stmt;
}

Status SqliteStore::Run(const char* sql) {
  Stmt st(db_, Cached(sql));
  int rc = st.Step();
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  return SqlError(rc, sqlite3_errmsg(db_));
}

namespace {

sqlite3* OpenConnection(const std::string& path, int flags, std::string* error) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    *error = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return nullptr;
  }
  return db;
}

int BusyTimeout(int ms) {
  if (ms >= 0) return ms;
  const char* env = std::getenv("RUNBOOK_BUSY_TIMEOUT_MS");
  return env && *env ? std::atoi(env) : 5000;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path, Durability durability,
                                                       int busy_timeout_ms) {
  namespace fs = std::filesystem;
  std::string where = "state database " + path;
  fs::path parent = fs::path(path).parent_path();
  // The folder holds command output: ours, no link, 0700 when we make it.
  // A folder named with --state (say /tmp) may be shared; .runbook may not.
  std::error_code ec;
  if (!parent.empty() && (parent.filename() == ".runbook" || !fs::exists(parent, ec))) {
    if (Status s = MakeOwnFolder(parent.string(), "the state folder"); !s.ok()) return s;
  }
  for (const char* suffix : {"", "-wal", "-shm"})
    if (Status s = CheckOwnPath(path + suffix, "the state database"); !s.ok()) return s;
  // A new file is made private (0600) before SQLite opens it. O_EXCL: an
  // existing one is never opened here (see IsSqliteFile for why).
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno != EEXIST) return Status::IOError(where + ": " + std::strerror(errno));
  if (fd >= 0) ::close(fd);
  std::string error;
  sqlite3* db = OpenConnection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &error);
  if (!db) return Status::IOError(where + ": " + error);
  if (!IsSqliteFile(db)) {
    sqlite3_close(db);
    return Status::Corrupt(where + ": not a runbook state database (not SQLite); refusing to touch it");
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, path, durability, false));
  sqlite3_busy_timeout(db, BusyTimeout(busy_timeout_ms));
  Status s = store->Exec("PRAGMA journal_mode=WAL");
  if (s.ok())
    s = store->Exec(durability == Durability::kPower ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  if (s.ok()) s = store->Migrate();
  if (s.ok()) s = store->RememberFile();
  if (!s.ok()) return s.Prefixed(where);
  return store;
}

// Read-only: no WAL switch, no migration, no write lock. A database of an
// older schema (or one still being created) is copied into memory and
// migrated there, so readers read the one current shape and the file stays
// as its writers left it.
Result<std::unique_ptr<SqliteStore>> SqliteStore::OpenForReading(const std::string& path, int busy_timeout_ms) {
  std::string where = "state database " + path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound("no state database at " + path);
  if (std::filesystem::path parent = std::filesystem::path(path).parent_path(); parent.filename() == ".runbook")
    if (Status s = CheckOwnPath(parent.string(), "the state folder"); !s.ok()) return s;
  if (Status s = CheckOwnPath(path, "the state database"); !s.ok()) return s;
  std::string error;
  sqlite3* db = OpenConnection(path, SQLITE_OPEN_READONLY, &error);
  if (!db) return Status::IOError(where + ": " + error);
  if (!IsSqliteFile(db)) {
    sqlite3_close(db);
    return Status::Corrupt(where + ": not a runbook state database (not SQLite); refusing to touch it");
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, path, Durability::kCrash, true));
  sqlite3_busy_timeout(db, BusyTimeout(busy_timeout_ms));
  auto v = store->SchemaVersion();
  if (!v.ok()) return v.status().Prefixed(where);
  if (*v > kSchemaVersion) return store->Newer(*v).Prefixed(where);
  if (*v == kSchemaVersion) return store;
  sqlite3* copy = OpenConnection(":memory:", SQLITE_OPEN_READWRITE, &error);
  if (!copy) return Status::IOError(where + ": " + error);
  sqlite3_backup* b = sqlite3_backup_init(copy, "main", db, "main");
  int rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(copy);
  if (b) sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    Status e = SqlError(rc, where + ": copying an older database to read it: " + sqlite3_errmsg(copy));
    sqlite3_close(copy);
    return e;
  }
  std::unique_ptr<SqliteStore> migrated(new SqliteStore(copy, path, Durability::kCrash, true));
  Status s = migrated->Migrate();
  if (!s.ok()) return s.Prefixed(where);
  return migrated;
}

Status SqliteStore::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string msg = err ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  if ((rc & 0xff) == SQLITE_NOTADB) msg = "not a runbook state database (" + msg + "); refusing to touch it";
  return SqlError(rc, msg);
}

Result<int> SqliteStore::SchemaVersion() {
  Stmt version(db_, "PRAGMA user_version");
  if (!version.ok() || version.Step() != SQLITE_ROW) return version.Error("reading the schema version");
  return static_cast<int>(version.Int(0));
}

Status SqliteStore::Newer(int v) const {
  return Status::Corrupt("written by a newer runbook (schema version " + std::to_string(v) + ", this one knows " +
                         std::to_string(kSchemaVersion) + "); refusing to touch it");
}

// Inside one write transaction, so that two engines opening a new or old
// database at once migrate it once.
Status SqliteStore::Migrate() {
  auto before = SchemaVersion();
  if (!before.ok()) return before.status();
  if (*before > kSchemaVersion) return Newer(*before);
  if (*before == kSchemaVersion) return Status::Ok();
  Status s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  auto v = SchemaVersion();
  s = v.status();
  if (s.ok() && *v == 0) s = Exec(kSchema);
  if (s.ok() && *v == 1) s = Exec(kMigrate1To2);
  if (s.ok() && *v < kSchemaVersion) s = Exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
  if (s.ok()) return Exec("COMMIT");
  (void)Exec("ROLLBACK");
  return s;
}

// The file this connection writes to: a commit checks that `path` still
// names it, so a database deleted or replaced under a run is noticed.
Status SqliteStore::RememberFile() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return Status::IOError(std::string("stat: ") + std::strerror(errno));
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  return Status::Ok();
}

Status SqliteStore::CheckFile() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0)
    return Status::IOError("the file was removed while the run was going on (" + std::string(std::strerror(errno)) +
                           "); nothing more can be recorded");
  if (st.st_dev != dev_ || st.st_ino != ino_)
    return Status::IOError("the file was replaced by another while the run was going on; nothing more is written");
  return Status::Ok();
}

Status SqliteStore::Commit(const Batch& batch) {
  std::string where = "state database " + path_;
  if (read_only_) return Status::Invalid(where + ": opened for reading only");
  Status s = CheckFile();
  if (!s.ok()) return s.Prefixed(where);
  bool raise = batch.sync && durability_ == Durability::kCrash;
  if (raise) {
    s = Exec("PRAGMA synchronous=FULL");
    if (!s.ok()) return s.Prefixed(where);
  }
  s = Run("BEGIN IMMEDIATE");
  if (s.ok()) {
    s = WriteBatch(batch);
    s = s.ok() ? Run("COMMIT") : s;
    if (!s.ok()) (void)Run("ROLLBACK");
  }
  if (raise) (void)Exec("PRAGMA synchronous=NORMAL");
  return s.Prefixed(where);
}

namespace {
// Tables made on first use (tokens, answers): a database without one simply
// has none of those rows, and readers never write.
bool HasTable(sqlite3* db, const char* name) {
  Stmt st(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?");
  st.Bind(std::string(name));
  return st.Step() == SQLITE_ROW;
}
}  // namespace

Status SqliteStore::WriteBatch(const Batch& b) {
  if (b.new_run) {
    const RunRecord& r = *b.new_run;
    Stmt st(db_,
            "INSERT INTO runs (id, parent_run, parent_step, runbook, path, source, sha256, inputs, secret_inputs, "
            "user, host, workdir, pid, owner_user, owner_host, owner_start, owner_since, status, reason, started_at, "
            "finished_at, phase, outcome, tmp_dir) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    st.Bind(r.id).Bind(r.parent_run).Bind(r.parent_step).Bind(r.runbook).Bind(r.path).Bind(r.source).Bind(r.sha256)
        .Bind(ToJson(r.inputs)).Bind(ToJson(r.secret_inputs)).Bind(r.user).Bind(r.host).Bind(r.workdir)
        .Bind(int64_t{r.pid}).Bind(r.owner_user).Bind(r.owner_host).Bind(r.owner_start).Bind(r.owner_since)
        .Bind(ToString(r.status)).Bind(r.reason).Bind(r.started_at).Bind(r.finished_at).Bind(ToString(r.phase))
        .Bind(ToString(r.outcome)).Bind(r.tmp_dir);
    if (st.Step() != SQLITE_DONE) return st.Error("recording run " + r.id);
  }
  if (b.run) {
    const RunRecord& r = *b.run;
    Stmt st(db_, Cached("UPDATE runs SET status=?, reason=?, finished_at=?, phase=?, outcome=? WHERE id=?"));
    st.Bind(ToString(r.status)).Bind(r.reason).Bind(r.finished_at).Bind(ToString(r.phase)).Bind(ToString(r.outcome))
        .Bind(r.id);
    if (st.Step() != SQLITE_DONE) return st.Error("updating run " + r.id);
  }
  for (const auto& s : b.steps) {
    Stmt st(db_, Cached(
            "INSERT INTO steps (run_id, step_id, phase, status, reason, attempts, exit_code, started_at, "
            "finished_at, outputs, masked_outputs, completed_seq, rollback) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (run_id, step_id) DO UPDATE SET phase=excluded.phase, status=excluded.status, "
            "reason=excluded.reason, attempts=excluded.attempts, exit_code=excluded.exit_code, "
            "started_at=excluded.started_at, finished_at=excluded.finished_at, outputs=excluded.outputs, "
            "masked_outputs=excluded.masked_outputs, completed_seq=excluded.completed_seq, rollback=excluded.rollback"));
    st.Bind(s.run_id).Bind(s.step_id).Bind(s.phase).Bind(ToString(s.status)).Bind(ToString(s.reason))
        .Bind(int64_t{s.attempts}).Bind(s.exit_code).Bind(s.started_at).Bind(s.finished_at).Bind(ToJson(s.outputs))
        .Bind(ToJson(s.masked_outputs)).Bind(s.completed_seq).Bind(ToString(s.rollback));
    if (st.Step() != SQLITE_DONE) return st.Error("recording step " + s.step_id);
  }
  for (const auto& a : b.attempts) {
    Stmt st(db_, Cached(
            "INSERT INTO attempts (run_id, step_id, kind, number, check_no, try_no, name, command, child_run, "
            "status, reason, exit_code, started_at, finished_at, stdout, stderr, truncated) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (run_id, step_id, kind, number, check_no, try_no) DO UPDATE SET name=excluded.name, "
            "command=excluded.command, child_run=excluded.child_run, status=excluded.status, reason=excluded.reason, "
            "exit_code=excluded.exit_code, started_at=excluded.started_at, finished_at=excluded.finished_at, "
            "stdout=excluded.stdout, stderr=excluded.stderr, truncated=excluded.truncated"));
    st.Bind(a.run_id).Bind(a.step_id).Bind(ToString(a.kind)).Bind(int64_t{a.number}).Bind(int64_t{a.check})
        .Bind(int64_t{a.try_number}).Bind(a.name).Bind(a.command).Bind(a.child_run).Bind(ToString(a.status))
        .Bind(ToString(a.reason)).Bind(a.exit_code).Bind(a.started_at).Bind(a.finished_at).Blob(a.out).Blob(a.err)
        .Bind(int64_t{a.truncated});
    if (st.Step() != SQLITE_DONE) return st.Error("recording an attempt of " + a.step_id);
  }
  for (const auto& d : b.decisions) {
    Stmt st(db_, Cached("INSERT INTO decisions (run_id, step_id, value, source, by, at, overrode) "
                        "VALUES (?,?,?,?,?,?,?)"));
    st.Bind(d.run_id).Bind(d.step_id).Bind(d.value).Bind(ToString(d.source)).Bind(d.by).Bind(d.at).Bind(d.overrode);
    if (st.Step() != SQLITE_DONE) return st.Error("recording the answer of " + d.step_id);
  }
  if (!b.decisions.empty() && HasTable(db_, "answers")) {
    for (const auto& d : b.decisions) {  // the decision takes what waited for it in the inbox
      Stmt st(db_, "UPDATE answers SET taken_at=? WHERE run_id=? AND step_id=? AND taken_at=0");
      st.Bind(d.at).Bind(d.run_id).Bind(d.step_id);
      if (st.Step() != SQLITE_DONE) return st.Error("taking the inbox's answers of " + d.step_id);
    }
  }
  for (const auto& e : b.events) {
    Stmt st(db_, Cached("INSERT INTO events (run_id, at, step_id, kind, message) VALUES (?,?,?,?,?)"));
    st.Bind(e.run_id).Bind(e.at).Bind(e.step_id).Bind(e.kind).Bind(e.message);
    if (st.Step() != SQLITE_DONE) return st.Error("recording an event");
  }
  return Status::Ok();
}

namespace {

const char* kRunColumns =
    "id, parent_run, parent_step, runbook, path, source, sha256, inputs, secret_inputs, user, host, workdir, pid, "
    "status, reason, started_at, finished_at, owner_user, owner_host, owner_start, owner_since, phase, outcome, "
    "tmp_dir";

using record_json::ParseOr;

RunRecord ReadRun(const Stmt& st) {
  RunRecord r;
  r.id = st.Text(0);
  r.parent_run = st.Text(1);
  r.parent_step = st.Text(2);
  r.runbook = st.Text(3);
  r.path = st.Text(4);
  r.source = st.Text(5);
  r.sha256 = st.Text(6);
  r.inputs = FromJson<std::map<std::string, std::string>>(st.Text(7));
  r.secret_inputs = FromJson<std::vector<std::string>>(st.Text(8));
  r.user = st.Text(9);
  r.host = st.Text(10);
  r.workdir = st.Text(11);
  r.pid = static_cast<int>(st.Int(12));
  r.status = ParseOr(st.Text(13), RunStatus::kFailed);
  r.reason = st.Text(14);
  r.started_at = st.Int(15);
  r.finished_at = st.Int(16);
  r.owner_user = st.Text(17);
  r.owner_host = st.Text(18);
  r.owner_start = st.Text(19);
  r.owner_since = st.Int(20);
  r.phase = ParseOr(st.Text(21), RunPhase::kSteps);
  r.outcome = ParseOr(st.Text(22), RunStatus::kRunning);
  r.tmp_dir = st.Text(23);
  return r;
}

const char* kOpenStatuses = "('running','waiting','interrupted','failed')";

}  // namespace

Result<std::optional<RunRecord>> SqliteStore::CreateRun(const RunRecord& run, bool exclusive,
                                                       const LivenessCheck& live) {
  std::string where = "state database " + path_;
  Status s = CheckFile();
  if (s.ok()) s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s.Prefixed(where);
  if (exclusive) {
    Stmt st(db_, (std::string("SELECT ") + kRunColumns + " FROM runs WHERE runbook=? AND parent_run='' AND status IN " +
                  kOpenStatuses + " ORDER BY started_at DESC")
                     .c_str());
    st.Bind(run.runbook);
    if (st.Step() == SQLITE_ROW) {
      RunRecord blocking = ReadRun(st);
      (void)Exec("ROLLBACK");
      (void)live;  // live or orphaned, either blocks: the message differs
      return std::optional<RunRecord>(blocking);
    }
  }
  Batch b;
  b.new_run = run;
  s = WriteBatch(b);
  s = s.ok() ? Exec("COMMIT") : s;
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s.Prefixed(where);
  }
  return std::optional<RunRecord>();
}

// The read, the liveness check and the update in one write transaction: of
// two engines claiming a run at once, the second reads the first as owner.
Result<Claim> SqliteStore::ClaimRun(const std::string& id, const RunRecord& owner, const LivenessCheck& live) {
  std::string where = "state database " + path_;
  Status s = CheckFile();
  if (s.ok()) s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s.Prefixed(where);
  Stmt get(db_, (std::string("SELECT ") + kRunColumns + " FROM runs WHERE id=?").c_str());
  get.Bind(id);
  int rc = get.Step();
  if (rc != SQLITE_ROW) {
    Status e = rc == SQLITE_DONE ? Status::NotFound("no run " + id) : get.Error("reading run " + id);
    (void)Exec("ROLLBACK");
    return e;
  }
  Claim claim;
  claim.run = ReadRun(get);
  if (IsFinal(claim.run.status)) claim.outcome = Claim::Outcome::kEnded;
  else if (claim.run.status == RunStatus::kRunning && live(claim.run)) claim.outcome = Claim::Outcome::kLive;
  if (claim.outcome != Claim::Outcome::kClaimed) {
    (void)Exec("ROLLBACK");
    return claim;
  }
  Stmt up(db_,
          "UPDATE runs SET pid=?, owner_user=?, owner_host=?, owner_start=?, owner_since=?, tmp_dir=?, "
          "status='running', finished_at=0 WHERE id=?");
  up.Bind(int64_t{owner.pid}).Bind(owner.owner_user).Bind(owner.owner_host).Bind(owner.owner_start)
      .Bind(owner.owner_since).Bind(owner.tmp_dir).Bind(id);
  if (up.Step() != SQLITE_DONE) {
    Status e = up.Error("claiming run " + id);
    (void)Exec("ROLLBACK");
    return e.Prefixed(where);
  }
  s = Exec("COMMIT");
  if (!s.ok()) return s.Prefixed(where);
  return claim;
}

Result<int> SqliteStore::Prune(int64_t before_ms) {
  const char* kFinished = "('succeeded','rolled_back','rollback_failed','finally_failed','preflight_failed','abandoned')";
  Status s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s.Prefixed("state database " + path_);
  std::string doomed = std::string("SELECT id FROM runs WHERE parent_run='' AND status IN ") + kFinished +
                       " AND finished_at > 0 AND finished_at < " + std::to_string(before_ms);
  // Child runs go with their parent: their ids start with the parent's and a dot.
  std::string all = "SELECT id FROM runs r WHERE r.id IN (" + doomed + ") OR EXISTS (SELECT 1 FROM (" + doomed +
                    ") d WHERE substr(r.id, 1, length(d.id) + 1) = d.id || '.')";
  Stmt count(db_, ("SELECT count(*) FROM (" + doomed + ")").c_str());
  int n = count.Step() == SQLITE_ROW ? static_cast<int>(count.Int(0)) : 0;
  for (const char* table : {"events", "decisions", "attempts", "steps", "answers"}) {
    if (!HasTable(db_, table)) continue;
    s = Exec(std::string("DELETE FROM ") + table + " WHERE run_id IN (" + all + ")");
    if (!s.ok()) break;
  }
  if (s.ok()) s = Exec("DELETE FROM runs WHERE id IN (" + all + ")");
  s = s.ok() ? Exec("COMMIT") : s;
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s.Prefixed("state database " + path_);
  }
  return n;
}

int SqliteStore::Synchronous() {
  Stmt st(db_, "PRAGMA synchronous");
  return st.Step() == SQLITE_ROW ? static_cast<int>(st.Int(0)) : -1;
}

Result<RunRecord> SqliteStore::GetRun(const std::string& id) {
  Stmt st(db_, (std::string("SELECT ") + kRunColumns + " FROM runs WHERE id=?").c_str());
  st.Bind(id);
  int rc = st.Step();
  if (rc == SQLITE_ROW) return ReadRun(st);
  if (rc == SQLITE_DONE) return Status::NotFound("no run " + id);
  return st.Error("reading run " + id);
}

Result<std::string> SqliteStore::ResolveRun(const std::string& ref) {
  if (ref == "last") {
    Stmt st(db_, "SELECT id FROM runs WHERE parent_run='' ORDER BY started_at DESC, rowid DESC LIMIT 1");
    int rc = st.Step();
    if (rc == SQLITE_ROW) return st.Text(0);
    if (rc != SQLITE_DONE) return st.Error("finding the last run");
    return Status::NotFound("no runs yet in " + path_);
  }
  Stmt st(db_, "SELECT id FROM runs WHERE substr(id, 1, length(?1)) = ?1 ORDER BY started_at DESC LIMIT 3");
  st.Bind(ref);
  std::vector<std::string> ids;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) ids.push_back(st.Text(0));
  if (rc != SQLITE_DONE) return st.Error("finding run " + ref);
  if (ids.empty()) return Status::NotFound("no run matches '" + ref + "' in " + path_ + " (see: runbook runs)");
  for (const auto& id : ids)
    if (id == ref) return id;
  if (ids.size() > 1)
    return Status::Invalid("'" + ref + "' matches several runs (" + ids[0] + ", " + ids[1] +
                           ", ...): give more of the id");
  return ids[0];
}

Result<std::vector<RunRecord>> SqliteStore::ListRuns(const RunFilter& f) {
  std::string sql = std::string("SELECT ") + kRunColumns +
                    " FROM runs WHERE (?1 = '' OR runbook = ?1) AND (?2 = '' OR status = ?2)" +
                    (f.top_level_only ? " AND parent_run = ''" : "") + " ORDER BY started_at DESC, rowid DESC";
  Stmt st(db_, sql.c_str());
  st.Bind(f.runbook).Bind(std::string(f.status ? ToString(*f.status) : ""));
  std::vector<RunRecord> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadRun(st));
  if (rc != SQLITE_DONE) return st.Error("listing runs");
  return out;
}

Result<std::vector<StepRecord>> SqliteStore::GetSteps(const std::string& run_id) {
  Stmt st(db_,
          "SELECT run_id, step_id, phase, status, reason, attempts, exit_code, started_at, finished_at, outputs, "
          "masked_outputs, completed_seq, rollback FROM steps WHERE run_id=? ORDER BY rowid");
  st.Bind(run_id);
  std::vector<StepRecord> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    StepRecord s;
    s.run_id = st.Text(0);
    s.step_id = st.Text(1);
    s.phase = st.Text(2);
    s.status = ParseOr(st.Text(3), StepStatus::kFailed);
    s.reason = ParseOr(st.Text(4), Reason::kError);
    s.attempts = static_cast<int>(st.Int(5));
    s.exit_code = st.OptInt(6);
    s.started_at = st.Int(7);
    s.finished_at = st.Int(8);
    s.outputs = FromJson<std::map<std::string, std::string>>(st.Text(9));
    s.masked_outputs = FromJson<std::vector<std::string>>(st.Text(10));
    s.completed_seq = st.Int(11);
    s.rollback = ParseOr(st.Text(12), HookStatus::kFailed);
    out.push_back(std::move(s));
  }
  if (rc != SQLITE_DONE) return st.Error("reading steps of " + run_id);
  return out;
}

Result<std::vector<AttemptRecord>> SqliteStore::GetAttempts(const std::string& run_id) {
  Stmt st(db_,
          "SELECT run_id, step_id, kind, number, check_no, try_no, name, command, child_run, status, reason, "
          "exit_code, started_at, finished_at, stdout, stderr, truncated FROM attempts WHERE run_id=? "
          "ORDER BY started_at, rowid");
  st.Bind(run_id);
  std::vector<AttemptRecord> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    AttemptRecord a;
    a.run_id = st.Text(0);
    a.step_id = st.Text(1);
    a.kind = ParseOr(st.Text(2), AttemptKind::kRun);
    a.number = static_cast<int>(st.Int(3));
    a.check = static_cast<int>(st.Int(4));
    a.try_number = static_cast<int>(st.Int(5));
    a.name = st.Text(6);
    a.command = st.Text(7);
    a.child_run = st.Text(8);
    a.status = ParseOr(st.Text(9), AttemptStatus::kFailed);
    a.reason = ParseOr(st.Text(10), Reason::kError);
    a.exit_code = st.OptInt(11);
    a.started_at = st.Int(12);
    a.finished_at = st.Int(13);
    a.out = st.Text(14);
    a.err = st.Text(15);
    a.truncated = st.Int(16) != 0;
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return st.Error("reading attempts of " + run_id);
  return out;
}

Result<std::vector<DecisionRecord>> SqliteStore::GetDecisions(const std::string& run_id) {
  Stmt st(db_,
          "SELECT run_id, step_id, value, source, by, at, overrode FROM decisions WHERE run_id=? ORDER BY rowid");
  st.Bind(run_id);
  std::vector<DecisionRecord> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW)
    out.push_back({st.Text(0), st.Text(1), st.Text(2), ParseOr(st.Text(3), AnswerSource::kAuto), st.Text(4),
                   st.Int(5), st.Text(6)});
  if (rc != SQLITE_DONE) return st.Error("reading decisions of " + run_id);
  return out;
}

Result<std::vector<EventRecord>> SqliteStore::GetEvents(const std::string& run_id) {
  Stmt st(db_, "SELECT seq, run_id, at, step_id, kind, message FROM events WHERE run_id=? ORDER BY seq");
  st.Bind(run_id);
  std::vector<EventRecord> out;
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW)
    out.push_back({st.Int(0), st.Text(1), st.Int(2), st.Text(3), st.Text(4), st.Text(5)});
  if (rc != SQLITE_DONE) return st.Error("reading events of " + run_id);
  return out;
}

// People's tokens live in their own table, made on the first `token add`:
// a database without it simply has no named tokens (readers never write).
Status SqliteStore::AddToken(const std::string& name, const std::string& sha256, int64_t at) {
  if (read_only_) return Status::Invalid("the state database is open for reading");
  char* msg = nullptr;
  int rc = sqlite3_exec(db_,
                        "CREATE TABLE IF NOT EXISTS tokens (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, "
                        "added_at INTEGER NOT NULL)",
                        nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    std::string m = msg ? msg : "";
    sqlite3_free(msg);
    return SqlError(rc, "making the tokens table: " + m);
  }
  Stmt st(db_, "INSERT INTO tokens (name, sha256, added_at) VALUES (?, ?, ?) "
               "ON CONFLICT(name) DO UPDATE SET sha256=excluded.sha256, added_at=excluded.added_at");
  st.Bind(name).Bind(sha256).Bind(at);
  if (st.Step() != SQLITE_DONE) return st.Error("adding the token of " + name);
  return Status::Ok();
}

Result<std::optional<std::string>> SqliteStore::TokenName(const std::string& sha256) {
  if (!HasTable(db_, "tokens")) return std::optional<std::string>();
  Stmt st(db_, "SELECT name FROM tokens WHERE sha256=?");
  st.Bind(sha256);
  int rc = st.Step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(st.Text(0));
  if (rc != SQLITE_DONE) return st.Error("reading tokens");
  return std::optional<std::string>();
}

Result<std::vector<std::pair<std::string, int64_t>>> SqliteStore::ListTokens() {
  std::vector<std::pair<std::string, int64_t>> out;
  if (!HasTable(db_, "tokens")) return out;
  Stmt st(db_, "SELECT name, added_at FROM tokens ORDER BY name");
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) out.emplace_back(st.Text(0), st.Int(1));
  if (rc != SQLITE_DONE) return st.Error("reading tokens");
  return out;
}

// The inbox lives in its own table, made by the first answer posted.
Result<PostedAnswer> SqliteStore::PostAnswer(const InboxAnswer& a) {
  std::string where = "state database " + path_;
  if (read_only_) return Status::Invalid(where + ": opened for reading only");
  Status s = CheckFile();
  if (s.ok())
    s = Exec("CREATE TABLE IF NOT EXISTS answers (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, "
             "step_id TEXT NOT NULL, value TEXT NOT NULL, by TEXT NOT NULL, at INTEGER NOT NULL, "
             "taken_at INTEGER NOT NULL DEFAULT 0)");
  if (s.ok()) s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s.Prefixed(where);
  auto fail = [&](Status e) {
    (void)Exec("ROLLBACK");
    return e.Prefixed(where);
  };
  Stmt step(db_, "SELECT status FROM steps WHERE run_id=? AND step_id=?");
  step.Bind(a.run_id).Bind(a.step_id);
  int rc = step.Step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(step.Error("reading step " + a.step_id));
  bool waiting = rc == SQLITE_ROW && step.Text(0) == ToString(StepStatus::kWaiting);
  // The answer that stands: one not yet taken; or, for a step that no longer
  // waits, the last one given (an engine is acting on it now).
  Stmt given(db_, waiting ? "SELECT id, value, by, at FROM answers WHERE run_id=? AND step_id=? AND taken_at=0 "
                            "ORDER BY id LIMIT 1"
                          : "SELECT id, value, by, at FROM answers WHERE run_id=? AND step_id=? ORDER BY id DESC LIMIT 1");
  given.Bind(a.run_id).Bind(a.step_id);
  rc = given.Step();
  if (rc == SQLITE_ROW) {
    PostedAnswer earlier{false, {given.Int(0), a.run_id, a.step_id, given.Text(1), given.Text(2), given.Int(3)}};
    (void)Exec("ROLLBACK");
    return earlier;
  }
  if (rc != SQLITE_DONE) return fail(given.Error("reading the inbox"));
  if (!waiting)
    return fail(Status::Invalid("step '" + a.step_id + "' of run " + a.run_id + " is not waiting for an answer"));
  Stmt ins(db_, "INSERT INTO answers (run_id, step_id, value, by, at) VALUES (?,?,?,?,?)");
  ins.Bind(a.run_id).Bind(a.step_id).Bind(a.value).Bind(a.by).Bind(a.at);
  if (ins.Step() != SQLITE_DONE) return fail(ins.Error("posting the answer of " + a.step_id));
  PostedAnswer posted{true, a};
  posted.answer.id = sqlite3_last_insert_rowid(db_);
  s = Exec("COMMIT");
  if (!s.ok()) return fail(s);
  return posted;
}

Result<std::vector<InboxAnswer>> SqliteStore::PendingAnswers(const std::string& run_id) {
  std::vector<InboxAnswer> out;
  if (!HasTable(db_, "answers")) return out;
  Stmt st(db_, "SELECT id, run_id, step_id, value, by, at FROM answers WHERE taken_at=0 AND (?='' OR run_id=?) "
               "ORDER BY id");
  st.Bind(run_id).Bind(run_id);
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW)
    out.push_back({st.Int(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4), st.Int(5)});
  if (rc != SQLITE_DONE) return st.Error("reading the inbox");
  return out;
}

// Another connection's commit changes PRAGMA data_version (this
// connection's own do not): looked at every 20 ms, a cheap read of the
// file's header, until it moves or the time is up.
Result<bool> SqliteStore::WaitForChange(int64_t timeout_ms) {
  auto version = [&]() -> int64_t {
    Stmt st(db_, "PRAGMA data_version");
    return st.Step() == SQLITE_ROW ? st.Int(0) : -1;
  };
  if (data_version_ < 0) data_version_ = version();
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int64_t v = version();
    if (v != data_version_) {
      data_version_ = v;
      return true;
    }
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace runbook

namespace runbook {

std::string StatePath(const std::string& flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string given = flag;
  if (given.empty())
    if (const char* env = std::getenv("RUNBOOK_STATE"); env && *env) given = env;
  if (given.rfind("postgresql://", 0) == 0 || given.rfind("postgres://", 0) == 0) return given;  // not a file
  if (!given.empty()) return fs::absolute(given, ec).lexically_normal().string();
  fs::path cwd = fs::current_path(ec);
  // As git finds .git: the nearest folder upward that has a .runbook/.
  for (fs::path dir = cwd; !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_directory(dir / ".runbook", ec)) return (dir / ".runbook" / "state.db").string();
    if (dir == dir.root_path()) break;
  }
  return (cwd / ".runbook" / "state.db").string();
}

}  // namespace runbook
