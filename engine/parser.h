// YAML text -> Runbook model (the structural half of validation).
//
// ParseRunbook reads the whole file with yaml-cpp and reports, without
// stopping at the first one, every problem that a single mapping can show on
// its own: YAML syntax, unknown or duplicate keys (with did-you-mean), missing
// required keys, wrong value types, a step with zero or two kinds, bad names,
// durations, regexes, expressions and templates. Problems that need the whole
// runbook (ids, needs, cycles, references) are the validator's.
//
// yaml-cpp exceptions never leave this file.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "engine/diagnostic.h"
#include "engine/model.h"

namespace runbook {

// Parses `source`. The returned model holds whatever could be read; use it
// only if `diags` has no errors.
Runbook ParseRunbook(SourceFile source, Diagnostics* diags);

// A YAML mapping of name to scalar value (--inputs-file, --answers-file).
// Returns nullopt and sets `error` ("file:line:col: message") otherwise.
std::optional<std::map<std::string, std::string>> ParseValuesFile(const std::string& path, const std::string& text,
                                                                  std::string* error);

// Name rules of SPEC section 1.
// The longest name (runbook, step id, input, output, variable) accepted.
constexpr size_t kMaxName = 128;

bool IsValidRunbookName(const std::string& s);  // also step ids
bool IsValidInputName(const std::string& s);

}  // namespace runbook
