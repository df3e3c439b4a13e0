#include "state/open_store.h"

#include <filesystem>
#include <regex>

#include "state/pg_store.h"

namespace runbook {

bool IsPostgres(const std::string& spec) { return PgStore::Names(spec); }

std::string ShownState(const std::string& spec) { return IsPostgres(spec) ? PgStore::Redacted(spec) : spec; }

bool StateExists(const std::string& spec) { return IsPostgres(spec) || std::filesystem::exists(spec); }

std::string LocalStateDir(const std::string& spec) {
  if (!IsPostgres(spec)) return std::filesystem::path(spec).parent_path().string();
  std::error_code ec;
  namespace fs = std::filesystem;
  fs::path cwd = fs::current_path(ec);
  for (fs::path dir = cwd; !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_directory(dir / ".runbook", ec)) return (dir / ".runbook").string();
    if (dir == dir.root_path()) break;
  }
  return (cwd / ".runbook").string();
}

Status CheckStateSpec(const std::string& spec) {
  if (!IsPostgres(spec)) return Status::Ok();
  if (PgStore::Redacted(spec) != spec)
    return Status::Invalid("the state address " + PgStore::Redacted(spec) +
                           " carries a password: put it in ~/.pgpass, PGPASSWORD or a service file "
                           "(PGSERVICEFILE), never on a command line");
  return Status::Ok();
}

Result<std::unique_ptr<StateStore>> OpenStore(const std::string& spec, Durability durability) {
  if (Status s = CheckStateSpec(spec); !s.ok()) return s;
  if (IsPostgres(spec)) {
    auto s = PgStore::Open(spec);
    if (!s.ok()) return s.status();
    return std::unique_ptr<StateStore>(std::move(s.value()));
  }
  auto s = SqliteStore::Open(spec, durability);
  if (!s.ok()) return s.status();
  return std::unique_ptr<StateStore>(std::move(s.value()));
}

Result<std::unique_ptr<StateStore>> OpenStoreForReading(const std::string& spec) {
  if (Status s = CheckStateSpec(spec); !s.ok()) return s;
  if (IsPostgres(spec)) {
    auto s = PgStore::Open(spec);
    if (!s.ok()) return s.status();
    return std::unique_ptr<StateStore>(std::move(s.value()));
  }
  auto s = SqliteStore::OpenForReading(spec);
  if (!s.ok()) return s.status();
  return std::unique_ptr<StateStore>(std::move(s.value()));
}

}  // namespace runbook
