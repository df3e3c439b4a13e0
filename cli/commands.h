// The static commands of the command line (SPEC section 9): everything that
// reads runbooks without running them. Each returns the process exit code
// and writes to the given streams, so tests can call them in-process.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "engine/status.h"

namespace runbook::cli {

// Exit codes of SPEC section 9.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitWaiting = 3;
inline constexpr int kExitLocked = 4;
inline constexpr int kExitInterrupted = 130;

// The exit code of an error of the engine's (engine/status.h): a request
// that cannot be served is a usage error, a locked database is 4, and an
// I/O error or a corrupt file is a failure, never a usage error.
inline int ExitCodeOf(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return kExitOk;
    case Status::Code::kNotFound:
    case Status::Code::kInvalid: return kExitUsage;
    case Status::Code::kBusy: return kExitLocked;
    case Status::Code::kIOError:
    case Status::Code::kCorrupt: return kExitFailed;
  }
  return kExitFailed;
}

struct Context {
  std::vector<std::string> runbook_path;  // folders of RUNBOOK_PATH
  std::string state;                      // --state ("" = $RUNBOOK_STATE or the default)
  std::ostream* out;
  std::ostream* err;
};

int Validate(const Context& ctx, const std::vector<std::string>& targets);
int Plan(const Context& ctx, const std::string& target, const std::vector<std::string>& inputs);
int Graph(const Context& ctx, const std::string& target, const std::string& format);
int List(const Context& ctx, bool names_only = false);
int Schema(const Context& ctx);
int Prune(const Context& ctx, const std::string& older_than);
// `runbook serve --listen HOST:PORT`.
int Serve(const Context& ctx, const std::string& listen);
// `runbook token add NAME`, `runbook token list`.
int TokenAdd(const Context& ctx, const std::string& name);
int TokenList(const Context& ctx);
// runbook state copy FROM TO
int StateCopy(const Context& ctx, const std::string& from, const std::string& to);

}  // namespace runbook::cli
