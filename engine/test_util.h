// Helpers for engine unit tests: parse and validate YAML text in memory.
#pragma once

#include <string>

#include "engine/diagnostic.h"
#include "engine/model.h"
#include "engine/parser.h"
#include "engine/validate.h"

namespace runbook::testing {

struct Checked {
  Runbook runbook;
  Diagnostics diags;
  // Every diagnostic formatted as `runbook validate` prints it, in order.
  std::string Text() const {
    std::string out;
    for (const auto& d : diags.items()) out += Format(runbook.source, d);
    return out;
  }
  // Only the "file:line:col: severity: message" lines.
  std::string Messages() const {
    std::string out;
    for (const auto& d : diags.items()) {
      std::string f = Format(runbook.source, d);
      out += f.substr(0, f.find('\n') + 1);
    }
    return out;
  }
};

inline Checked Check(const std::string& yaml, const std::string& path = "t.yaml") {
  Checked c;
  c.runbook = ParseRunbook(SourceFile(path, yaml), &c.diags);
  ValidateRunbook(c.runbook, &c.diags);
  c.diags.SortByPosition();
  return c;
}

}  // namespace runbook::testing
