#include "engine/executor_impl.h"

namespace runbook {

// ---- people -------------------------------------------------------------------

// An answer to step `v` waiting in the run's inbox (given on the web page),
// if it is one of `choices`. A store that cannot be read now is read again
// at the next look: the step just goes on waiting.
std::optional<Executor::Impl::Answered> Executor::Impl::FromInbox(int v, const std::vector<std::string>& choices) {
  if (o_.dry_run) return std::nullopt;
  auto pending = store_->PendingAnswers(o_.run_id);
  if (!pending.ok()) return std::nullopt;
  for (const auto& a : *pending)
    if (a.step_id == S(v).id && std::find(choices.begin(), choices.end(), a.value) != choices.end())
      return Answered{a.value, AnswerSource::kWeb, a.by};
  return std::nullopt;
}

// A person's answer to step `v`: one from the inbox, else (may_ask) the
// person at the terminal's -- unless one reaches the inbox while they think.
std::optional<Executor::Impl::Answered> Executor::Impl::AskPerson(int v, bool may_ask, const std::string& text,
                                                                  const std::vector<std::string>& checklist,
                                                                  const std::vector<std::string>& choices) {
  if (auto web = FromInbox(v, choices)) return web;
  if (!may_ask || !asker_->available()) return std::nullopt;
  Flush();  // nothing waits unwritten while a person thinks
  std::optional<Answered> web;
  auto typed = asker_->Ask(S(v).id, text, checklist, choices, [&] {
    // While the person thinks: notifiers end, escalations fall due, the web may answer.
    for (auto& e : runner_->Wait(clock_->Now())) OnNotice(e);
    NoticeTimers(clock_->Now());
    Escalate();
    Flush();
    web = FromInbox(v, choices);
    return web.has_value();
  });
  if (web) return web;
  if (typed) return Answered{*typed, AnswerSource::kTty, o_.user + "@" + o_.host};
  return std::nullopt;
}

// Resolves a manual step or decision now if it can: from an --answer, by its
// automatic choices, from the inbox, or (may_ask) from the person at the
// terminal. Otherwise it becomes `waiting`. Returns whether it was resolved.
bool Executor::Impl::PersonStep(int v, bool may_ask) {
  const auto& s = S(v);
  if (held_for_person_.count(s.id)) {
    auto a = AskPerson(v, may_ask,
                       "Step '" + s.id + "' is not idempotent and was running when the engine stopped. "
                       "Run it again (rerun), or did it complete (done)?", {}, {"rerun", "done"});
    if (!a) {
      MarkWaiting(v);
      return false;
    }
    held_for_person_.erase(s.id);
    DecisionRecord d{o_.run_id, s.id, a->value, a->source, a->by, Wall(), ""};
    if (!Commit(Batch().Add(d).Add(Ev("decision", s.id, a->value + " (" + ToString(a->source) + ", " + d.by + ")"))))
      return true;
    if (a->value == "done") {
      Succeed(v);
    } else if (Move(v, StepStatus::kRunning)) {
      StartStep(v);
    }
    return true;
  }
  if (s.kind == StepKind::kDecision) {
    Decide(v, may_ask);
    return plan_->state(v) != StepStatus::kWaiting;
  }
  auto given = o_.answers.find(s.id);
  if (given != o_.answers.end()) {
    ResolvePerson(v, {given->second, AnswerSource::kAnswer, o_.user + "@" + o_.host});
    return true;
  }
  auto text = RenderText(s.manual, facts_);
  if (auto a = AskPerson(v, may_ask, text.ok() ? text.text : s.manual.raw, s.checklist, {"done", "skip", "fail"})) {
    ResolvePerson(v, *a);
    return true;
  }
  MarkWaiting(v);
  return false;
}

void Executor::Impl::MarkWaiting(int v) {
  const auto& s = S(v);
  if (plan_->state(v) != StepStatus::kWaiting) {
    if (!Move(v, StepStatus::kWaiting)) return;
    StepRecord& r = Rec(v);
    if (!r.started_at) r.started_at = Wall();
    waiting_steps_ = true;
    if (!Commit(Batch().Add(r).Add(Ev("step.waiting", s.id, "waiting for a person")))) return;
    Report(ReportEvent::Of("step.waiting", s.id, "", NameOf(s)));
    Notify("waiting", s.id, "step " + s.id + " waits for a person: " + NameOf(s));
  }
}

// While other work runs, a step that waits may be answered on the web page:
// the loop looks in the inbox about every quarter second.
void Executor::Impl::TakeAnswers(int64_t now) {
  if (stopping_ || broken_ || now < next_inbox_) return;
  next_inbox_ = now + kInboxPollMs;
  auto waiting = plan_->InState(StepStatus::kWaiting);
  waiting_steps_ = !waiting.empty();
  for (int v : waiting) PersonStep(v, false);
}

// SPEC 3: a person's answer given for the decision always wins over its
// rules (recorded as overriding what they chose); else the first rule that
// holds; else a person, if there is a prompt; else the default.
void Executor::Impl::Decide(int v, bool may_ask) {
  const auto& s = S(v);
  const Decision& d = s.decision;
  RuleChoice rules = ChooseByRules(d, facts_);
  auto given = o_.answers.find(s.id);
  if (given != o_.answers.end()) {
    std::string overrode = rules.value && *rules.value != given->second ? *rules.value : "";
    return ResolvePerson(v, {given->second, AnswerSource::kAnswer, o_.user + "@" + o_.host}, overrode);
  }
  if (rules.error) return Fail(v, Reason::kError, *rules.error);
  if (rules.value) return ResolvePerson(v, {*rules.value, AnswerSource::kAuto, "runbook"});
  if (d.prompt) {
    std::vector<std::string> values;
    for (const auto& c : d.choices) values.push_back(c.value);
    auto text = RenderText(*d.prompt, facts_);
    if (auto a = AskPerson(v, may_ask, text.ok() ? text.text : d.prompt->raw, {}, values))
      return ResolvePerson(v, *a);
    return MarkWaiting(v);
  }
  if (d.default_choice) return ResolvePerson(v, {d.default_choice->value, AnswerSource::kDefault, "runbook"});
  Fail(v, Reason::kError, "no choice applies and there is no prompt or default");
}

void Executor::Impl::ResolvePerson(int v, const Answered& a, const std::string& overrode) {
  const auto& s = S(v);
  DecisionRecord d{o_.run_id, s.id, a.value, a.source, a.by, Wall(), overrode};
  StepRecord& r = Rec(v);
  if (!r.started_at) r.started_at = d.at;
  r.attempts = 1;
  std::string said = a.value + " (" + ToString(a.source) + ", " + d.by +
                     (overrode.empty() ? "" : ", overriding the rules' choice " + overrode) + ")";
  // The decision's commit also takes the inbox's answers for the step.
  if (!Commit(Batch().Add(d).Add(Ev("decision", s.id, said)))) return;
  ReportEvent e = ReportEvent::Of("decision", s.id, "", a.value);
  e.reason = o_.dry_run && a.source == AnswerSource::kTty ? "as a dry run supposes" : ToString(a.source);
  if (a.source == AnswerSource::kWeb) e.reason += ", " + a.by;
  if (!overrode.empty()) e.data = overrode;  // what the rules had chosen
  Report(e);
  if (s.kind == StepKind::kDecision) {
    plan_->Choose(v, a.value);
    Succeed(v, {{"choice", a.value}});
  } else if (a.value == "done") {
    Succeed(v);
  } else if (a.value == "skip") {
    Skip(v, false, "skipped by " + d.by);
  } else {
    Fail(v, Reason::kAnswer, "a person answered fail");
  }
}

}  // namespace runbook
