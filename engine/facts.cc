#include "engine/facts.h"

#include <algorithm>
#include <cstdlib>

namespace runbook {

Value InputValue(const Runbook& rb, const std::string& name, const std::string& text) {
  const InputDecl* d = rb.FindInput(name);
  if (d && d->type == InputDecl::Type::kNumber) return Value::Number(std::strtod(text.c_str(), nullptr));
  if (d && d->type == InputDecl::Type::kBoolean) return Value::Bool(text == "true");
  return Value::String(text);
}

std::optional<Value> RunFacts::Input(const std::string& name) const {
  auto it = o_.inputs.find(name);
  if (it == o_.inputs.end()) return Value::Null();
  return InputValue(rb_, name, it->second);
}

std::optional<std::string> RunFacts::Env(const std::string& name) const {
  auto it = run_env_.find(name);
  if (it != run_env_.end()) return it->second;
  auto b = o_.base_env.find(name);
  if (b != o_.base_env.end()) return b->second;
  return std::nullopt;
}

std::string RunFacts::RunField(const std::string& field) const {
  if (field == "id") return o_.run_id;
  return ToString(run_.phase == RunPhase::kFinally ? run_.outcome : run_.status);
}

std::optional<StepFacts> RunFacts::Step(const std::string& id) const {
  for (const Plan* p : {&steps_, &finally_}) {
    auto v = p->graph().Index(id);
    if (!v) continue;
    const StepRecord& r = p->record(*v);
    StepFacts f{r.status, r.exit_code, r.outputs, r.masked_outputs};
    auto clear = clear_.find(id);
    if (clear != clear_.end())
      for (const auto& [name, value] : clear->second) {
        f.outputs[name] = value;
        f.masked_outputs.erase(std::remove(f.masked_outputs.begin(), f.masked_outputs.end(), name),
                               f.masked_outputs.end());
      }
    return f;
  }
  return std::nullopt;
}

}  // namespace runbook
