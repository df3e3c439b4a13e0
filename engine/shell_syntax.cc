#include "engine/shell_syntax.h"

#include <algorithm>

#include "engine/eval.h"

namespace runbook {

std::string ShellTextForCheck(const Template& t) {
  std::string out;
  int n = 0;
  for (const auto& p : t.parts) {
    if (!p.is_expr) {
      out += p.literal;
      continue;
    }
    std::string var = ValueEnvName(++n);
    out += p.context == ShellContext::kWord ? "\"${" + var + "}\"" : "${" + var + "}";
  }
  return out;
}

namespace {

// Where line `line` (from 1) of the script sits in the file.
Pos LinePos(const Template& t, int line) {
  // bash names the line after the last for "unexpected end of file": the last.
  int lines = static_cast<int>(std::count(t.raw.begin(), t.raw.end(), '\n')) +
              (!t.raw.empty() && t.raw.back() != '\n' ? 1 : 0);
  line = std::max(1, std::min(line, lines));
  size_t offset = 0;
  for (int l = 1; l < line; ++l) {
    size_t nl = t.raw.find('\n', offset);
    if (nl == std::string::npos) break;
    offset = nl + 1;
  }
  for (const auto& p : t.parts) {
    if (p.is_expr || offset < p.begin || offset >= p.end) continue;
    int extra = static_cast<int>(std::count(t.raw.begin() + static_cast<long>(p.begin),
                                            t.raw.begin() + static_cast<long>(offset), '\n'));
    return Pos{p.pos.line + extra, extra == 0 ? p.pos.col : 1};
  }
  return t.pos;
}

}  // namespace

void LintShellSyntax(const Runbook& rb, ShellSyntax& syntax, Diagnostics* diags) {
  struct Script {
    const Template* t;
    std::string what;
  };
  std::vector<Script> scripts;
  for (const auto& c : rb.preflight) scripts.push_back({&c.run, "preflight check '" + c.name + "'"});
  for (const auto* list : {&rb.steps, &rb.finally}) {
    for (const auto& s : *list) {
      if (s.shell != "bash" && s.shell != "sh") continue;
      if (s.kind == StepKind::kRun) scripts.push_back({&s.run, "the run script of step '" + s.id + "'"});
      for (const auto& c : s.verify)
        scripts.push_back({&c.run, (c.name.empty() ? "a verification" : "verification '" + c.name + "'") +
                                       " of step '" + s.id + "'"});
      if (s.rollback) scripts.push_back({&s.rollback->run, "the rollback of step '" + s.id + "'"});
    }
  }
  std::vector<std::string> texts;
  for (const auto& s : scripts) texts.push_back(ShellTextForCheck(*s.t));
  auto results = syntax.Check(texts);
  for (size_t i = 0; i < scripts.size() && i < results.size(); ++i) {
    if (!results[i]) continue;
    diags->Warning(LinePos(*scripts[i].t, results[i]->line),
                   scripts[i].what + " does not parse as shell (bash -n: " + results[i]->message +
                       "): it would fail before running anything");
  }
}

}  // namespace runbook
