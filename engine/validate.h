// Whole-runbook checks, after ParseRunbook (SPEC 3.4, 4, 6):
// duplicate ids; unknown `needs` and `goto` targets (did-you-mean); cycles,
// printed as a path; decisions that could end with no branch; references in
// expressions and templates to unknown inputs or steps, or to steps outside
// the referring step's transitive needs; templates that cannot be escaped
// for their place in a command; secrets anywhere but a bare reference in a
// command; input defaults that break their own rules; a name that differs
// from the file's stem (a warning).
#pragma once

#include "engine/diagnostic.h"
#include "engine/model.h"

namespace runbook {

void ValidateRunbook(const Runbook& rb, Diagnostics* diags);

// Why `value` is not acceptable for input `decl`, or nullopt. Shared with the
// command line, which applies the same rules to --input values.
std::optional<std::string> CheckInputValue(const InputDecl& decl, const std::string& value);

}  // namespace runbook
