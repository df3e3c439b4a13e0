// Finding and loading runbook files (SPEC section 1).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/diagnostic.h"
#include "engine/model.h"

namespace runbook {

// Folders of RUNBOOK_PATH (colon-separated), default "./runbooks".
std::vector<std::string> RunbookPath(const char* env_value);

// An argument with a '/' or ending in .yaml/.yml is a file path; otherwise
// NAME.yaml, then NAME.yml, in each folder of `path` in order.
// Returns the file, or nullopt with `error` set to a message for the user.
std::optional<std::string> ResolveRunbook(const std::string& arg, const std::vector<std::string>& path,
                                          std::string* error);

// Every runbook file in the folders of `path` (.yaml and .yml), by folder then name.
std::vector<std::string> ListRunbookFiles(const std::vector<std::string>& path);

struct LoadedRunbook {
  Runbook runbook;
  Diagnostics diags;
  bool ok() const { return !diags.HasErrors(); }
  std::string FormatDiagnostics() const;  // every diagnostic, in position order
};

// Reads, parses and validates `file`. An unreadable file is an error without
// a position. `path` is where child runbooks (`runbook:` steps) are looked
// for, after the parent's own folder; one not found is a warning.
LoadedRunbook LoadRunbook(const std::string& file, const std::vector<std::string>& path);

}  // namespace runbook
