// The end-to-end suite against PostgreSQL: under tests/pg/with_server.py
// (RUNBOOK_TEST_PG_DIR is the socket folder of a throwaway server), each test
// gets a database of its own as RUNBOOK_STATE, which every binary the test
// starts inherits. Without it, nothing changes: the SQLite file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

class PgPerTest : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override {
    const char* dir = std::getenv("RUNBOOK_TEST_PG_DIR");
    if (!dir || !*dir) return;
    std::string db = "e2e_" + std::to_string(++n_);
    std::string cmd = std::string("psql -q -h ") + ShellQuote(dir) + " -U runbook -d postgres -c " +
                      ShellQuote("CREATE DATABASE " + db) + " >/dev/null";
    if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "could not create database " << db;
    setenv("RUNBOOK_STATE", ("postgresql:///" + db + "?host=" + dir + "&user=runbook").c_str(), 1);
  }
  int n_ = 0;
};

const bool kRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new PgPerTest);
  return true;
}();

}  // namespace
}  // namespace runbook::testing
