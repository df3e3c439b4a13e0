// The real runner on real processes.
#include "steps/posix_runner.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace runbook {
namespace {

ProcessSpec Bash(const std::string& script) {
  ProcessSpec s;
  s.argv = {"/bin/bash", "-c", script};
  s.env = {{"PATH", "/usr/bin:/bin"}};
  s.workdir = "/";
  return s;
}

// Waits until `handle` exits and returns its exit event.
RunnerEvent WaitExit(PosixRunner& r, int handle, std::string* output = nullptr) {
  while (true) {
    for (auto& e : r.Wait(std::nullopt)) {
      if (e.kind == RunnerEvent::Kind::kOutput && e.handle == handle && output) *output += e.data;
      if (e.kind == RunnerEvent::Kind::kExit && e.handle == handle) return e;
    }
  }
}

// A process we are not the parent of cannot be waited on: poll /proc, bounded.
bool GoneWithin(pid_t pid, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_s, comm, state;
    if (!(stat >> pid_s >> comm >> state) || state == "Z") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(PosixRunnerTest, CapturesOutputAndExitCode) {
  SystemClock clock;
  PosixRunner r(&clock);
  auto h = r.Start(Bash("echo out; echo err >&2; exit 3"));
  ASSERT_TRUE(h.ok()) << h.status().message();
  std::string streamed;
  RunnerEvent e = WaitExit(r, *h, &streamed);
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(e.out, "out\n");
  EXPECT_EQ(e.err, "err\n");
  EXPECT_FALSE(e.truncated);
  EXPECT_NE(streamed.find("out\n"), std::string::npos);
  EXPECT_EQ(r.running(), 0);
}

TEST(PosixRunnerTest, KeepsTheTailOfLongOutput) {
  SystemClock clock;
  PosixRunner r(&clock);
  ProcessSpec s = Bash("for i in $(seq 1 5000); do echo line-$i; done");
  s.output_limit = 1000;
  auto h = r.Start(s);
  RunnerEvent e = WaitExit(r, *h);
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(e.out.size(), 1000u);
  EXPECT_EQ(e.out.substr(e.out.size() - 10), "line-5000\n");
}

TEST(PosixRunnerTest, ABackgroundedGrandchildNeitherHangsTheStepNorSurvivesIt) {
  SystemClock clock;
  PosixRunner r(&clock);
  auto h = r.Start(Bash("sleep 300 & echo $!; bash -c 'sleep 300' & echo $!"));
  RunnerEvent e = WaitExit(r, *h);
  EXPECT_EQ(e.exit_code, 0);
  std::istringstream pids(e.out);
  pid_t a = 0, b = 0;
  pids >> a >> b;
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  EXPECT_TRUE(GoneWithin(a, std::chrono::seconds(5)));
  EXPECT_TRUE(GoneWithin(b, std::chrono::seconds(5)));
}

TEST(PosixRunnerTest, TerminateReachesTheWholeProcessGroup) {
  SystemClock clock;
  PosixRunner r(&clock);
  std::string pid_file = std::filesystem::temp_directory_path() / ("runner-pids-" + std::to_string(getpid()));
  auto h = r.Start(Bash("(sleep 300 & echo $! >> " + pid_file + "; wait) & sleep 300 & echo $! >> " + pid_file +
                        "; until [ \"$(wc -l < " + pid_file + ")\" -ge 2 ]; do sleep 0.01; done; echo ready; wait"));
  std::string out;
  while (out.find("ready") == std::string::npos)
    for (auto& e : r.Wait(std::nullopt))
      if (e.kind == RunnerEvent::Kind::kOutput) out += e.data;
  r.Terminate(*h);
  RunnerEvent e = WaitExit(r, *h);
  EXPECT_EQ(e.signal, SIGTERM);
  EXPECT_EQ(e.exit_code, 128 + SIGTERM);
  std::ifstream in(pid_file);
  pid_t pid;
  int count = 0;
  while (in >> pid) {
    ++count;
    EXPECT_TRUE(GoneWithin(pid, std::chrono::seconds(5))) << pid;
  }
  EXPECT_EQ(count, 2);
  std::filesystem::remove(pid_file);
}

TEST(PosixRunnerTest, WaitReturnsAtTheDeadline) {
  SystemClock clock;
  PosixRunner r(&clock);
  auto h = r.Start(Bash("sleep 300"));
  int64_t deadline = clock.Now() + 20;
  auto events = r.Wait(deadline);
  while (events.empty() && clock.Now() < deadline) events = r.Wait(deadline);
  EXPECT_TRUE(events.empty());
  EXPECT_GE(clock.Now(), deadline);
  r.Kill(*h);
  EXPECT_EQ(WaitExit(r, *h).signal, SIGKILL);
}

TEST(PosixRunnerTest, UsesTheGivenEnvironmentAndWorkdir) {
  SystemClock clock;
  PosixRunner r(&clock);
  ProcessSpec s = Bash("pwd; echo \"$FOO\"; echo \"${HOME:-unset}\"");
  s.env["FOO"] = "bar baz";
  s.workdir = "/tmp";
  auto h = r.Start(s);
  EXPECT_EQ(WaitExit(r, *h).out, "/tmp\nbar baz\nunset\n");
}

TEST(PosixRunnerTest, ReportsACommandThatCannotStart) {
  SystemClock clock;
  PosixRunner r(&clock);
  ProcessSpec s;
  s.argv = {"no-such-command-xyz"};
  s.workdir = "/";
  auto h = r.Start(s);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().message(), "command not found: no-such-command-xyz");
  s = Bash("true");
  s.workdir = "/no/such/dir";
  h = r.Start(s);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("/no/such/dir"), std::string::npos) << h.status().message();
}

TEST(PosixRunnerTest, ReportsAnExecThatFailsInTheChild) {
  // execve fails after the vfork: the error must come back to Start().
  SystemClock clock;
  PosixRunner r(&clock);
  std::string bad = ::testing::TempDir() + "runner-not-a-program";
  std::ofstream(bad) << "\x7f" "ELF, but not really";
  std::filesystem::permissions(bad, std::filesystem::perms::owner_all);
  ProcessSpec s;
  s.argv = {bad};
  s.workdir = "/";
  auto h = r.Start(s);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().message(), "cannot start " + bad + " in /: Exec format error");
  EXPECT_EQ(r.running(), 0);
  std::filesystem::remove(bad);
}

// Reads a /proc/self/status field ("SigBlk", "SigIgn") as the step sees it.
std::string StatusField(PosixRunner& r, const std::string& field) {
  ProcessSpec s;
  s.argv = {"/bin/grep", "^" + field + ":", "/proc/self/status"};
  s.workdir = "/";
  auto h = r.Start(s);
  EXPECT_TRUE(h.ok());
  return WaitExit(r, *h).out;
}

TEST(PosixRunnerTest, AStepStartsWithDefaultSignalsWhateverTheEngineBlocksOrIgnores) {
  SystemClock clock;
  PosixRunner r(&clock);
  struct sigaction handler {};
  handler.sa_handler = [](int) {};
  struct sigaction old_term {}, old_pipe {};
  sigaction(SIGTERM, &handler, &old_term);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old_pipe);
  sigset_t usr1, before, after;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, &before);

  EXPECT_EQ(StatusField(r, "SigIgn"), "SigIgn:\t0000000000000000\n");
  // The engine's own mask is the step's: only what the engine blocked itself.
  EXPECT_EQ(StatusField(r, "SigBlk"), "SigBlk:\t0000000000000200\n");  // SIGUSR1 = bit 10
  pthread_sigmask(SIG_SETMASK, &before, &after);
  EXPECT_TRUE(sigismember(&after, SIGUSR1));
  EXPECT_FALSE(sigismember(&after, SIGTERM)) << "Start() must give the engine its signals back";
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGPIPE, &old_pipe, nullptr);
}

}  // namespace
}  // namespace runbook
