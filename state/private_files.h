// Files that hold a run's record and output: the state folder (.runbook),
// the state database, the reports folder, and files written into them.
// Nobody else's and no symlink is used, so a planted link cannot redirect a
// write and another user's folder cannot be trusted; files are created
// without following links and without racing a planted name.
#pragma once

#include <string>

#include "engine/status.h"

namespace runbook {

// `path`, if it exists, must be of this user and not a symlink; `what`
// names it in the message ("the state folder").
Status CheckOwnPath(const std::string& path, const std::string& what);

// Creates folder `path` (mode 0700) and its parents if missing; an existing
// one must pass CheckOwnPath.
Status MakeOwnFolder(const std::string& path, const std::string& what);

// Writes `text` to `path` through a new file made by mkstemp beside it
// (O_EXCL, mode 0600, so no planted name or link is followed), then renames
// it over `path`: a reader never sees half a file. A regular file already
// at `path` keeps its permission bits (the user chose them); else 0600.
Status WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace runbook
