// Evaluating expressions (SPEC section 5) and rendering templates (section 4).
//
// Pure: every value comes from an EvalContext the executor implements over
// its run state. An evaluation error (an output the step did not produce, a
// value int() cannot convert, a bad regex) is returned, never thrown; the
// executor fails the referring step with reason `error`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/expr.h"
#include "engine/lifecycle.h"
#include "engine/model.h"
#include "engine/template.h"

namespace runbook {

struct Value {
  enum class Kind { kNull, kBool, kNumber, kString, kList };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;
  std::vector<Value> items;

  static Value Null() { return {}; }
  static Value Bool(bool b);
  static Value Number(double n);
  static Value String(std::string s);

  bool Truthy() const;
  // As a template prints it: numbers without a trailing ".0", null as "".
  std::string ToText() const;
};

// What a step looks like to expressions.
struct StepFacts {
  StepStatus status = StepStatus::kPending;
  std::optional<int> exit_code;
  std::map<std::string, std::string> outputs;
  std::vector<std::string> masked_outputs;  // held a secret: unusable until re-run (SPEC 6)
};

class EvalContext {
 public:
  virtual ~EvalContext() = default;
  virtual std::optional<Value> Input(const std::string& name) const = 0;
  virtual std::optional<std::string> Env(const std::string& name) const = 0;
  virtual std::string RunField(const std::string& field) const = 0;  // id | status
  virtual std::optional<StepFacts> Step(const std::string& id) const = 0;  // nullopt: no such step
};

struct EvalResult {
  Value value;
  std::optional<std::string> error;
  bool ok() const { return !error; }
};

EvalResult Evaluate(const Expr& e, const EvalContext& ctx);

struct RenderResult {
  std::string text;  // for a command: what the shell runs (values as references)
  std::optional<std::string> error;
  bool ok() const { return !error; }
  // A command's values, for its environment: RUNBOOK_V_1, RUNBOOK_V_2...
  std::vector<std::pair<std::string, std::string>> values;
  std::string shown;  // the command as a person reads it: values in place, secrets by name
};

// Plain text: name, manual, env values, sub-runbook inputs.
RenderResult RenderText(const Template& t, const EvalContext& ctx);

// A shell command (SPEC 4): no value enters the shell text. Each template
// becomes a reference to its own environment variable ("${RUNBOOK_V_1}", or
// ${RUNBOOK_V_1} inside double quotes and here-documents) and its value goes
// into `values`; a bare {{ inputs.S }} of a secret input references
// $RUNBOOK_INPUT_S, which the environment already holds. In arithmetic only
// a number is accepted; a value with a NUL byte cannot be passed at all.
// `secret_env` maps a secret's from_env variable to its input: {{ env.V }}
// of it is that secret too.
RenderResult RenderCommand(const Template& t, const EvalContext& ctx,
                           const std::vector<std::string>& secret_inputs,
                           const std::map<std::string, std::string>& secret_env = {});

// The name of the variable of a command's n-th value (from 1).
std::string ValueEnvName(int n);

// What a decision's rules choose (SPEC 3): the first choice whose `when` is
// true; without a prompt, a choice with no `when` is the catch-all. No value
// when none applies (a person, or the default, decides), or an error from a
// `when` that cannot be evaluated.
struct RuleChoice {
  std::optional<std::string> value;
  std::optional<std::string> error;
};
RuleChoice ChooseByRules(const Decision& d, const EvalContext& ctx);

// "RUNBOOK_INPUT_" + upper-cased name.
std::string InputEnvName(const std::string& input);

}  // namespace runbook
