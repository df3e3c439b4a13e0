// What expressions and templates see of a run (SPEC 4, 5): its inputs, the
// environment, `run.id` and `run.status`, and each step's status, exit code
// and outputs, read from the plans that own the steps' records. Outputs
// that held a secret are recorded masked; the engine that produced them
// keeps their clear values here for its own later steps (a resumed engine
// has none: a reference to one fails, SPEC 6).
#pragma once

#include <map>
#include <string>

#include "engine/eval.h"
#include "engine/executor.h"
#include "engine/plan.h"

namespace runbook {

// An input's recorded text as the value expressions see: a number or a
// boolean where the runbook declares that type, else a string.
Value InputValue(const Runbook& rb, const std::string& name, const std::string& text);

class RunFacts : public EvalContext {
 public:
  // All referred to, not copied: they are the executor's.
  RunFacts(const Runbook& rb, const ExecOptions& o, const std::map<std::string, std::string>& run_env,
           const RunRecord& run, const Plan& steps, const Plan& finally)
      : rb_(rb), o_(o), run_env_(run_env), run_(run), steps_(steps), finally_(finally) {}

  std::optional<Value> Input(const std::string& name) const override;
  std::optional<std::string> Env(const std::string& name) const override;
  std::string RunField(const std::string& field) const override;  // in finally, status is what the run came to
  std::optional<StepFacts> Step(const std::string& id) const override;

  void KeepClear(const std::string& step, const std::string& output, const std::string& value) {
    clear_[step][output] = value;
  }
  void ForgetClear(const std::string& step) { clear_.erase(step); }

 private:
  const Runbook& rb_;
  const ExecOptions& o_;
  const std::map<std::string, std::string>& run_env_;
  const RunRecord& run_;
  const Plan& steps_;
  const Plan& finally_;
  std::map<std::string, std::map<std::string, std::string>> clear_;  // step -> output -> clear value
};

}  // namespace runbook
