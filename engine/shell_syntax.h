// Whether scripts parse as shell, as `bash -n` reads them. The seam that
// `validate` (a warning for a script that would not even start) and `import`
// (only a block that parses becomes a `run` step) use; steps/bash_syntax.h
// asks a real bash, a fake in tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/diagnostic.h"
#include "engine/model.h"
#include "engine/template.h"

namespace runbook {

struct SyntaxError {
  int line = 1;         // in the script, from 1
  std::string message;  // bash's words: "syntax error near unexpected token `)'"
};

class ShellSyntax {
 public:
  virtual ~ShellSyntax() = default;
  // One result per script, in order: nullopt when it parses. If the check
  // itself cannot run (no bash), every result is nullopt and `available` false.
  virtual std::vector<std::optional<SyntaxError>> Check(const std::vector<std::string>& scripts) = 0;
  virtual bool available() const = 0;
};

// The text bash will read for a command template: each {{ }} as the variable
// reference it becomes at run time ("${RUNBOOK_V_1}"), so a check sees the
// shell the engine will run, not the template syntax.
std::string ShellTextForCheck(const Template& t);

// A warning, at its line, for every bash (or sh) script of `rb` (run,
// verify, rollback, preflight) that does not parse.
void LintShellSyntax(const Runbook& rb, ShellSyntax& syntax, Diagnostics* diags);

}  // namespace runbook
