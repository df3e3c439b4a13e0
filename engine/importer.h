// `runbook import`: a Markdown runbook -> a YAML draft that validates
// (SPEC 10). Headings become step groups and names; a fenced shell block
// becomes a `run` step (the text before it its name and description); a list
// item without code becomes a `manual` step; order becomes `needs`; sections
// titled like Verification, Rollback, Prerequisites and Escalation become
// `verify`, `rollback`, `preflight` and `escalation`. Code that `runbook`
// would read as a template (`{{ }}`) and non-shell code become manual steps
// that show it. Text that is not UTF-8 is read as Latin-1.
#pragma once

#include <optional>
#include <string>

namespace runbook {

struct ImportResult {
  std::string yaml;
  int steps = 0;
  std::optional<std::string> error;  // "LINE:COL: message": nothing was imported
};

// `name` is the runbook's name (from the file's stem); `source` names the
// file in the draft's header comment.
ImportResult ImportMarkdown(const std::string& markdown, const std::string& name, const std::string& source);

// A valid runbook name from a file stem ("Disaster Recovery" -> "disaster-recovery").
std::string RunbookNameFrom(const std::string& stem);

}  // namespace runbook
