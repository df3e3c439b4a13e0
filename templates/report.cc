#include "templates/report.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <sstream>
#include <kainjow/mustache.hpp>
#include <map>
#include <unordered_map>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/embedded.h"
#include "engine/eval.h"
#include "engine/facts.h"
#include "engine/graph.h"
#include "engine/parser.h"
#include "engine/step_io.h"
#include "engine/timefmt.h"

namespace runbook::embedded {
extern const EmbeddedFile kTemplates[];
}

namespace runbook {
namespace {

using nlohmann::json;

std::string Utc(int64_t ms) { return FormatUtc(ms, "%Y-%m-%d %H:%M:%S UTC"); }

bool IsPerson(AnswerSource s) {
  return s == AnswerSource::kAnswer || s == AnswerSource::kTty || s == AnswerSource::kWeb;
}

// A step that failed, including one whose hook then undid it.
bool FailedStep(const StepRecord& s) {
  return s.status == StepStatus::kFailed || (s.status == StepStatus::kRolledBack && s.reason != Reason::kNone);
}

// How a step's status reads to a person: a failure the runbook allowed
// (on_failure: continue) is not the run's failure; a failure that was then
// undone is still a failure.
std::string StatusText(const StepRecord& s, bool continued) {
  if (s.status == StepStatus::kFailed && continued) return "failed, continued";
  if (s.status == StepStatus::kRolledBack && s.reason != Reason::kNone) return "failed (undone)";
  return ToString(s.status);
}
std::string Time(int64_t ms) { return FormatUtc(ms, "%H:%M:%S"); }
std::string Dur(int64_t ms) { return ms < 0 ? "" : HumanDuration(ms); }

// Safe inside a Markdown table cell: one line, no column break.
std::string Cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

// Text outside code in Markdown: a table cell, with '<' escaped so that
// "<host>" in a note is shown, not taken for raw HTML (which renderers drop).
std::string Prose(const std::string& s) {
  std::string out;
  for (char c : Cell(s)) {
    if (c == '<') out += "\\<";
    else out += c;
  }
  return out;
}

// A fence longer than any backtick run in the text.
std::string Fence(const std::string& text) {
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

json Block(const std::string& text) { return {{"fence", Fence(text)}, {"text", text}}; }

// A list that grows with the run (a row per step, attempt or event): its
// items are made one at a time, when the template reaches them, so a
// 10,000-step run never holds all its rows as template data at once.
struct LazyList {
  size_t size = 0;
  std::function<json(size_t)> item;
};

struct ReportData {
  json root;                               // everything but the lazy lists
  std::map<std::string, LazyList> lazy;    // name -> rows, made on demand
  json Materialized() const {              // all of it, for ReportDataJson
    json all = root;
    for (const auto& [name, list] : lazy) {
      all[name] = json::array();
      for (size_t i = 0; i < list.size; ++i) all[name].push_back(list.item(i));
    }
    return all;
  }
};

class DataBuilder {
 public:
  explicit DataBuilder(const ReportInput& in) : in_(in), rb_(*in.runbook) {
    for (const auto* list : {&rb_.steps, &rb_.finally})
      for (const auto& s : *list) defs_.emplace(s.id, &s);
    for (const auto& a : in_.attempts) attempts_of_[a.step_id].push_back(&a);
  }

  // The builder must outlive the data: the lazy lists read its record.
  ReportData Build() {
    Run();
    Steps();
    Decisions();
    Failures();
    Rollbacks();
    Verifications();
    Timeline();
    Escalation();
    Children();
    Postmortem();
    return {std::move(d_), std::move(lazy_)};
  }

 private:
  int64_t End() const { return in_.run.finished_at ? in_.run.finished_at : in_.now_ms; }

  void Run() {
    const RunRecord& r = in_.run;
    bool ok = r.status == RunStatus::kSucceeded;
    d_["run"] = {{"id", r.id},
                 {"runbook", r.runbook},
                 {"title", rb_.Title()},
                 {"description", rb_.description},
                 {"purpose", rb_.purpose},
                 {"owner", rb_.owner},
                 {"severity", rb_.severity},
                 {"status", ToString(r.status)},
                 {"phase", ToString(r.phase)},
                 {"succeeded", ok},
                 {"reason", r.reason},
                 {"started_at", Utc(r.started_at)},
                 {"finished_at", r.finished_at ? Utc(r.finished_at) : "(not finished)"},
                 {"date", Utc(r.started_at).substr(0, 10)},
                 {"duration", Dur(End() - r.started_at)},
                 {"user", r.user},
                 {"host", r.host},
                 {"workdir", r.workdir},
                 {"path", r.path},
                 {"sha256", r.sha256},
                 {"parent", r.parent_run.empty() ? "" : r.parent_run + ":" + r.parent_step}};
    json inputs = json::array();
    for (const auto& [k, v] : r.inputs) inputs.push_back({{"name", k}, {"value", Cell(v)}});
    d_["inputs"] = inputs;
    d_["has_inputs"] = !inputs.empty();
    if (rb_.rto) {
      // Only a run that succeeded has recovered anything.
      int64_t actual = End() - r.started_at;
      bool recovered = r.status == RunStatus::kSucceeded;
      bool met = recovered && actual <= rb_.rto->count();
      std::string verdict = !recovered ? "not recovered by this run (" + std::string(ToString(r.status)) + ")"
                            : met      ? "within the RTO"
                                       : "RTO exceeded by " + Dur(actual - rb_.rto->count());
      d_["rto"] = {{"target", FormatDuration(*rb_.rto)}, {"actual", Dur(actual)}, {"met", met},
                   {"recovered", recovered}, {"verdict", verdict}};
    }
    // RPO: a step output named data_age (a duration, or seconds) is the data lost.
    for (const auto& s : in_.steps) {
      auto it = s.outputs.find("data_age");
      if (it == s.outputs.end() || !rb_.rpo) continue;
      auto age = ParseDuration(it->second);
      if (!age) continue;
      bool met = *age <= *rb_.rpo;
      d_["rpo"] = {{"target", FormatDuration(*rb_.rpo)}, {"actual", FormatDuration(*age)}, {"met", met},
                   {"verdict", met ? "within the RPO" : "RPO exceeded by " + FormatDuration(*age - *rb_.rpo)}};
    }
    if (!d_.contains("rpo") && rb_.rpo) d_["rpo_target"] = FormatDuration(*rb_.rpo);
    Facts();
  }

  // The rows of the report's header table: optional rows are simply absent.
  void Facts() {
    const RunRecord& r = in_.run;
    json facts = json::array();
    auto add = [&](const std::string& k, const std::string& v) { facts.push_back({{"key", k}, {"value", Prose(v)}}); };
    add("Status", "**" + std::string(ToString(r.status)) + "**" + (r.reason.empty() ? "" : " (" + r.reason + ")"));
    add("Started by", r.user + "@" + r.host + " in `" + r.workdir + "`");
    add("Started", Utc(r.started_at));
    add("Finished", r.finished_at ? Utc(r.finished_at) : "(not finished)");
    add("Duration", Dur(End() - r.started_at));
    if (d_.contains("rto"))
      add("Recovery time", d_["rto"]["actual"].get<std::string>() + " against an RTO of " +
                               d_["rto"]["target"].get<std::string>() + ": " + d_["rto"]["verdict"].get<std::string>());
    if (d_.contains("rpo"))
      add("Data loss", d_["rpo"]["actual"].get<std::string>() + " against an RPO of " +
                           d_["rpo"]["target"].get<std::string>() + ": " + d_["rpo"]["verdict"].get<std::string>());
    if (!rb_.severity.empty()) add("Severity", rb_.severity);
    if (!rb_.owner.empty()) add("Owner", rb_.owner);
    add("Runbook", "`" + r.path + "` (sha256 `" + r.sha256 + "`)");
    if (!r.parent_run.empty()) add("Parent run", "`" + r.parent_run + ":" + r.parent_step + "`");
    d_["facts"] = facts;
  }

  json StepItem(const StepRecord& s) const {
    const Step* def = Def(s.step_id);
    int64_t dur = s.started_at && s.finished_at ? s.finished_at - s.started_at : -1;
    bool over = def && def->estimate && dur > def->estimate->count();
    bool continued = Continued(s);
    return {{"id", s.step_id},
            {"name", Prose(def && def->DisplayName() != s.step_id ? StepName(*def, in_) : "")},
            {"status", ToString(s.status)},
            {"status_text", StatusText(s, continued)},
            {"continued", continued},
            {"reason", ToString(s.reason)},
            {"duration", dur >= 0 && s.status != StepStatus::kSkipped ? Dur(dur) : ""},  // a skip takes no time
            {"estimate", def && def->estimate ? FormatDuration(*def->estimate) : ""},
            {"over_estimate", over},
            {"attempts", s.attempts},
            {"exit_code", s.exit_code ? std::to_string(*s.exit_code) : ""},
            {"phase", s.phase},
            {"finally", s.phase == "finally"},
            {"kind", def ? ToString(def->kind) : ""}};
  }

  json GanttItem(size_t n, const StepRecord& s) const {
    using S = StepStatus;
    int64_t end = s.finished_at ? s.finished_at : End();
    std::string tag = Continued(s)                                            ? ""
                      : FailedStep(s)                                         ? "crit, "
                      : s.status == S::kSucceeded || s.status == S::kRolledBack ? "done, "
                      : s.status == S::kRunning || s.status == S::kWaiting    ? "active, "
                                                                              : "";
    return {{"label", s.step_id}, {"tag", tag}, {"task", "t" + std::to_string(n + 1)},
            {"start", std::to_string(s.started_at)}, {"end", std::to_string(std::max(end, s.started_at + 1))},
            {"section", s.phase == "finally" ? "finally" : "steps"}};
  }

  void Steps() {
    lazy_["steps"] = {in_.steps.size(), [this](size_t i) { return StepItem(in_.steps[i]); }};
    std::vector<size_t> bars;  // a skip takes no time worth a bar
    std::map<std::string, std::string> classes;
    for (size_t i = 0; i < in_.steps.size(); ++i) {
      const StepRecord& s = in_.steps[i];
      if (s.started_at && s.status != StepStatus::kSkipped) bars.push_back(i);
      classes[s.step_id] = Continued(s) ? "continued" : FailedStep(s) ? "failed" : ToString(s.status);
    }
    lazy_["gantt"] = {bars.size(), [this, bars](size_t n) { return GanttItem(n, in_.steps[bars[n]]); }};
    // The DAG, coloured by status.
    std::vector<Step> all = rb_.steps;
    all.insert(all.end(), rb_.finally.begin(), rb_.finally.end());
    std::string flow = StepGraph(all).Mermaid(&classes);
    flow += "  classDef succeeded fill:#d4edda,stroke:#28a745,color:#155724\n"
            "  classDef failed fill:#f8d7da,stroke:#dc3545,color:#721c24\n"
            "  classDef rolled_back fill:#fff3cd,stroke:#ffc107,color:#856404\n"
            "  classDef continued fill:#fff3cd,stroke:#fd7e14,color:#7a3d06\n"
            "  classDef skipped fill:#e2e3e5,stroke:#adb5bd,color:#6c757d\n"
            "  classDef running fill:#cce5ff,stroke:#007bff,color:#004085\n"
            "  classDef waiting fill:#e2d9f3,stroke:#6f42c1,color:#3d2373\n"
            "  classDef interrupted fill:#ffe5d0,stroke:#fd7e14,color:#7a3d06\n"
            "  classDef pending fill:#ffffff,stroke:#adb5bd,color:#6c757d\n";
    d_["flowchart"] = flow;
  }

  void Decisions() {
    json list = json::array();
    for (const auto& d : in_.decisions)
      list.push_back({{"step", d.step_id}, {"value", Prose(d.value)}, {"by", Prose(d.by)}, {"at", Utc(d.at)},
                      {"source", std::string(ToString(d.source)) +
                                     (d.overrode.empty() ? "" : ", overriding the rules' choice " + Prose(d.overrode))},
                      {"overrode", Prose(d.overrode)}, {"person", IsPerson(d.source)}});
    d_["decisions"] = list;
    d_["has_decisions"] = !list.empty();
  }

  const std::vector<const AttemptRecord*>& AttemptsOf(const std::string& step) const {
    static const std::vector<const AttemptRecord*> none;
    auto it = attempts_of_.find(step);
    return it == attempts_of_.end() ? none : it->second;
  }

  int FailedAttempts(const std::string& step) const {
    int n = 0;
    for (const auto* a : AttemptsOf(step)) n += a->kind == AttemptKind::kRun && a->status == AttemptStatus::kFailed;
    return n;
  }

  // A main step that failed under on_failure: continue: its failure was an
  // answer the runbook expected, not the run's failure.
  bool Continued(const StepRecord& s) const {
    const Step* def = Def(s.step_id);
    return s.status == StepStatus::kFailed && def && def->continue_on_failure;
  }

  // The failures of the run, the first (the one that stopped it) first: a
  // step that failed, even if a resume later ran it to success; a failure
  // the runbook allowed is none of them.
  std::vector<const StepRecord*> RunFailures() const {
    std::map<std::string, int64_t> first;  // step -> when it first failed
    for (const auto& e : in_.events)
      if (e.kind == "step.failed") first.try_emplace(e.step_id, e.at);
    std::vector<std::pair<int64_t, const StepRecord*>> found;
    for (const auto& s : in_.steps) {
      const Step* def = Def(s.step_id);
      if (def && def->continue_on_failure) continue;
      auto it = first.find(s.step_id);
      if (it != first.end()) found.push_back({it->second, &s});
      else if (FailedStep(s)) found.push_back({s.finished_at, &s});
    }
    std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<const StepRecord*> out;
    for (const auto& [at, s] : found) out.push_back(s);
    return out;
  }

  // The last attempt of a step's command that failed (else its last).
  const AttemptRecord* FailedAttempt(const std::string& step) const {
    const AttemptRecord* last = nullptr;
    for (const auto* a : AttemptsOf(step))
      if (a->kind == AttemptKind::kRun && (a->status == AttemptStatus::kFailed || !last)) last = a;
    return last;
  }

  void Failures() {
    json list = json::array();
    for (const StepRecord* f : RunFailures()) {
      const StepRecord& s = *f;
      const AttemptRecord* a = FailedAttempt(s.step_id);
      std::string out = a ? TailLines(a->err.empty() ? a->out : a->err, 20) : "";
      Reason reason = s.reason != Reason::kNone ? s.reason : a ? a->reason : Reason::kNone;
      std::optional<int> exit_code = s.reason != Reason::kNone ? s.exit_code : a ? a->exit_code : s.exit_code;
      json j = {{"step", s.step_id}, {"reason", ToString(reason)},
                {"exit_code", exit_code ? std::to_string(*exit_code) : ""},
                {"attempts", s.attempts}, {"has_output", !out.empty()}, {"output", Block(out)},
                {"command", a ? a->command : ""}};
      list.push_back(j);
    }
    d_["failures"] = list;
    d_["has_failures"] = !list.empty();
  }

  // The indexes of the rows of `rows` that `keep` keeps.
  template <class Row, class Keep>
  static std::vector<size_t> Rows(const std::vector<Row>& rows, Keep keep) {
    std::vector<size_t> out;
    for (size_t i = 0; i < rows.size(); ++i)
      if (keep(rows[i])) out.push_back(i);
    return out;
  }

  void Rollbacks() {
    auto rows = Rows(in_.attempts, [](const AttemptRecord& a) { return a.kind == AttemptKind::kRollback; });
    d_["has_rollbacks"] = !rows.empty();
    lazy_["rollbacks"] = {rows.size(), [this, rows](size_t i) -> json {
                            const AttemptRecord& a = in_.attempts[rows[i]];
                            std::string out = TailLines(a.err.empty() ? a.out : a.err, 10);
                            bool ok = a.status == AttemptStatus::kSucceeded;
                            return {{"step", a.step_id}, {"status", ToString(a.status)}, {"command", Cell(a.command)},
                                    {"duration", a.finished_at ? Dur(a.finished_at - a.started_at) : ""},
                                    {"failed", !ok}, {"has_output", !out.empty() && !ok}, {"output", Block(out)}};
                          }};
  }

  void Verifications() {
    auto rows = Rows(in_.attempts, [](const AttemptRecord& a) {
      return a.kind == AttemptKind::kVerify || a.kind == AttemptKind::kPreflight;
    });
    d_["has_verifications"] = !rows.empty();
    lazy_["verifications"] = {rows.size(), [this, rows](size_t i) -> json {
                                const AttemptRecord& a = in_.attempts[rows[i]];
                                return {{"step", a.step_id}, {"kind", ToString(a.kind)}, {"name", Prose(a.name)},
                                        {"status", ToString(a.status)}, {"at", Time(a.started_at)}};
                              }};
  }

  static json EventItem(const EventRecord& e) {
    return {{"at", Time(e.at)}, {"at_utc", Utc(e.at)}, {"kind", e.kind}, {"step", e.step_id},
            {"message", Prose(e.message)}, {"note", e.kind == "note"}};
  }

  void Timeline() {
    // A start is shown by its end (a check passed or failed), not twice.
    auto rows = Rows(in_.events, [](const EventRecord& e) {
      return e.kind != "step.running" && e.kind != "verify.running" && e.kind != "rollback.running" &&
             e.kind != "preflight.started";
    });
    lazy_["timeline"] = {rows.size(), [this, rows](size_t i) { return EventItem(in_.events[rows[i]]); }};
    json notes = json::array();
    for (const auto& e : in_.events)
      if (e.kind == "note") notes.push_back(EventItem(e));
    d_["notes"] = notes;
    d_["has_notes"] = !notes.empty();
    json told = json::array();  // escalations that fell due, and what the notifiers did
    for (const auto& e : in_.events)
      if (e.kind == "escalation.due" || e.kind == "notify.sent" || e.kind == "notify.failed") told.push_back(EventItem(e));
    d_["told"] = told;
    d_["has_told"] = !told.empty();
  }

  void Escalation() {
    json list = json::array();
    bool ok = in_.run.status == RunStatus::kSucceeded;
    for (const auto& e : rb_.escalation)
      list.push_back({{"contact", Prose(e.contact)}, {"when", ToString(e.when)},
                      {"after", e.after ? FormatDuration(*e.after) : ""}});
    d_["escalation"] = list;
    d_["show_escalation"] = !ok && !list.empty();
  }

  void Children() {
    json list = json::array();
    for (const auto& c : in_.children)
      list.push_back({{"id", c.id}, {"runbook", c.runbook}, {"status", ToString(c.status)}, {"step", c.parent_step}});
    d_["children"] = list;
    d_["has_children"] = !list.empty();
  }

  // What went well, what went wrong, and actions, drawn from the record.
  void Postmortem() {
    const RunRecord& r = in_.run;
    json well = json::array(), wrong = json::array(), actions = json::array();
    int retried = 0, succeeded = 0;
    for (const auto& s : in_.steps) {
      const Step* def = Def(s.step_id);
      if (s.status == StepStatus::kSucceeded) ++succeeded;
      int failed_attempts = FailedAttempts(s.step_id);  // an interrupted attempt is no retry
      if (failed_attempts > 0 && s.status == StepStatus::kSucceeded) {
        ++retried;
        wrong.push_back({{"text", "`" + s.step_id + "` needed " + std::to_string(failed_attempts + 1) +
                                      " attempts (" + std::to_string(failed_attempts) + " failed)"}});
        actions.push_back({{"action", "Find out why `" + s.step_id + "` needed retries and make it reliable"},
                           {"step", s.step_id}});
      }
      if (FailedStep(s) && !Continued(s)) {
        std::string reason = ToString(s.reason);
        wrong.push_back({{"text", "`" + s.step_id + "` failed (" + reason + ")"}});
        actions.push_back({{"action", s.reason == Reason::kTimeout
                                          ? "Review the timeout of `" + s.step_id + "` and what made it slow"
                                          : "Fix the cause of the `" + s.step_id + "` failure (" + reason + ")"},
                           {"step", s.step_id}});
      }
      if (def && def->estimate && s.started_at && s.finished_at &&
          s.finished_at - s.started_at > def->estimate->count()) {
        wrong.push_back({{"text", "`" + s.step_id + "` took " + Dur(s.finished_at - s.started_at) + " against an estimate of " +
                                      FormatDuration(*def->estimate)}});
        actions.push_back({{"action", "Update the estimate of `" + s.step_id + "` or speed it up"}, {"step", s.step_id}});
      }
    }
    // Long waits for a person: from `step.waiting` to the answer.
    std::map<std::string, int64_t> waiting_since;
    for (const auto& e : in_.events)
      if (e.kind == "step.waiting") waiting_since[e.step_id] = e.at;
    for (const auto& d : in_.decisions) {
      auto it = waiting_since.find(d.step_id);
      if (it != waiting_since.end() && d.at - it->second > 5 * 60000) {
        wrong.push_back({{"text", "`" + d.step_id + "` waited " + Dur(d.at - it->second) + " for a person"}});
        actions.push_back({{"action", "Shorten the wait for a person at `" + d.step_id +
                                          "` (pre-agreed answers, on-call paging)"}, {"step", d.step_id}});
      }
    }
    if (r.status != RunStatus::kSucceeded)
      wrong.push_back({{"text", "The run did not recover the service: it ended " + std::string(ToString(r.status))}});
    if (d_.contains("rto") && d_["rto"]["recovered"].get<bool>() && !d_["rto"]["met"].get<bool>()) {
      wrong.push_back({{"text", "Recovery took " + d_["rto"]["actual"].get<std::string>() + " against an RTO of " +
                                    d_["rto"]["target"].get<std::string>()}});
      actions.push_back({{"action", "Bring recovery time within the RTO of " + d_["rto"]["target"].get<std::string>()},
                         {"step", ""}});
    }
    if (d_.contains("rto") && d_["rto"]["met"].get<bool>())
      well.push_back({{"text", "Recovered in " + d_["rto"]["actual"].get<std::string>() + ", within the RTO of " +
                                   d_["rto"]["target"].get<std::string>()}});
    if (succeeded > 0)
      well.push_back({{"text", std::to_string(succeeded) + " step" + (succeeded == 1 ? "" : "s") +
                                   " ran as written, every transition recorded"}});
    if (r.status == RunStatus::kRolledBack) well.push_back({{"text", "Every rollback hook ran and passed"}});
    for (const auto& a : in_.attempts)
      if (a.kind == AttemptKind::kVerify && a.status == AttemptStatus::kSucceeded) {
        well.push_back({{"text", "Verifications confirmed the result before the run went on"}});
        break;
      }
    // Tables get a row to fill rather than an empty section (which would
    // leave a blank line and split the table).
    if (actions.empty()) actions.push_back({{"action", "_to be filled_"}, {"step", ""}});
    int n = 0;
    for (auto& a : actions) a["n"] = ++n;
    d_["went_well"] = well;
    d_["went_wrong"] = wrong;
    d_["action_items"] = actions;
    d_["has_action_items"] = !actions.empty();
    d_["has_went_wrong"] = !wrong.empty();
    // Root cause seed: the first failure.
    if (!d_["failures"].empty()) {
      const json& f = d_["failures"][0];
      d_["root_cause"] = {{"step", f["step"]}, {"reason", f["reason"]}, {"output", f["output"]},
                          {"has_output", f["has_output"]}, {"exit_code", f["exit_code"]}};
    }
    std::string summary = "Run " + r.id + " of runbook `" + r.runbook + "` (" + rb_.Title() + ") started " +
                          Utc(r.started_at) + " by " + r.user + "@" + r.host + " and ended **" + ToString(r.status) + "**" +
                          (r.finished_at ? " after " + Dur(r.finished_at - r.started_at) : "") + ".";
    if (!d_["failures"].empty())
      summary += " It was stopped by `" + d_["failures"][0]["step"].get<std::string>() + "` (" +
                 d_["failures"][0]["reason"].get<std::string>() + ").";
    d_["summary"] = summary;
    // Responders: who started the run and every person who answered it.
    std::vector<std::string> people = {r.user + "@" + r.host};
    for (const auto& d : in_.decisions)
      if (IsPerson(d.source) &&
          std::find(people.begin(), people.end(), d.by) == people.end())
        people.push_back(d.by);
    std::string responders;
    for (const auto& p : people) responders += (responders.empty() ? "" : ", ") + p;
    d_["responders"] = Prose(responders);
    d_["report_path"] = in_.report_path;
    std::string first = Utc(r.started_at);
    d_["detection"] = "The runbook was started at " + first + " by " + r.user + "@" + r.host + ".";
  }

  // A step's definition by id (steps or finally), or nullptr.
  const Step* Def(const std::string& id) const {
    auto it = defs_.find(id);
    return it == defs_.end() ? nullptr : it->second;
  }

  const ReportInput& in_;
  const Runbook& rb_;
  std::unordered_map<std::string, const Step*> defs_;
  std::unordered_map<std::string, std::vector<const AttemptRecord*>> attempts_of_;
  json d_;
  std::map<std::string, LazyList> lazy_;
};

kainjow::mustache::data ToMustache(const json& j) {
  using kainjow::mustache::data;
  switch (j.type()) {
    case json::value_t::object: {
      data d(data::type::object);
      for (auto& [k, v] : j.items()) d.set(k, ToMustache(v));
      return d;
    }
    case json::value_t::array: {
      data d(data::type::list);
      for (const auto& v : j) d.push_back(ToMustache(v));
      return d;
    }
    case json::value_t::boolean: return data(j.get<bool>() ? data::type::bool_true : data::type::bool_false);
    case json::value_t::string: {
      std::string s = j.get<std::string>();
      return s.empty() ? data(data::type::bool_false) : data(s);  // "" is falsy in sections
    }
    case json::value_t::null: return data(data::type::bool_false);
    default: return data(j.dump());
  }
}

// Sections that render empty leave blank lines; keep at most one blank line
// between blocks (outside code fences, whose text is kept as it is), and end
// with a newline.
std::string Tidy(const std::string& text) {
  std::string out;
  std::string fence;
  int blanks = 0;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() : nl + 1;
    std::string trimmed = line.substr(0, line.find_last_not_of(" \t") + 1);
    if (fence.empty() && trimmed.rfind("```", 0) == 0) {
      fence = trimmed.substr(0, trimmed.find_first_not_of('`'));
    } else if (!fence.empty() && trimmed == fence) {
      fence.clear();
    } else if (fence.empty() && trimmed.empty()) {
      if (++blanks > 1 || out.empty()) continue;
      out += "\n";
      continue;
    }
    blanks = 0;
    out += line + "\n";
  }
  while (out.size() > 1 && out[out.size() - 1] == '\n' && out[out.size() - 2] == '\n') out.pop_back();
  return out;
}

// Mustache's context stack, which makes a lazy list's item when the
// template enters it and drops it when it leaves: a lazy list is given to
// the template as placeholders, and entering placeholder i pushes item i.
// Lookups are Mustache's own: the innermost context first, `a.b` paths,
// `.` for the current item.
class LazyContext : public kainjow::mustache::basic_context<std::string> {
 public:
  using Data = kainjow::mustache::data;
  explicit LazyContext(const Data* root) { push(root); }

  void Add(const Data* placeholders, const LazyList* list) { lists_.push_back({placeholders, list}); }

  void push(const Data* d) override {
    for (const auto& [placeholders, list] : lists_) {
      const auto& items = placeholders->list_value();
      if (!items.empty() && d >= &items.front() && d <= &items.back()) {
        made_.push_back(std::make_unique<Data>(ToMustache(list->item(static_cast<size_t>(d - &items.front())))));
        stack_.push_back({made_.back().get(), true});
        return;
      }
    }
    stack_.push_back({d, false});
  }

  void pop() override {
    if (stack_.back().made) made_.pop_back();
    stack_.pop_back();
  }

  const Data* get(const std::string& name) const override {
    if (name == ".") return stack_.back().data;
    std::vector<std::string> path;
    std::stringstream in(name);
    for (std::string part; std::getline(in, part, '.');) path.push_back(part);
    for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
      const Data* d = it->data;
      for (const auto& part : path)
        if (!(d = d->get(part))) break;
      if (d) return d;
    }
    return nullptr;
  }

  const Data* get_partial(const std::string& name) const override {
    for (auto it = stack_.rbegin(); it != stack_.rend(); ++it)
      if (const Data* d = it->data->get(name)) return d;
    return nullptr;
  }

 private:
  struct Entry {
    const Data* data;
    bool made;  // an item this context made, owned by made_
  };
  std::vector<Entry> stack_;
  std::vector<std::unique_ptr<Data>> made_;
  std::vector<std::pair<const Data*, const LazyList*>> lists_;
};

}  // namespace

std::string ReportDataJson(const ReportInput& input) {
  DataBuilder builder(input);
  return builder.Build().Materialized().dump(2);
}

Result<std::string> RenderReport(ReportKind kind, const ReportInput& input, const std::optional<std::string>& text) {
  std::string tmpl_text;
  if (text) {
    tmpl_text = *text;
  } else {
    auto builtin = embedded::Find(embedded::kTemplates,
                                  kind == ReportKind::kReport ? "report.md.mustache" : "postmortem.md.mustache");
    tmpl_text = std::string(*builtin);
  }
  kainjow::mustache::mustache tmpl(tmpl_text);
  if (!tmpl.is_valid()) return Status::Invalid("template: " + tmpl.error_message());
  // Markdown, not HTML: values are placed as they are (table cells are made
  // safe when the data is built).
  tmpl.set_custom_escape([](const std::string& s) { return s; });
  DataBuilder builder(input);
  ReportData report = builder.Build();
  using Data = kainjow::mustache::data;
  Data root = ToMustache(report.root);
  for (const auto& [name, list] : report.lazy) {
    // A placeholder per row; an empty list is falsy, as a list of rows would be.
    Data placeholders(Data::type::list);
    for (size_t i = 0; i < list.size; ++i) placeholders.push_back(Data(Data::type::bool_true));
    root.set(name, list.size ? placeholders : Data(Data::type::bool_false));
  }
  LazyContext context(&root);
  for (const auto& [name, list] : report.lazy)
    if (const Data* placed = root.get(name); placed && placed->is_list()) context.Add(placed, &list);
  std::ostringstream out;
  tmpl.render(context, out);
  if (!tmpl.is_valid()) return Status::Invalid("template: " + tmpl.error_message());
  return Tidy(out.str());
}

Result<LoadedReport> LoadReport(StateStore& store, const std::string& id, const Runbook* known) {
  auto run = store.GetRun(id);
  if (!run.ok()) return run.status();
  LoadedReport l;
  if (known && known->source.text() == run->source) {
    l.input.runbook = known;
  } else {
    Diagnostics diags;
    l.parsed = std::make_unique<Runbook>(ParseRunbook(SourceFile(run->path, run->source), &diags));
    l.input.runbook = l.parsed.get();
  }
  l.input.run = *run;
  auto steps = store.GetSteps(id);
  auto attempts = store.GetAttempts(id);
  auto decisions = store.GetDecisions(id);
  auto events = store.GetEvents(id);
  if (!steps.ok()) return steps.status();
  if (!attempts.ok()) return attempts.status();
  if (!decisions.ok()) return decisions.status();
  if (!events.ok()) return events.status();
  l.input.steps = *steps;
  l.input.attempts = *attempts;
  l.input.decisions = *decisions;
  l.input.events = *events;
  auto all = store.ListRuns({"", std::nullopt, false});
  if (all.ok())
    for (const auto& r : *all)
      if (r.parent_run == id) l.input.children.push_back(r);
  l.input.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  return l;
}

namespace {

// What a template sees of a recorded run (see RenderFromRecord).
class RecordFacts : public EvalContext {
 public:
  explicit RecordFacts(const ReportInput& in) : in_(in) {}
  std::optional<Value> Input(const std::string& name) const override {
    auto it = in_.run.inputs.find(name);
    if (it == in_.run.inputs.end()) return Value::Null();
    return in_.runbook ? InputValue(*in_.runbook, name, it->second) : Value::String(it->second);
  }
  std::optional<std::string> Env(const std::string&) const override { return std::nullopt; }
  std::string RunField(const std::string& field) const override {
    return field == "id" ? in_.run.id : ToString(in_.run.status);
  }
  std::optional<StepFacts> Step(const std::string& id) const override {
    for (const auto& r : in_.steps)
      if (r.step_id == id) return StepFacts{r.status, r.exit_code, r.outputs, r.masked_outputs};
    if (in_.runbook && in_.runbook->FindStep(id)) return StepFacts{};
    return std::nullopt;
  }

 private:
  const ReportInput& in_;
};

}  // namespace

std::string RenderFromRecord(const Template& t, const ReportInput& in) {
  // The engine's environment is not in the record: such text stays as written
  // rather than be shown with an empty value the terminal never showed.
  if (t.raw.empty() || t.raw.find("env.") != std::string::npos) return t.raw;
  RecordFacts facts(in);
  RenderResult r = RenderText(t, facts);
  return r.ok() ? r.text : t.raw;
}

std::string StepName(const Step& s, const ReportInput& in) {
  return s.name.raw.empty() ? s.id : RenderFromRecord(s.name, in);
}

}  // namespace runbook
