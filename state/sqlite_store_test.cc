#include "state/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace runbook {
namespace {

namespace fs = std::filesystem;

class SqliteStoreTest : public ::testing::Test {
 protected:
  SqliteStoreTest() {
    std::string tmpl = (fs::temp_directory_path() / "store-test-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    path_ = (dir_ / ".runbook" / "state.db").string();
  }
  ~SqliteStoreTest() override { fs::remove_all(dir_); }

  std::unique_ptr<SqliteStore> Open() {
    auto s = SqliteStore::Open(path_, Durability::kCrash);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  static RunRecord Run(const std::string& id, int64_t at) {
    RunRecord r;
    r.id = id;
    r.runbook = "dr";
    r.path = "runbooks/dr.yaml";
    r.source = "name: dr\n";
    r.sha256 = "abc";
    r.inputs = {{"env", "staging"}, {"token", "***"}};
    r.secret_inputs = {"token"};
    r.user = "ops";
    r.host = "db1";
    r.workdir = "/srv";
    r.pid = 42;
    r.started_at = at;
    return r;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, EverythingCommittedSurvivesReopening) {
  {
    auto store = Open();
    Batch b;
    b.new_run = Run("20261125-0001", 1000);
    StepRecord s;
    s.run_id = "20261125-0001";
    s.step_id = "restore";
    s.status = StepStatus::kSucceeded;
    s.attempts = 2;
    s.exit_code = 0;
    s.outputs = {{"rows", "42"}};
    s.completed_seq = 1;
    b.steps.push_back(s);
    AttemptRecord a;
    a.run_id = s.run_id;
    a.step_id = "restore";
    a.command = "cp a b";
    a.status = AttemptStatus::kSucceeded;
    a.exit_code = 0;
    a.out = std::string("bin\0ary", 7);
    b.attempts.push_back(a);
    b.decisions.push_back({s.run_id, "assess", "restore", AnswerSource::kAnswer, "ops@db1", 1500, "restart"});
    b.events.push_back({0, s.run_id, 1000, "", "run.started", "started"});
    b.events.push_back({0, s.run_id, 1001, "restore", "step.succeeded", "ok"});
    ASSERT_TRUE(store->Commit(b).ok());
  }
  auto store = Open();
  auto run = store->GetRun("20261125-0001");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->inputs.at("token"), "***");
  EXPECT_EQ(run->secret_inputs, std::vector<std::string>{"token"});
  EXPECT_EQ(run->status, RunStatus::kRunning);
  auto steps = store->GetSteps("20261125-0001");
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].outputs.at("rows"), "42");
  EXPECT_EQ((*steps)[0].attempts, 2);
  auto attempts = store->GetAttempts("20261125-0001");
  EXPECT_EQ((*attempts)[0].out, std::string("bin\0ary", 7));
  EXPECT_EQ((*store->GetDecisions("20261125-0001"))[0].by, "ops@db1");
  EXPECT_EQ((*store->GetDecisions("20261125-0001"))[0].overrode, "restart");
  auto events = store->GetEvents("20261125-0001");
  ASSERT_EQ(events->size(), 2u);
  EXPECT_LT((*events)[0].seq, (*events)[1].seq);
}

TEST_F(SqliteStoreTest, TheFileAndItsFolderArePrivate) {
  Open();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ / ".runbook").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(SqliteStoreTest, RefusesAFileThatIsNotADatabaseAndLeavesItAlone) {
  fs::create_directories(fs::path(path_).parent_path());
  std::ofstream(path_) << "important notes, not a database\n";
  auto s = SqliteStore::Open(path_, Durability::kCrash);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not a runbook state database"), std::string::npos) << s.status().message();
  std::ifstream in(path_);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "important notes, not a database");
}

TEST_F(SqliteStoreTest, RefusesANewerSchema) {
  Open();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto s = SqliteStore::Open(path_, Durability::kCrash);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("written by a newer runbook (schema version 99, this one knows 2)"),
            std::string::npos)
      << s.status().message();
}

TEST_F(SqliteStoreTest, UsesWalAndKeepsTheSchemaVersion) {
  Open();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), SqliteStore::kSchemaVersion);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

TEST_F(SqliteStoreTest, PowerDurabilityFsyncsEveryCommit) {
  auto power = SqliteStore::Open(path_, Durability::kPower);
  ASSERT_TRUE(power.ok());
  EXPECT_EQ(power.value()->Synchronous(), 2);  // FULL
  power.value().reset();
  auto crash = SqliteStore::Open(path_, Durability::kCrash);
  EXPECT_EQ(crash.value()->Synchronous(), 1);  // NORMAL
}

// The inbox's contract is store_contract_test.cc's; this is the file's own part.
TEST_F(SqliteStoreTest, AReaderPostsNoAnswer) {
  auto store = Open();
  Batch b;
  b.new_run = Run("r1", 1000);
  StepRecord s;
  s.run_id = "r1";
  s.step_id = "approve";
  s.status = StepStatus::kWaiting;
  ASSERT_TRUE(store->Commit(b.Add(s)).ok());
  auto reader = SqliteStore::OpenForReading(path_);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->PostAnswer({0, "r1", "approve", "no", "bob", 1}).status().code(), Status::Code::kInvalid);
  EXPECT_TRUE(store->PendingAnswers("r1")->empty());
}

}  // namespace
}  // namespace runbook
