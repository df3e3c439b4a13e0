// Test doubles for executor tests: a clock that only moves when the runner
// says so, a runner that plays a script, a reporter that keeps events, and
// an asker that answers from a list. With them a run of hours takes no time
// and every deadline is exact.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/executor.h"
#include "engine/runner.h"

namespace runbook::testing {

class FakeClock : public Clock {
 public:
  int64_t now = 0;
  int64_t Now() override { return now; }
  int64_t WallMs() override { return 1'800'000'000'000 + now; }
};

// What a command does: matched by a substring of its script, in order; a
// rule with `times` is used that many times before the next one matching.
struct FakeCommand {
  std::string match;
  int exit_code = 0;
  int64_t duration_ms = 0;
  std::string out, err;
  bool hangs = false;         // runs until killed
  bool ignores_term = false;  // only SIGKILL stops it
  int times = -1;             // -1: forever

  static FakeCommand Of(std::string m) {
    FakeCommand c;
    c.match = std::move(m);
    return c;
  }
  FakeCommand& Exit(int code) { exit_code = code; return *this; }
  FakeCommand& Takes(int64_t ms) { duration_ms = ms; return *this; }
  FakeCommand& Prints(std::string o) { out = std::move(o); return *this; }
  FakeCommand& Hangs() { hangs = true; return *this; }
  FakeCommand& IgnoresTerm() { ignores_term = true; return *this; }
  FakeCommand& Times(int n) { times = n; return *this; }
};

class FakeRunner : public ProcessRunner {
 public:
  explicit FakeRunner(FakeClock* clock) : clock_(clock) {}

  std::vector<FakeCommand> script;
  struct Started {
    std::string command;
    int64_t at;
  };
  std::vector<Started> started;
  std::vector<std::pair<std::string, int64_t>> signals;  // "TERM script" / "KILL script", at
  std::function<void(const ProcessSpec&)> on_start;      // e.g. check write-ahead

  Result<int> Start(const ProcessSpec& spec) override {
    if (on_start) on_start(spec);
    std::string cmd = spec.argv.back();
    started.push_back({cmd, clock_->now});
    FakeCommand rule;
    for (auto& r : script) {
      if (cmd.find(r.match) == std::string::npos || r.times == 0) continue;
      if (r.times > 0) --r.times;
      rule = r;
      break;
    }
    Proc p{cmd, rule, rule.hangs ? std::nullopt : std::optional<int64_t>(clock_->now + rule.duration_ms), 0};
    procs_[next_] = p;
    return next_++;
  }
  void Terminate(int h) override {
    auto& p = procs_.at(h);
    signals.push_back({"TERM " + p.cmd, clock_->now});
    if (!p.rule.ignores_term) End(p, 15);
  }
  void Kill(int h) override {
    auto& p = procs_.at(h);
    signals.push_back({"KILL " + p.cmd, clock_->now});
    End(p, 9);
  }
  std::vector<RunnerEvent> Wait(std::optional<int64_t> deadline) override {
    std::optional<int64_t> next;
    for (auto& [h, p] : procs_)
      if (p.ends_at && (!next || *p.ends_at < *next)) next = p.ends_at;
    if (!next && !deadline) throw std::runtime_error("FakeRunner: Wait() would block forever");
    if (!next || (deadline && *deadline < *next)) {
      clock_->now = std::max(clock_->now, *deadline);
      return {};
    }
    clock_->now = std::max(clock_->now, *next);
    std::vector<RunnerEvent> out;
    for (auto it = procs_.begin(); it != procs_.end();) {
      if (it->second.ends_at && *it->second.ends_at <= clock_->now) {
        RunnerEvent e;
        e.handle = it->first;
        e.signal = it->second.signal;
        e.exit_code = e.signal ? 128 + e.signal : it->second.rule.exit_code;
        e.out = it->second.rule.out;
        e.err = it->second.rule.err;
        out.push_back(e);
        it = procs_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  int running() const override { return static_cast<int>(procs_.size()); }

  std::vector<int64_t> StartTimes(const std::string& match) const {
    std::vector<int64_t> out;
    for (const auto& s : started)
      if (s.command.find(match) != std::string::npos) out.push_back(s.at);
    return out;
  }

 private:
  struct Proc {
    std::string cmd;
    FakeCommand rule;
    std::optional<int64_t> ends_at;
    int signal;
  };
  void End(Proc& p, int sig) {
    p.ends_at = clock_->now;
    p.signal = sig;
  }
  FakeClock* clock_;
  std::map<int, Proc> procs_;
  int next_ = 1;
};

class RecordingReporter : public Reporter {
 public:
  std::vector<ReportEvent> events;
  std::function<void(const ReportEvent&)> on_event;  // what else happens as the engine reports
  void Event(const ReportEvent& e) override {
    events.push_back(e);
    if (on_event) on_event(e);
  }
};

class ScriptedAsker : public Asker {
 public:
  bool tty = false;
  std::vector<std::string> answers;
  std::vector<std::string> asked;
  bool available() const override { return tty; }
  // Called before each answer: an answer posted to the inbox meanwhile wins.
  std::function<void()> while_asked;
  std::optional<std::string> Ask(const std::string& step, const std::string&, const std::vector<std::string>&,
                                 const std::vector<std::string>&, const std::function<bool()>& elsewhere) override {
    asked.push_back(step);
    if (while_asked) {
      while_asked();
      if (elsewhere()) return std::nullopt;
    }
    if (answers.empty()) return std::nullopt;
    std::string a = answers.front();
    answers.erase(answers.begin());
    return a;
  }
};

}  // namespace runbook::testing
