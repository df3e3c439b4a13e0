// Which store a --state names (issue 16): a postgresql:// or postgres://
// address opens the PostgreSQL store (state/pg_store.h); anything else is
// the path of the SQLite file (state/sqlite_store.h). The one place the CLI
// and serve choose a store.
#pragma once

#include <memory>
#include <string>

#include "engine/store.h"
#include "state/sqlite_store.h"

namespace runbook {

bool IsPostgres(const std::string& spec);
// `spec` as a person may read it: the path, or the address without a password.
std::string ShownState(const std::string& spec);
// Whether there is a record to read: the file exists, or (PostgreSQL) always
// -- the server says the rest.
bool StateExists(const std::string& spec);
// The folder for what is kept beside the record on this machine (reports):
// the SQLite file's folder; for PostgreSQL, the .runbook/ that StatePath
// would find here.
std::string LocalStateDir(const std::string& spec);
// kInvalid for an address that carries a password: it belongs in ~/.pgpass,
// PGPASSWORD or a service file, never on a command line.
Status CheckStateSpec(const std::string& spec);

// Opens the store to write (a SQLite file is created if needed).
Result<std::unique_ptr<StateStore>> OpenStore(const std::string& spec, Durability durability);
// Opens an existing record to read (kNotFound if there is none).
Result<std::unique_ptr<StateStore>> OpenStoreForReading(const std::string& spec);

}  // namespace runbook
