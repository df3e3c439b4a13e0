// One contract, two stores (issue 16): the same cases against the SQLite
// file and a real PostgreSQL (a throwaway server, state/pg_server.h), plus
// PostgreSQL's own: ownership across engines and fencing.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "state/copy.h"
#include "state/pg_server.h"
#include "state/pg_store.h"
#include "state/sqlite_store.h"

namespace runbook {
namespace {

namespace fs = std::filesystem;

testing::PgServer* g_pg = nullptr;

class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    server_ = std::make_unique<testing::PgServer>();
    if (server_->ok()) g_pg = server_.get();
  }
  void TearDown() override {
    g_pg = nullptr;
    server_.reset();
  }
  std::unique_ptr<testing::PgServer> server_;
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new PgEnvironment);

// A place for one test's state: a new file, or a new database.
struct SqliteKind {
  static constexpr const char* kName = "sqlite";
  fs::path dir;
  SqliteKind() {
    std::string tmpl = (fs::temp_directory_path() / "contract-XXXXXX").string();
    dir = mkdtemp(tmpl.data());
  }
  ~SqliteKind() { fs::remove_all(dir); }
  std::string Spec() const { return (dir / "state.db").string(); }
  std::unique_ptr<StateStore> Open() {
    auto s = SqliteStore::Open(Spec(), Durability::kCrash);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::unique_ptr<StateStore>(std::move(s.value())) : nullptr;
  }
};

struct PgKind {
  static constexpr const char* kName = "postgresql";
  std::string db;
  PgKind() {
    static int n = 0;
    db = "contract_" + std::to_string(getpid()) + "_" + std::to_string(++n);
    if (!g_pg) return;
    PGconn* c = PQconnectdb(g_pg->Conninfo().c_str());
    PQclear(PQexec(c, ("CREATE DATABASE " + db).c_str()));
    PQfinish(c);
  }
  std::string Spec() const { return g_pg ? g_pg->Uri(db) : ""; }
  std::unique_ptr<StateStore> Open() {
    auto s = PgStore::Open(Spec());
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::unique_ptr<StateStore>(std::move(s.value())) : nullptr;
  }
};

template <class Kind>
class StoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(Kind::kName) == "postgresql") {
      ASSERT_NE(g_pg, nullptr) << "no PostgreSQL server for the tests (scripts/install-deps --test installs "
                                  "postgresql-15)";
    }
  }

 public:
  static RunRecord Run(const std::string& id, int64_t at, const std::string& runbook = "dr") {
    RunRecord r;
    r.id = id;
    r.runbook = runbook;
    r.path = "runbooks/dr.yaml";
    r.source = "name: dr\n";
    r.sha256 = "abc";
    r.inputs = {{"env", "staging"}, {"token", "***"}};
    r.secret_inputs = {"token"};
    r.user = "ops";
    r.host = "db1";
    r.workdir = "/srv";
    r.pid = 42;
    r.owner_user = "ops";
    r.owner_host = "db1";
    r.started_at = at;
    return r;
  }

 protected:
  Kind kind_;
};

using Kinds = ::testing::Types<SqliteKind, PgKind>;
struct KindName {
  template <class T>
  static std::string GetName(int) { return T::kName; }
};
TYPED_TEST_SUITE(StoreContract, Kinds, KindName);

const LivenessCheck kDead = [](const RunRecord&) { return false; };

TYPED_TEST(StoreContract, EverythingCommittedReadsBackTheSameAfterReopening) {
  {
    auto store = this->kind_.Open();
    ASSERT_TRUE(store);
    auto created = store->CreateRun(this->Run("r1", 1000), true, kDead);
    ASSERT_TRUE(created.ok()) << created.status().message();
    Batch b;
    StepRecord s;
    s.run_id = "r1";
    s.step_id = "restore";
    s.status = StepStatus::kSucceeded;
    s.attempts = 2;
    s.exit_code = 0;
    s.outputs = {{"lsn", "0/16B3748"}};
    s.masked_outputs = {"token"};
    s.completed_seq = 3;
    b.Add(s);
    AttemptRecord a;
    a.run_id = "r1";
    a.step_id = "restore";
    a.number = 2;
    a.status = AttemptStatus::kSucceeded;
    a.exit_code = 0;
    a.out = std::string("bytes \xff\xfe and a NUL \0 kept", 26);  // not UTF-8: kept as given
    a.err = "warn\n";
    b.Add(a);
    b.Add(DecisionRecord{"r1", "go", "now", AnswerSource::kWeb, "alice (web)", 1500, ""});
    b.Add(EventRecord{0, "r1", 1600, "restore", "step.succeeded", "ok \xc3\xa9"});
    RunRecord done = this->Run("r1", 1000);
    done.status = RunStatus::kSucceeded;
    done.phase = RunPhase::kDone;
    done.finished_at = 2000;
    b.run = done;
    ASSERT_TRUE(store->Commit(b).ok());
  }
  auto store = this->kind_.Open();
  auto run = store->GetRun("r1");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kSucceeded);
  EXPECT_EQ(run->phase, RunPhase::kDone);
  EXPECT_EQ(run->inputs.at("token"), "***");
  EXPECT_EQ(run->secret_inputs, std::vector<std::string>{"token"});
  EXPECT_EQ(run->finished_at, 2000);
  auto steps = store->GetSteps("r1");
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].outputs.at("lsn"), "0/16B3748");
  EXPECT_EQ((*steps)[0].exit_code, 0);
  EXPECT_EQ((*steps)[0].completed_seq, 3);
  auto attempts = store->GetAttempts("r1");
  ASSERT_EQ(attempts->size(), 1u);
  EXPECT_EQ((*attempts)[0].out, std::string("bytes \xff\xfe and a NUL \0 kept", 26));
  auto decisions = store->GetDecisions("r1");
  ASSERT_EQ(decisions->size(), 1u);
  EXPECT_EQ((*decisions)[0].source, AnswerSource::kWeb);
  EXPECT_EQ((*decisions)[0].by, "alice (web)");
  auto events = store->GetEvents("r1");
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].message, "ok \xc3\xa9");
  EXPECT_GT((*events)[0].seq, 0);
}

TYPED_TEST(StoreContract, AFailingBatchLeavesNothingBehind) {
  auto store = this->kind_.Open();
  ASSERT_TRUE(store);
  ASSERT_FALSE(store->CreateRun(this->Run("r1", 1), false, kDead)->has_value());
  Batch bad;
  RunRecord changed = this->Run("r1", 1);
  changed.status = RunStatus::kFailed;
  bad.run = changed;
  StepRecord s;
  s.run_id = "r1";
  s.step_id = "a";
  bad.Add(s).Add(EventRecord{0, "r1", 2, "", "note", "must not survive"});
  bad.new_run = this->Run("r1", 2);  // a duplicate id: this insert fails, and with it everything
  Status st = store->Commit(bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("state database"), std::string::npos) << st.message();
  EXPECT_TRUE(store->GetEvents("r1")->empty());
  EXPECT_TRUE(store->GetSteps("r1")->empty());
  EXPECT_EQ(store->GetRun("r1")->status, RunStatus::kRunning);
  EXPECT_TRUE(store->Commit(Batch().Add(EventRecord{0, "r1", 3, "", "note", "the next one lands"})).ok());
  EXPECT_EQ(store->GetEvents("r1")->size(), 1u);
}

TYPED_TEST(StoreContract, ResolvesIdsPrefixesAndLast) {
  auto store = this->kind_.Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateRun(this->Run("20261201-0001", 1000, "a"), false, kDead).ok());
  ASSERT_TRUE(store->CreateRun(this->Run("20261201-0002", 2000, "b"), false, kDead).ok());
  EXPECT_EQ(*store->ResolveRun("last"), "20261201-0002");
  EXPECT_EQ(*store->ResolveRun("20261201-0001"), "20261201-0001");
  EXPECT_TRUE(store->ResolveRun("2026").status().IsInvalid());
  EXPECT_TRUE(store->ResolveRun("nope").status().IsNotFound());
  auto runs = store->ListRuns({"b", std::nullopt, true});
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].id, "20261201-0002");
  EXPECT_EQ(store->ListRuns({})->size(), 2u);
}

TYPED_TEST(StoreContract, AnExclusiveRunbookHasOneOpenRunAndAClaimTakesOnlyAnOpenOne) {
  auto first = this->kind_.Open();
  ASSERT_TRUE(first);
  ASSERT_FALSE(first->CreateRun(this->Run("r1", 1000), true, kDead)->has_value());
  auto second = this->kind_.Open();
  auto blocked = second->CreateRun(this->Run("r2", 2000), true, kDead);
  ASSERT_TRUE(blocked.ok());
  ASSERT_TRUE(blocked->has_value());
  EXPECT_EQ((*blocked)->id, "r1");  // named, with its owner
  EXPECT_EQ((*blocked)->owner_host, "db1");
  EXPECT_FALSE(second->CreateRun(this->Run("r3", 3000), false, kDead)->has_value());  // shared: fine

  // A live owner keeps its run; once it is gone, another engine claims it.
  RunRecord me = this->Run("r1", 0);
  me.owner_host = "db2";
  me.pid = 7;
  auto live = second->ClaimRun("r1", me, [](const RunRecord&) { return true; });
  ASSERT_TRUE(live.ok()) << live.status().message();
  EXPECT_EQ(live->outcome, Claim::Outcome::kLive);
  first.reset();  // the first engine is gone (its session, its process)
  auto claimed = second->ClaimRun("r1", me, kDead);
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(claimed->outcome, Claim::Outcome::kClaimed);
  EXPECT_EQ(second->GetRun("r1")->owner_host, "db2");
  RunRecord ended = this->Run("r3", 3000);
  ended.status = RunStatus::kSucceeded;
  Batch end;
  end.run = ended;
  ASSERT_TRUE(second->Commit(end).ok());
  EXPECT_EQ(second->ClaimRun("r3", me, kDead)->outcome, Claim::Outcome::kEnded);
}

TYPED_TEST(StoreContract, TheInboxTakesTheFirstAnswerAndTheDecisionTakesIt) {
  auto store = this->kind_.Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateRun(this->Run("r1", 1000), false, kDead).ok());
  StepRecord s;
  s.run_id = "r1";
  s.step_id = "approve";
  s.status = StepStatus::kWaiting;
  StepRecord other = s;
  other.step_id = "restore";
  other.status = StepStatus::kRunning;
  ASSERT_TRUE(store->Commit(Batch().Add(s).Add(other)).ok());
  EXPECT_TRUE(store->PendingAnswers("r1")->empty());  // no inbox yet: none
  auto first = store->PostAnswer({0, "r1", "approve", "yes", "alice (web)", 2000});
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(first->first);
  auto second = this->kind_.Open()->PostAnswer({0, "r1", "approve", "no", "bob (web)", 2001});
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->first);
  EXPECT_EQ(second->answer.by, "alice (web)");
  EXPECT_EQ(second->answer.value, "yes");
  EXPECT_TRUE(store->PostAnswer({0, "r1", "restore", "done", "bob (web)", 2002}).status().IsInvalid());  // running
  EXPECT_TRUE(store->PostAnswer({0, "r1", "other", "x", "bob", 1}).status().IsInvalid());  // no such step
  auto pending = store->PendingAnswers("");
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].value, "yes");
  EXPECT_EQ((*pending)[0].at, 2000);
  ASSERT_TRUE(store->Commit(Batch().Add(DecisionRecord{"r1", "approve", "yes", AnswerSource::kWeb, "alice (web)", 3000, ""})).ok());
  EXPECT_TRUE(store->PendingAnswers("r1")->empty());
  // Taken, and the step no longer waits: the answer taken is the one that stands.
  s.status = StepStatus::kSucceeded;
  ASSERT_TRUE(store->Commit(Batch().Add(s)).ok());
  auto late = store->PostAnswer({0, "r1", "approve", "no", "carol (web)", 4000});
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->first);
  EXPECT_EQ(late->answer.by, "alice (web)");
}

TYPED_TEST(StoreContract, TokensAreKeptByTheirHashAndEventsInOrder) {
  auto store = this->kind_.Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->AddToken("alice", "h1", 10).ok());
  ASSERT_TRUE(store->AddToken("alice", "h2", 20).ok());  // replaced
  EXPECT_EQ(*store->TokenName("h2"), std::optional<std::string>("alice"));
  EXPECT_EQ(*store->TokenName("h1"), std::nullopt);
  EXPECT_EQ(store->ListTokens()->size(), 1u);
  ASSERT_TRUE(store->CreateRun(this->Run("r1", 1000), false, kDead).ok());
  auto other = this->kind_.Open();
  for (int i = 0; i < 20; ++i) {
    StateStore* by = i % 2 ? store.get() : other.get();  // the engine and serve's notes, interleaved
    ASSERT_TRUE(by->Commit(Batch().Add(EventRecord{0, "r1", i, "", "note", std::to_string(i)})).ok());
  }
  auto events = store->GetEvents("r1");
  ASSERT_EQ(events->size(), 20u);
  for (size_t i = 1; i < events->size(); ++i) EXPECT_LT((*events)[i - 1].seq, (*events)[i].seq);
  EXPECT_EQ((*events)[19].message, "19");
}

// ---- PostgreSQL only: ownership across machines --------------------------------

class PgOwnership : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(g_pg, nullptr); }
  std::unique_ptr<PgStore> Open() {
    auto s = PgStore::Open(kind_.Spec());
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s.value()) : nullptr;
  }
  PgKind kind_;
};

TEST_F(PgOwnership, AnEngineWhoseSessionWasTerminatedCannotWriteAfterTheNewOwner) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  RunRecord r = StoreContract<PgKind>::Run("r1", 1000);
  ASSERT_FALSE(a->CreateRun(r, true, kDead)->has_value());
  EXPECT_TRUE(b->OwnerAlive(r, kDead));  // a holds the run's lock, whatever the OS says
  RunRecord me = r;
  me.owner_host = "db2";
  EXPECT_EQ(b->ClaimRun("r1", me, kDead)->outcome, Claim::Outcome::kLive);  // whatever the OS says
  // a's session is terminated (as a DBA or a failover would); b claims the run.
  PGconn* admin = PQconnectdb(g_pg->Conninfo(kind_.db).c_str());
  PQclear(PQexec(admin, ("SELECT pg_terminate_backend(" + std::to_string(a->BackendPid()) + ")").c_str()));
  PQfinish(admin);
  Claim c;
  for (int i = 0; i < 200; ++i) {  // the server frees the lock once the backend has exited
    c = *b->ClaimRun("r1", me, kDead);
    if (c.outcome == Claim::Outcome::kClaimed) break;
    usleep(10'000);
  }
  ASSERT_EQ(c.outcome, Claim::Outcome::kClaimed);
  Status late = a->Commit(Batch().Add(EventRecord{0, "r1", 5, "", "step.running", "from the old owner"}));
  EXPECT_FALSE(late.ok());
  EXPECT_NE(late.message().find("connection to the database was lost"), std::string::npos) << late.message();
  ASSERT_TRUE(b->Commit(Batch().Add(EventRecord{0, "r1", 6, "", "run.resumed", "new owner"})).ok());
  auto events = b->GetEvents("r1");
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].message, "new owner");
}

TEST_F(PgOwnership, AStaleEpochIsFencedEvenOnALiveConnection) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  RunRecord r = StoreContract<PgKind>::Run("r1", 1000);
  ASSERT_FALSE(a->CreateRun(r, false, kDead)->has_value());
  // Another engine took the run over behind a's back (the epoch moved on).
  PGconn* admin = PQconnectdb(g_pg->Conninfo(kind_.db).c_str());
  PQclear(PQexec(admin, "UPDATE runs SET owner_epoch = owner_epoch + 1, owner_host = 'db9', pid = 99"));
  PQfinish(admin);
  Status late = a->Commit(Batch().Add(EventRecord{0, "r1", 5, "", "step.running", "stale"}));
  EXPECT_TRUE(late.IsBusy()) << late.message();
  EXPECT_NE(late.message().find("taken over by ops@db9 (pid 99)"), std::string::npos) << late.message();
  EXPECT_TRUE(b->GetEvents("r1")->empty());
}

TEST_F(PgOwnership, HistoryCopiedBetweenTheStoresReadsBackEqualAndADifferenceIsSeen) {
  SqliteKind lite;
  auto from = lite.Open();
  ASSERT_TRUE(from);
  RunRecord r = StoreContract<PgKind>::Run("r1", 1000);
  r.status = RunStatus::kSucceeded;
  ASSERT_TRUE(from->CreateRun(r, false, kDead).ok());
  Batch b;
  AttemptRecord a;
  a.run_id = "r1";
  a.step_id = "s";
  a.out = std::string("\xff\0bytes", 7);
  b.Add(a).Add(EventRecord{0, "r1", 5, "s", "step.succeeded", "ok"});
  b.Add(DecisionRecord{"r1", "go", "now", AnswerSource::kTty, "ops@db1", 4, ""});
  ASSERT_TRUE(from->Commit(b).ok());
  auto to = Open();
  auto report = CopyRuns(*from, *to, kDead);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->copied, 1);
  EXPECT_EQ(CompareRun(*from, *to, "r1"), "");
  EXPECT_EQ(CopyRuns(*from, *to, kDead)->already, 1);  // again: nothing new
  // A record that differs is seen (the check can fail).
  ASSERT_TRUE(to->Commit(Batch().Add(EventRecord{0, "r1", 6, "", "note", "only here"})).ok());
  EXPECT_EQ(CompareRun(*from, *to, "r1"), "events: 1 against 2");
  auto again = CopyRuns(*from, *to, kDead);
  ASSERT_EQ(again->skipped.size(), 1u);
  EXPECT_NE(again->skipped[0].find("another record"), std::string::npos);
}

// A reader that resumes after the highest seq it has seen never misses an
// event committed later with a smaller one: writers of one run's events take
// turns (a per-run lock), so seqs appear in order. Two writers commit at once
// (the engine and serve's notes) while a reader follows.
TEST_F(PgOwnership, AFollowerAfterSeqNMissesNothingWhileTwoWritersCommit) {
  auto setup = Open();
  ASSERT_TRUE(setup);
  ASSERT_FALSE(setup->CreateRun(StoreContract<PgKind>::Run("r1", 1000), false, kDead)->has_value());
  constexpr int kEach = 150;
  std::atomic<int> done{0};
  auto writer = [&](const std::string& who) {
    auto w = Open();
    for (int i = 0; i < kEach; ++i) {
      Batch b;
      b.Add(EventRecord{0, "r1", i, "", "note", who + std::to_string(i)});
      if (i % 3 == 0) b.Add(EventRecord{0, "r1", i, "", "note", who + "+" + std::to_string(i)});
      ASSERT_TRUE(w->Commit(b).ok());
    }
    ++done;
  };
  std::thread a(writer, "a"), b(writer, "b");
  auto reader = Open();
  int64_t after = 0;
  std::set<int64_t> seen;
  int missed = 0;
  while (true) {
    bool last = done == 2;
    auto events = reader->GetEvents("r1");
    ASSERT_TRUE(events.ok());
    for (const auto& e : *events) {
      if (e.seq <= after) {
        if (!seen.count(e.seq)) ++missed;  // appeared below what the follower had already passed
        continue;
      }
      seen.insert(e.seq);
    }
    if (!events->empty()) after = std::max(after, events->back().seq);
    if (last) break;
  }
  a.join();
  b.join();
  EXPECT_EQ(missed, 0);
  EXPECT_EQ(seen.size(), 2u * (kEach + kEach / 3));
}

TEST(PgStoreTest, APasswordIsNeverShown) {
  EXPECT_EQ(PgStore::Redacted("postgresql://ops:s3cret@db.example/runbook"), "postgresql://ops:***@db.example/runbook");
  EXPECT_EQ(PgStore::Redacted("postgresql://db/runbook?user=ops&password=s3cret&sslmode=verify-full"),
            "postgresql://db/runbook?user=ops&password=***&sslmode=verify-full");
  EXPECT_EQ(PgStore::Redacted("host=db password=s3cret user=ops"), "host=db password=*** user=ops");
  auto bad = PgStore::Open("postgresql://ops:s3cret@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("s3cret"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace runbook
