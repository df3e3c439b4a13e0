#include <nlohmann/json.hpp>

#include "engine/executor_impl.h"
#include "engine/timefmt.h"

namespace runbook {

// ---- telling the team (notify:, escalation after:) -------------------------------
//
// A notifier is a process of the same runner as the steps (its own process
// group, killed with the engine), but not a task of any phase: it never
// holds a phase open, and its end is recorded in the timeline, never in a
// step. A failing notifier fails nothing.

namespace {
constexpr int64_t kNotifyTimeoutMs = 30'000;
constexpr size_t kTail = 500;  // of a failing notifier's stderr, in the timeline

std::string Tail(const std::string& s) { return s.size() <= kTail ? s : "..." + s.substr(s.size() - kTail); }
}  // namespace

void Executor::Impl::Notify(const std::string& event, const std::string& step, const std::string& message,
                            const std::string& contact) {
  if (o_.dry_run || broken_) return;
  for (size_t i = 0; i < rb_.notify.size(); ++i) {
    const runbook::Notify& n = rb_.notify[i];
    if (!n.Wants(event)) continue;
    std::map<std::string, std::string> fields = {
        {"KIND", event},          {"RUN", o_.run_id},          {"RUNBOOK", rb_.name},
        {"TITLE", rb_.title},     {"SEVERITY", rb_.severity},  {"STATUS", ToString(run_.status)},
        {"STEP", step},           {"MESSAGE", masker_.Mask(message)}, {"CONTACT", contact},
        {"HOST", o_.host},        {"USER", o_.user},           {"AT", Rfc3339(Wall())}};
    nlohmann::json j;
    for (const auto& [k, v] : fields) {
      std::string key = k;
      std::transform(key.begin(), key.end(), key.begin(), ::tolower);
      j[key == "kind" ? "event" : key] = v;
    }
    // The event goes to stdin through a file only this engine's user can read.
    std::string file = commands_.OutputFile("notify", std::to_string(i), ++notices_started_);
    {
      std::ofstream out(file, std::ios::trunc);
      out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    RenderResult script;
    script.text = script.shown = n.run;
    std::string env_error;
    ProcessSpec spec = commands_.ForScript(nullptr, script, 0, "", facts_, &env_error);
    for (const auto& [k, v] : fields) spec.env["RUNBOOK_EVENT_" + k] = v;
    spec.stdin_file = file;
    spec.output_limit = 64 << 10;
    std::string what = "notify #" + std::to_string(i + 1) + " (" + event + ")";
    auto h = env_error.empty() ? runner_->Start(spec) : Result<int>(Status::Invalid(env_error));
    if (!h.ok()) {
      std::filesystem::remove(file);
      Defer(Batch().Add(Ev("notify.failed", step, what + " did not start: " + masker_.Mask(h.status().message()))));
      continue;
    }
    Notice& notice = notices_[*h];
    notice.what = what;
    notice.step = step;
    notice.file = file;
    notice.timeout_at = clock_->Now() + (n.timeout ? n.timeout->count() : kNotifyTimeoutMs);
  }
}

bool Executor::Impl::OnNotice(const RunnerEvent& e) {
  auto it = notices_.find(e.handle);
  if (it == notices_.end()) return false;
  if (e.kind != RunnerEvent::Kind::kExit) return true;  // its output: only the tail at its end matters
  Notice n = std::move(it->second);
  notices_.erase(it);
  std::filesystem::remove(n.file);
  if (e.exit_code == 0 && !n.timed_out) {
    Defer(Batch().Add(Ev("notify.sent", n.step, n.what + " sent")));
    return true;
  }
  std::string why = n.timed_out ? "timed out" : "exited " + std::to_string(e.exit_code);
  std::string err = masker_.Mask(Tail(e.err));
  Defer(Batch().Add(Ev("notify.failed", n.step, n.what + " " + why + (err.empty() ? "" : ": " + err))));
  Report(ReportEvent::Of("notify.failed", n.step, "failed", n.what + " " + why));
  return true;
}

void Executor::Impl::NoticeTimers(int64_t now) {
  for (auto& [h, n] : notices_) {
    if (n.kill_at && now >= *n.kill_at) {
      runner_->Kill(h);
      n.kill_at.reset();
    }
    if (!n.timed_out && now >= n.timeout_at) {
      n.timed_out = true;
      runner_->Terminate(h);
      n.kill_at = now + 1000;
    }
  }
}

std::optional<int64_t> Executor::Impl::NoticeDeadline() const {
  std::optional<int64_t> d;
  for (const auto& [h, n] : notices_) {
    int64_t x = n.kill_at ? *n.kill_at : n.timeout_at;
    if (!d || x < *d) d = x;
  }
  return d;
}

// The run is over: its last notifications get their time (each its
// timeout), and what became of them is recorded. Nothing outlives the engine.
void Executor::Impl::DrainNotices() {
  while (!notices_.empty()) {
    if (o_.interrupt && *o_.interrupt > 1)  // asked twice to stop: now
      for (auto& [h, n] : notices_) runner_->Kill(h);
    for (auto& e : runner_->Wait(NoticeDeadline())) OnNotice(e);
    NoticeTimers(clock_->Now());
  }
  (void)Flush();
}

// Escalations with `after:` fire once each, while the run goes on: `waiting`
// when a step has waited that long for a person, `timeout` and `always` when
// the run has been going that long. Recorded before anyone is told.
void Executor::Impl::Escalate() {
  if (o_.dry_run || broken_ || done_) return;
  int64_t wall = Wall();
  for (size_t i = 0; i < rb_.escalation.size(); ++i) {
    const Escalation& esc = rb_.escalation[i];
    if (!esc.after || escalated_.count(esc.contact)) continue;
    std::string step, why;
    if (esc.when == Escalation::When::kWaiting) {
      if (!waiting_steps_) continue;
      for (int v : plan_->InState(StepStatus::kWaiting)) {
        const StepRecord& r = plan_->record(v);
        if (r.started_at && wall - r.started_at >= esc.after->count()) {
          step = S(v).id;
          why = "step " + step + " has waited for a person for " + FormatDuration(*esc.after);
          break;
        }
      }
      if (step.empty()) continue;
    } else if (esc.when == Escalation::When::kTimeout || esc.when == Escalation::When::kAlways) {
      if (wall - run_.started_at < esc.after->count()) continue;
      why = "the run has gone on for " + FormatDuration(*esc.after);
    } else {
      continue;  // failure: said when the run fails
    }
    escalated_.insert(esc.contact);
    std::string message = EscalationMessage(esc.contact, why);
    if (!Commit(Batch().Add(Ev("escalation.due", step, message)))) return;
    Report(ReportEvent::Of("escalation", step, "", message));
    Notify("escalation", step, message, esc.contact);
  }
}

// `when: timeout` without `after:` falls due the moment a step fails by its
// timeout or the run's timeout expires: recorded (with whatever the loop
// deferred), then shown and told, once per contact.
void Executor::Impl::EscalateTimeout(const std::string& step, const std::string& why) {
  timeout_seen_ = true;
  if (o_.dry_run || broken_) return;
  for (const Escalation& esc : rb_.escalation) {
    if (esc.after || esc.when != Escalation::When::kTimeout || escalated_.count(esc.contact)) continue;
    escalated_.insert(esc.contact);
    std::string message = EscalationMessage(esc.contact, why);
    if (!Commit(Batch().Add(Ev("escalation.due", step, message)))) return;
    Report(ReportEvent::Of("escalation", step, "", message));
    Notify("escalation", step, message, esc.contact);
  }
}

std::string Executor::Impl::EscalationMessage(const std::string& contact, const std::string& why) {
  return "escalate to " + contact + ": " + why;
}

// The soonest an escalation can fall due (the waiting ones: looked at with
// the inbox, four times a second, while something waits).
std::optional<int64_t> Executor::Impl::EscalationDeadline() const {
  std::optional<int64_t> d;
  for (const auto& esc : rb_.escalation) {
    if (!esc.after || escalated_.count(esc.contact)) continue;
    if (esc.when == Escalation::When::kTimeout || esc.when == Escalation::When::kAlways) {
      int64_t at = clock_->Now() + (run_.started_at + esc.after->count() - clock_->WallMs());
      if (!d || at < *d) d = at;
    }
  }
  return d;
}

// Those that fired before this engine (a resume): once means once per run.
void Executor::Impl::LoadEscalated() {
  if (rb_.escalation.empty() || !o_.resume) return;
  auto events = store_->GetEvents(o_.run_id);
  if (!events.ok()) return;
  for (const auto& e : *events)
    if (e.kind == "escalation.due")
      for (const auto& esc : rb_.escalation)
        if (e.message.rfind(EscalationMessage(esc.contact, ""), 0) == 0) escalated_.insert(esc.contact);
}

}  // namespace runbook
