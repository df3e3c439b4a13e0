// The runbook model: one parsed, validated runbook file (SPEC sections 2-6).
//
// The parser builds it once; the validator, planner, executor, store and
// reports all read the same model, never the YAML again. Everything a user
// wrote keeps its source position (Pos), so that semantic errors found later
// still point at the right line and column.
//
// Runbook-level `defaults` are already merged into every step: a Step says
// exactly what will run.
#pragma once

#include <map>
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "engine/diagnostic.h"
#include "engine/duration.h"
#include "engine/expr.h"
#include "engine/template.h"

namespace runbook {

// A value and where it was written.
template <class T>
struct At {
  T value{};
  Pos pos;
};

struct RetryPolicy {
  int attempts = 1;  // total tries, >= 1
  Millis delay{1000};
  double backoff = 1.0;  // multiplier per retry, >= 1
  Millis max_delay{5 * 60 * 1000};
};

struct Expectation {
  std::optional<int> exit_code = 0;  // nullopt: any exit code is accepted
  std::string stdout_regex;          // "" = no condition
  std::string stderr_regex;
};

// A verification of a step (SPEC 3.2) or a preflight prerequisite.
struct Check {
  std::string name;
  Pos pos;
  Template run;
  Expectation expect;
  int retries = 0;  // 1 + retries tries
  Millis interval{1000};
  std::optional<Millis> timeout;  // per try
};

struct RollbackHook {
  Template run;
  std::optional<Millis> timeout;
  Pos pos;
};

struct OutputSpec {
  enum class Source { kStdout, kExitCode, kRegex };
  std::string name;
  Source source = Source::kStdout;
  std::string regex;  // kRegex: first capture group of the first match
  Pos pos;
};

struct Choice {
  std::string value;
  Pos pos;
  ExprPtr when;  // null: chosen only by a person, the default, or (no prompt) as a catch-all
  std::vector<At<std::string>> go_to;
};

struct Decision {
  std::optional<Template> prompt;
  std::vector<Choice> choices;
  std::optional<At<std::string>> default_choice;
};

enum class StepKind { kRun, kManual, kDecision, kWait, kRunbook };
const char* ToString(StepKind k);

struct EnvVar {
  std::string name;
  Template value;
};

struct Step {
  std::string id;
  Pos pos;  // of the step's mapping
  Pos id_pos;
  bool in_finally = false;
  Template name;  // display name; raw is "" when not given
  std::string description;
  StepKind kind = StepKind::kRun;
  Pos kind_pos;
  std::vector<At<std::string>> needs;
  ExprPtr when;  // null: always
  std::optional<Millis> timeout;
  RetryPolicy retry;
  std::vector<Check> verify;
  std::optional<RollbackHook> rollback;
  bool continue_on_failure = false;  // on_failure: continue
  std::optional<Millis> estimate;
  std::vector<OutputSpec> outputs;
  std::vector<EnvVar> env;
  std::string workdir = ".";
  std::string shell = "bash";
  bool idempotent = true;

  // The kind's own fields.
  Template run;                       // kRun
  Template manual;                    // kManual
  std::vector<std::string> checklist;  // kManual
  Decision decision;                  // kDecision
  Millis wait{0};                     // kWait
  At<std::string> runbook;            // kRunbook: the child's name
  std::vector<std::pair<std::string, Template>> runbook_inputs;

  std::string DisplayName() const { return name.raw.empty() ? id : name.raw; }
};

struct InputDecl {
  enum class Type { kString, kNumber, kBoolean };
  std::string name;
  Pos pos;
  std::string description;
  std::vector<std::string> enum_values;
  bool required = false;
  std::optional<std::string> default_value;
  bool secret = false;
  std::string from_env;
  std::string pattern;
  Type type = Type::kString;
};
const char* ToString(InputDecl::Type t);

struct Escalation {
  enum class When { kFailure, kWaiting, kTimeout, kAlways };
  std::string contact;
  When when = When::kFailure;
  std::optional<Millis> after;
  Pos pos;
};
const char* ToString(Escalation::When w);

// A command run on run events (keys::kNotifyEvents) with the event as JSON
// on stdin and in RUNBOOK_EVENT_* variables: how a team wires a chat or a
// pager. A notifier that fails is recorded; it never fails the run.
struct Notify {
  std::vector<std::string> on;  // empty: every event
  std::string run;              // a bash script, run as written: no {{ }} in it
  std::optional<Millis> timeout;
  Pos pos;
  bool Wants(const std::string& event) const {
    return on.empty() || std::find(on.begin(), on.end(), event) != on.end();
  }
};

struct Runbook {
  SourceFile source;
  std::string name;
  Pos name_pos;
  std::string title, description, purpose, owner, severity;
  std::vector<std::string> tags;
  std::optional<Millis> rto, rpo;
  std::vector<Escalation> escalation;
  std::vector<Notify> notify;
  std::vector<InputDecl> inputs;
  std::vector<EnvVar> env;
  bool rollback_on_failure = true;  // on_failure: rollback | stop
  std::optional<Millis> timeout;
  bool exclusive = true;  // concurrency: exclusive | shared
  std::vector<Check> preflight;
  std::vector<Step> steps;
  std::vector<Step> finally;

  const Step* FindStep(const std::string& id) const;  // in steps or finally
  const InputDecl* FindInput(const std::string& name) const;
  // The secret input `r` reads: inputs.S of a secret S, or env.V where V is
  // a secret's from_env variable (the same value by another name); or null.
  const InputDecl* SecretRead(const Ref& r) const;
  std::string Title() const { return title.empty() ? name : title; }
};

}  // namespace runbook
