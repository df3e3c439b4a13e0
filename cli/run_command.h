// `runbook run` (SPEC 9) and the read-only views of the state database:
// `runs`, `show`, `logs`.
#pragma once

#include <string>
#include <vector>

#include <memory>
#include <optional>

#include "cli/commands.h"
#include "engine/model.h"
#include "state/open_store.h"

namespace runbook::cli {

struct RunArgs {
  std::string target;
  std::vector<std::string> inputs;    // K=V
  std::string inputs_file;
  std::vector<std::string> answers;   // ID=V
  std::string answers_file;
  int jobs = 0;                       // 0: number of processors
  bool dry_run = false;
  std::string state;
  std::string output = "text";
  std::string grace = "10s";
  std::string durability = "crash";
  // Set by a parent run for a `runbook:` step.
  std::string run_id;
  std::string parent;  // RUN:STEP
  std::vector<std::string> secret_inputs;  // inputs the parent fills with a secret
  bool new_run = false;  // --new: start even if a run of an exclusive runbook is open
  bool from_another_host = false;  // resume --from-another-host
};

int RunRunbook(const Context& ctx, const RunArgs& args);
// args.target: the run ("" = the newest resumable one).
// With rollback_only: `runbook rollback RUN` (exit 0 when every hook passed).
int ResumeRun(const Context& ctx, const RunArgs& args, const std::vector<std::string>& rerun, bool allow_changed,
              bool rollback_only = false);
int Abandon(const Context& ctx, const std::string& state, const std::string& run);
int Note(const Context& ctx, const std::string& state, const std::string& run, const std::string& text);

struct ShowArgs {
  std::string state;
  std::string run;
  bool json = false;
};
// The state database at --state (or its default) if it exists, else says so
// and returns null. Read-only (no write, no migration) unless `write`.
std::unique_ptr<StateStore> OpenExistingStore(const Context& ctx, const std::string& state, bool write = false);
// RUN as an id, a unique prefix or `last`, or says why not, sets *exit_code
// (ExitCodeOf the error) and returns nullopt.
std::optional<std::string> ResolveRunOrSay(const Context& ctx, StateStore& store, const std::string& ref,
                                           int* exit_code);

// .runbook/reports/RUN.md beside the state database.
std::string ReportPath(const std::string& state, const std::string& run_id);
// Renders the built-in report of a run to ReportPath(); returns the path.
// `rb`, if given, is the runbook as the caller parsed it; it is used only if
// its text is the run's recorded source.
Result<std::string> WriteRunReport(StateStore& store, const std::string& state, const std::string& run_id,
                                   const Runbook* rb = nullptr);
int Report(const Context& ctx, bool postmortem, const std::string& run, const std::string& output,
           const std::string& template_file);

// `runbook import FILE.md [-o FILE.yaml]`.
int Import(const Context& ctx, const std::string& file, const std::string& output);

int Runs(const Context& ctx, const std::string& state, const std::string& runbook, const std::string& status, bool json);
int Show(const Context& ctx, const ShowArgs& args);
int Logs(const Context& ctx, const std::string& state, const std::string& run, const std::string& step, int attempt,
         bool follow);

}  // namespace runbook::cli
