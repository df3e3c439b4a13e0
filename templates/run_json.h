// A run as JSON, the shapes `runs --json` and `show --json` print (SPEC 9)
// and `runbook serve` answers with: one place for both.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/store.h"

namespace runbook {

// The run's recovery time against its runbook's RTO (read from the source
// recorded with the run), counted from the first start: interruptions and
// resumes do not stop the clock. Nothing when the runbook has no RTO.
struct RtoClock {
  int64_t target_ms = 0;
  int64_t elapsed_ms = 0;
  std::string text;  // "1h: 12m so far, 48m left"
};
std::optional<RtoClock> RtoOf(const RunRecord& r);

// The steps of the run's recorded runbook whose failure continues the run
// (`on_failure: continue`): such a failure is shown as "failed, continued".
std::set<std::string> ContinuedOnFailure(const RunRecord& r);

nlohmann::json RunJson(const RunRecord& r);
nlohmann::json StepJson(const StepRecord& s, bool continued = false);
// `runs --json`: each run, a running one marked orphaned when `live` says its engine is gone.
nlohmann::json RunsJson(const std::vector<RunRecord>& runs, const std::function<bool(const RunRecord&)>& live);
// `show --json`: the run, its RTO clock, steps and decisions.
Result<nlohmann::json> ShowJson(StateStore& store, const std::string& run_id);
// One timeline event, as serve streams it.
nlohmann::json EventJson(const EventRecord& e);

// Two-space indented, invalid UTF-8 replaced.
std::string Dump(const nlohmann::json& j);

}  // namespace runbook
