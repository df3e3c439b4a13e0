// What a resume does to an earlier engine's record, before the loop starts
// (SPEC 7): pure functions over a Plan and the recorded state, no processes,
// clock or store.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/executor.h"
#include "engine/plan.h"

namespace runbook {

// Puts every record an earlier engine committed back into `plan` as it was
// (a decision keeps its choice, unless it is to run again); steps the record
// lacks stay pending.
void RestoreAsRecorded(Plan& plan, const ResumeState& st);

// What restarting a phase's unfinished work decided.
struct Restarted {
  Batch batch;                          // records reset or attested, to commit with the resume
  std::set<std::string> held;           // not idempotent and running: a person says rerun or done
  std::map<std::string, std::string> continue_child;  // runbook: step -> its child run to continue
};

// SPEC 7, for the phase being resumed: steps that succeeded are never run
// again and keep their outputs; failed, interrupted, waiting and
// orphaned-running steps start again from pending, except that an
// `idempotent: false` step that was running needs --answer ID=rerun|done
// and waits for one like a manual step; --answer ID=done attests a step
// done (by `who`, at `now`); --rerun ID runs ID and everything after it
// again. `completed_seq` numbers attested completions.
Restarted RestartUnfinished(Plan& plan, const ResumeState& st, const std::map<std::string, std::string>& answers,
                            const std::string& who, int64_t now, int64_t* completed_seq);

// SPEC 3.3: the main steps whose hooks rollback scheduled and has not
// finished, newest completion first.
std::vector<int> HooksToRun(const Plan& steps);

// Whether a hook rollback ran has failed.
bool RollbackFailed(const Plan& steps);

}  // namespace runbook
