// A StateStore that keeps everything in memory: what a dry run records
// (nothing that outlives it), and the store double of executor tests.
// Fault injection: fail_commit_after = N makes the (N+1)th Commit fail, as a
// full disk would (leveldb's ErrorEnv).
#pragma once

#include <algorithm>
#include <map>

#include "engine/lifecycle.h"
#include "engine/store.h"

namespace runbook {

class MemoryStore : public StateStore {
 public:
  int commits = 0;
  int fail_commit_after = -1;
  std::map<std::string, RunRecord> runs;
  std::map<std::string, std::vector<StepRecord>> steps;  // in first-write order
  std::map<std::string, std::vector<AttemptRecord>> attempts;
  std::map<std::string, std::vector<DecisionRecord>> decisions;
  std::vector<EventRecord> events;
  std::vector<bool> synced;  // per commit

  Status Commit(const Batch& b) override {
    if (fail_commit_after >= 0 && commits >= fail_commit_after)
      return Status::IOError("injected write failure (disk full)");
    ++commits;
    synced.push_back(b.sync);
    if (b.new_run) runs[b.new_run->id] = *b.new_run;
    if (b.run) {
      RunRecord& r = runs[b.run->id];
      r.status = b.run->status;
      r.phase = b.run->phase;
      r.outcome = b.run->outcome;
      r.reason = b.run->reason;
      r.finished_at = b.run->finished_at;
    }
    for (const auto& s : b.steps) Upsert(steps[s.run_id], s, [&](const StepRecord& x) { return x.step_id == s.step_id; });
    for (const auto& a : b.attempts)
      Upsert(attempts[a.run_id], a, [&](const AttemptRecord& x) {
        return x.step_id == a.step_id && x.kind == a.kind && x.number == a.number && x.check == a.check &&
               x.try_number == a.try_number;
      });
    for (const auto& d : b.decisions) {
      decisions[d.run_id].push_back(d);
      inbox.erase(std::remove_if(inbox.begin(), inbox.end(),
                                 [&](const InboxAnswer& a) { return a.run_id == d.run_id && a.step_id == d.step_id; }),
                  inbox.end());
    }
    for (auto e : b.events) {
      e.seq = static_cast<int64_t>(events.size()) + 1;
      events.push_back(e);
    }
    return Status::Ok();
  }
  Result<std::optional<RunRecord>> CreateRun(const RunRecord& run, bool exclusive, const LivenessCheck&) override {
    if (exclusive)
      for (auto& [id, r] : runs)
        if (r.runbook == run.runbook && r.parent_run.empty() && !IsFinal(r.status))
          return std::optional<RunRecord>(r);
    Batch b;
    b.new_run = run;
    Status s = Commit(b);
    if (!s.ok()) return s;
    return std::optional<RunRecord>();
  }
  Result<Claim> ClaimRun(const std::string& id, const RunRecord& owner, const LivenessCheck& live) override {
    auto it = runs.find(id);
    if (it == runs.end()) return Status::NotFound("no run " + id);
    Claim c;
    c.run = it->second;
    if (IsFinal(it->second.status)) {
      c.outcome = Claim::Outcome::kEnded;
      return c;
    }
    if (it->second.status == RunStatus::kRunning && live(it->second)) {
      c.outcome = Claim::Outcome::kLive;
      return c;
    }
    RunRecord& r = it->second;
    r.pid = owner.pid;
    r.owner_user = owner.owner_user;
    r.owner_host = owner.owner_host;
    r.owner_start = owner.owner_start;
    r.owner_since = owner.owner_since;
    r.tmp_dir = owner.tmp_dir;
    r.status = RunStatus::kRunning;
    r.finished_at = 0;
    return c;
  }
  Result<RunRecord> GetRun(const std::string& id) override {
    auto it = runs.find(id);
    if (it == runs.end()) return Status::NotFound("no run " + id);
    return it->second;
  }
  Result<std::string> ResolveRun(const std::string& ref) override {
    if (runs.count(ref)) return ref;
    return Status::NotFound("no run matches '" + ref + "'");
  }
  Result<std::vector<RunRecord>> ListRuns(const RunFilter&) override {
    std::vector<RunRecord> out;
    for (auto& [id, r] : runs) out.push_back(r);
    return out;
  }
  Result<std::vector<StepRecord>> GetSteps(const std::string& id) override { return steps[id]; }
  Result<std::vector<AttemptRecord>> GetAttempts(const std::string& id) override { return attempts[id]; }
  Result<std::vector<DecisionRecord>> GetDecisions(const std::string& id) override { return decisions[id]; }
  Result<std::vector<EventRecord>> GetEvents(const std::string& id) override {
    std::vector<EventRecord> out;
    for (auto& e : events)
      if (e.run_id == id) out.push_back(e);
    return out;
  }

  Status AddToken(const std::string& name, const std::string& sha256, int64_t at) override {
    tokens[name] = {sha256, at};
    return Status::Ok();
  }
  Result<std::optional<std::string>> TokenName(const std::string& sha256) override {
    for (const auto& [name, t] : tokens)
      if (t.first == sha256) return std::optional<std::string>(name);
    return std::optional<std::string>();
  }
  Result<std::vector<std::pair<std::string, int64_t>>> ListTokens() override {
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& [name, t] : tokens) out.emplace_back(name, t.second);
    return out;
  }
  std::map<std::string, std::pair<std::string, int64_t>> tokens;

  Result<PostedAnswer> PostAnswer(const InboxAnswer& a) override {
    for (const auto& x : inbox)
      if (x.run_id == a.run_id && x.step_id == a.step_id) return PostedAnswer{false, x};
    const StepRecord* s = Step(a.run_id, a.step_id);
    if (!s || s->status != StepStatus::kWaiting) return Status::Invalid("step '" + a.step_id + "' is not waiting");
    inbox.push_back(a);
    inbox.back().id = ++inbox_ids;
    return PostedAnswer{true, inbox.back()};
  }
  Result<std::vector<InboxAnswer>> PendingAnswers(const std::string& run_id) override {
    std::vector<InboxAnswer> out;
    for (const auto& a : inbox)
      if (run_id.empty() || a.run_id == run_id) out.push_back(a);
    return out;
  }
  Result<bool> WaitForChange(int64_t) override { return true; }  // one process: nobody else commits
  std::string heartbeat_error;  // set: this store says the engine lost the run
  Status Heartbeat(const std::string&) override {
    return heartbeat_error.empty() ? Status::Ok() : Status::Busy(heartbeat_error);
  }
  std::vector<InboxAnswer> inbox;  // not yet taken
  int64_t inbox_ids = 0;

  const StepRecord* Step(const std::string& run, const std::string& step) {
    for (auto& s : steps[run])
      if (s.step_id == step) return &s;
    return nullptr;
  }

 private:
  template <class T, class F>
  static void Upsert(std::vector<T>& v, const T& x, F same) {
    auto it = std::find_if(v.begin(), v.end(), same);
    if (it == v.end())
      v.push_back(x);
    else
      *it = x;
  }
};

}  // namespace runbook
