#include "engine/executor_impl.h"

namespace runbook {

// ---- people -------------------------------------------------------------------

// Resolves a manual step or decision now if it can: from an --answer, by its
// automatic choices, or (may_ask) from the person at the terminal. Otherwise
// it becomes `waiting`. Returns whether it was resolved.
bool Executor::Impl::PersonStep(int v, bool may_ask) {
  const auto& s = S(v);
  if (held_for_person_.count(s.id)) {
    std::optional<std::string> a;
    if (may_ask && asker_->available()) {
      Flush();  // nothing waits unwritten while a person thinks
      a = asker_->Ask(s.id, "Step '" + s.id + "' is not idempotent and was running when the engine stopped. "
                      "Run it again (rerun), or did it complete (done)?", {}, {"rerun", "done"});
    }
    if (!a) return false;
    held_for_person_.erase(s.id);
    DecisionRecord d{o_.run_id, s.id, *a, AnswerSource::kTty, o_.user + "@" + o_.host, Wall(), ""};
    if (!Commit(Batch().Add(d).Add(Ev("decision", s.id, *a + " (tty, " + d.by + ")")))) return true;
    if (*a == "done") {
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
  auto answer = o_.answers.find(s.id);
  if (answer != o_.answers.end()) {
    ResolvePerson(v, answer->second, AnswerSource::kAnswer);
    return true;
  }
  if (may_ask && asker_->available()) {
    auto text = RenderText(s.manual, facts_);
    Flush();  // nothing waits unwritten while a person thinks
    auto a = asker_->Ask(s.id, text.ok() ? text.text : s.manual.raw, s.checklist, {"done", "skip", "fail"});
    if (a) {
      ResolvePerson(v, *a, AnswerSource::kTty);
      return true;
    }
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
    if (!Commit(Batch().Add(r).Add(Ev("step.waiting", s.id, "waiting for a person")))) return;
    Report(ReportEvent::Of("step.waiting", s.id, "", NameOf(s)));
  }
}

// SPEC 3: a person's answer given for the decision always wins over its
// rules (recorded as overriding what they chose); else the first rule that
// holds; else a person, if there is a prompt; else the default.
void Executor::Impl::Decide(int v, bool may_ask) {
  const auto& s = S(v);
  const Decision& d = s.decision;
  RuleChoice rules = ChooseByRules(d, facts_);
  auto answer = o_.answers.find(s.id);
  if (answer != o_.answers.end()) {
    std::string overrode = rules.value && *rules.value != answer->second ? *rules.value : "";
    return ResolvePerson(v, answer->second, AnswerSource::kAnswer, overrode);
  }
  if (rules.error) return Fail(v, Reason::kError, *rules.error);
  std::optional<std::string> value = rules.value;
  AnswerSource source = AnswerSource::kAuto;
  if (!value && d.prompt) {
    std::vector<std::string> values;
    for (const auto& c : d.choices) values.push_back(c.value);
    if (may_ask && asker_->available()) {
      auto text = RenderText(*d.prompt, facts_);
      Flush();  // nothing waits unwritten while a person thinks
      value = asker_->Ask(s.id, text.ok() ? text.text : d.prompt->raw, {}, values);
      source = AnswerSource::kTty;
    }
    if (!value) {
      MarkWaiting(v);
      return;
    }
  } else if (!value && d.default_choice) {
    value = d.default_choice->value;
    source = AnswerSource::kDefault;
  }
  if (!value) {
    Fail(v, Reason::kError, "no choice applies and there is no prompt or default");
    return;
  }
  ResolvePerson(v, *value, source);
}

void Executor::Impl::ResolvePerson(int v, const std::string& value, AnswerSource source,
                                   const std::string& overrode) {
  const auto& s = S(v);
  // An answer a person gave on the web page comes through resume's --answer,
  // with who gave it (--answered-by): recorded as theirs, from the web.
  if (source == AnswerSource::kAnswer && !o_.answered_by.empty()) source = AnswerSource::kWeb;
  bool person = source == AnswerSource::kAnswer || source == AnswerSource::kTty || source == AnswerSource::kWeb;
  std::string by = source == AnswerSource::kWeb ? o_.answered_by : person ? o_.user + "@" + o_.host : "runbook";
  DecisionRecord d{o_.run_id, s.id, value, source, by, Wall(), overrode};
  StepRecord& r = Rec(v);
  if (!r.started_at) r.started_at = d.at;
  r.attempts = 1;
  std::string said = value + " (" + ToString(source) + ", " + d.by +
                     (overrode.empty() ? "" : ", overriding the rules' choice " + overrode) + ")";
  if (!Commit(Batch().Add(d).Add(Ev("decision", s.id, said)))) return;
  ReportEvent e = ReportEvent::Of("decision", s.id, "", value);
  e.reason = o_.dry_run && source == AnswerSource::kTty ? "as a dry run supposes" : ToString(source);
  if (!overrode.empty()) e.data = overrode;  // what the rules had chosen
  Report(e);
  if (s.kind == StepKind::kDecision) {
    plan_->Choose(v, value);
    Succeed(v, {{"choice", value}});
  } else if (value == "done") {
    Succeed(v);
  } else if (value == "skip") {
    Skip(v, false, "skipped by " + d.by);
  } else {
    Fail(v, Reason::kAnswer, "a person answered fail");
  }
}

}  // namespace runbook
