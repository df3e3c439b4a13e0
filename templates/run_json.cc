#include "templates/run_json.h"

#include <chrono>

#include "engine/duration.h"
#include "engine/parser.h"
#include "engine/timefmt.h"

namespace runbook {

using nlohmann::json;

std::optional<RtoClock> RtoOf(const RunRecord& r) {
  Diagnostics diags;
  Runbook rb = ParseRunbook(SourceFile(r.path, r.source), &diags);
  if (!rb.rto) return std::nullopt;
  RtoClock c;
  c.target_ms = rb.rto->count();
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  c.elapsed_ms = (r.finished_at ? r.finished_at : now) - r.started_at;
  int64_t left = c.target_ms - c.elapsed_ms;
  c.text = FormatDuration(*rb.rto) + ": ";
  if (r.status == RunStatus::kSucceeded)
    c.text += "recovered in " + HumanDuration(c.elapsed_ms) +
              (left >= 0 ? ", within the RTO" : ", RTO exceeded by " + HumanDuration(-left));
  else
    c.text += HumanDuration(c.elapsed_ms) + " since the first start, " +
              (left >= 0 ? HumanDuration(left) + " left" : "exceeded by " + HumanDuration(-left)) +
              (r.status == RunStatus::kRunning ? "" : " (not recovered: " + std::string(ToString(r.status)) + ")");
  return c;
}

std::set<std::string> ContinuedOnFailure(const RunRecord& r) {
  Diagnostics diags;
  Runbook rb = ParseRunbook(SourceFile(r.path, r.source), &diags);
  std::set<std::string> ids;
  for (const auto& s : rb.steps)
    if (s.continue_on_failure) ids.insert(s.id);
  return ids;
}

json RunJson(const RunRecord& r) {
  json j = {{"id", r.id},
            {"runbook", r.runbook},
            {"status", ToString(r.status)},
            {"phase", ToString(r.phase)},
            {"started_at", Rfc3339(r.started_at)},
            {"finished_at", r.finished_at ? json(Rfc3339(r.finished_at)) : json(nullptr)},
            {"user", r.user},
            {"host", r.host},
            {"path", r.path},
            {"workdir", r.workdir},
            {"sha256", r.sha256},
            {"inputs", r.inputs}};
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (!r.parent_run.empty()) j["parent"] = r.parent_run + ":" + r.parent_step;
  return j;
}

json StepJson(const StepRecord& s, bool continued) {
  json j = {{"id", s.step_id},
          {"phase", s.phase},
          {"status", ToString(s.status)},
          {"reason", s.reason == Reason::kNone ? json(nullptr) : json(ToString(s.reason))},
          {"attempts", s.attempts},
          {"exit_code", s.exit_code ? json(*s.exit_code) : json(nullptr)},
          {"started_at", s.started_at ? json(Rfc3339(s.started_at)) : json(nullptr)},
          {"finished_at", s.finished_at ? json(Rfc3339(s.finished_at)) : json(nullptr)},
          {"duration_ms", s.started_at && s.finished_at ? json(s.finished_at - s.started_at) : json(nullptr)},
          {"outputs", s.outputs},
          {"rollback", s.rollback == HookStatus::kNone ? json(nullptr) : json(ToString(s.rollback))}};
  if (continued && s.status == StepStatus::kFailed) j["continued"] = true;  // the runbook let the run go on
  return j;
}

json RunsJson(const std::vector<RunRecord>& runs, const std::function<bool(const RunRecord&)>& live) {
  json list = json::array();
  for (const auto& r : runs) {
    json j = RunJson(r);
    if (r.status == RunStatus::kRunning) j["orphaned"] = !live(r);
    list.push_back(j);
  }
  return list;
}

Result<json> ShowJson(StateStore& store, const std::string& id) {
  auto run = store.GetRun(id);
  if (!run.ok()) return run.status();
  auto steps = store.GetSteps(id);
  if (!steps.ok()) return steps.status();
  json j = RunJson(*run);
  if (auto rto = RtoOf(*run)) j["rto"] = {{"target_ms", rto->target_ms}, {"elapsed_ms", rto->elapsed_ms}};
  j["steps"] = json::array();
  auto continued = ContinuedOnFailure(*run);
  for (const auto& s : *steps) j["steps"].push_back(StepJson(s, continued.count(s.step_id) > 0));
  auto decisions = store.GetDecisions(id);
  j["decisions"] = json::array();
  if (decisions.ok())
    for (const auto& d : *decisions)
      j["decisions"].push_back({{"step", d.step_id}, {"value", d.value}, {"source", ToString(d.source)},
                                {"by", d.by}, {"at", Rfc3339(d.at)},
                                {"overrides", d.overrode.empty() ? json(nullptr) : json(d.overrode)}});
  return j;
}

json EventJson(const EventRecord& e) {
  return {{"seq", e.seq}, {"at", Rfc3339(e.at)}, {"step", e.step_id.empty() ? json(nullptr) : json(e.step_id)},
          {"kind", e.kind}, {"message", e.message}};
}

std::string Dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

}  // namespace runbook
