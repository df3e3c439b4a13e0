#include "engine/model.h"

namespace runbook {

const char* ToString(StepKind k) {
  switch (k) {
    case StepKind::kRun: return "run";
    case StepKind::kManual: return "manual";
    case StepKind::kDecision: return "decision";
    case StepKind::kWait: return "wait";
    case StepKind::kRunbook: return "runbook";
  }
  return "?";
}

const char* ToString(InputDecl::Type t) {
  switch (t) {
    case InputDecl::Type::kString: return "string";
    case InputDecl::Type::kNumber: return "number";
    case InputDecl::Type::kBoolean: return "boolean";
  }
  return "?";
}

const char* ToString(Escalation::When w) {
  switch (w) {
    case Escalation::When::kFailure: return "failure";
    case Escalation::When::kWaiting: return "waiting";
    case Escalation::When::kTimeout: return "timeout";
    case Escalation::When::kAlways: return "always";
  }
  return "?";
}

const Step* Runbook::FindStep(const std::string& id) const {
  for (const auto* list : {&steps, &finally})
    for (const auto& s : *list)
      if (s.id == id) return &s;
  return nullptr;
}

const InputDecl* Runbook::SecretRead(const Ref& r) const {
  if (r.scope == Ref::Scope::kInputs) {
    const InputDecl* in = FindInput(r.field);
    return in && in->secret ? in : nullptr;
  }
  if (r.scope == Ref::Scope::kEnv)
    for (const auto& in : inputs)
      if (in.secret && !in.from_env.empty() && in.from_env == r.field) return &in;
  return nullptr;
}

const InputDecl* Runbook::FindInput(const std::string& n) const {
  for (const auto& i : inputs)
    if (i.name == n) return &i;
  return nullptr;
}

}  // namespace runbook
