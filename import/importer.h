// `runbook import`: a Markdown runbook -> a YAML draft that loads and
// validates (docs/reference.md, "Importing a Markdown runbook").
//
// The page is read as a tree of sections (import/page.h). A section's role
// comes from its heading and holds for its subsections: prerequisites
// (preflight checks and a checklist), verification, rollback (hooks on the
// first command step of what it undoes; prose becomes a manual rollback step
// in `finally`), escalation contacts, and reference sections (quick
// reference, KPIs, links) that become the description. Everything else is
// steps, in the page's order: a code block that is a command becomes a `run`
// step (import/commands.h decides), any other block is shown in a manual
// step, "If ... / Otherwise ..." and "Option A / Option B" become a
// decision with one branch each, a checklist becomes one manual step.
// Placeholders and variables never set become required inputs. Nothing of
// the page is dropped: text that is not a step is a description.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace runbook {

class ShellSyntax;

struct ImportResult {
  std::string yaml;
  int steps = 0;
  std::optional<std::string> error;  // "LINE:COL: message": nothing was imported
  std::vector<std::string> degraded;  // blocks shown to a person instead of run, and why
};

// `name` is the runbook's name (from the file's stem); `source` names the
// file in the draft's header comment. `syntax` checks that every script the
// draft runs parses (bash -n); null: not checked (unit tests, fuzzing).
ImportResult ImportMarkdown(const std::string& markdown, const std::string& name, const std::string& source,
                            ShellSyntax* syntax);

// A valid runbook name from a file stem ("Disaster Recovery" -> "disaster-recovery").
std::string RunbookNameFrom(const std::string& stem);

}  // namespace runbook
