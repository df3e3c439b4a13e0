// How a run's commands become processes (SPEC 3, 4, 7): the shell's argv,
// the environment (the engine's, the runbook's `env`, the step's, and the
// RUNBOOK_* variables), the folder, the names of the files a step is given
// in the engine's private folder, and the command line of a child run. No
// effects but writing a child's inputs file; values come from an
// EvalContext, so the executor's facts are what the commands see.
#pragma once

#include <map>
#include <string>

#include "engine/eval.h"
#include "engine/executor.h"
#include "engine/model.h"
#include "engine/runner.h"

namespace runbook {

class Commands {
 public:
  Commands(const Runbook& rb, const ExecOptions& o) : rb_(rb), o_(o) {}

  // The runbook's own `env`, rendered once when the run opens.
  void RenderRunEnv(const EvalContext& ctx);
  const std::map<std::string, std::string>& run_env() const { return run_env_; }

  // A step's shell command (`s` null: a preflight check, in the run's folder),
  // as RenderCommand made it: its values go into the environment, and a dry
  // run shows it as a person reads it. An error rendering the step's env
  // goes to `env_error`.
  ProcessSpec ForScript(const Step* s, const RenderResult& command, int attempt, const std::string& output_file,
                        const EvalContext& ctx, std::string* env_error) const;
  // A name in the engine's private folder; the step creates the file if it writes to it.
  std::string OutputFile(const std::string& step, const std::string& kind, int n) const;

  // The child runbook of a runbook: step: beside the parent's file, then on
  // RUNBOOK_PATH; "" if there is none.
  std::string FindChild(const Step& s) const;
  // The process of a runbook: step's child run `child_run` of `file`: `runbook
  // resume` to continue it, else `runbook run` with the step's inputs
  // rendered into a private file (they may hold secrets: never argv).
  Result<ProcessSpec> ForChild(const Step& s, const std::string& file, const std::string& child_run, bool resume,
                               int attempt, const EvalContext& ctx) const;

 private:
  std::map<std::string, std::string> Env(const Step* s, int attempt, const std::string& output_file,
                                         const EvalContext& ctx, std::string* error) const;
  std::string WorkdirOf(const Step& s) const;
  // Whether `t` reads a secret (an input, or its from_env variable).
  bool CarriesSecret(const Template& t) const;

  const Runbook& rb_;
  const ExecOptions& o_;
  std::map<std::string, std::string> run_env_;
};

}  // namespace runbook
