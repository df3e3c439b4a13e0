// The HTML of `runbook serve`: server-rendered, no framework, every value
// escaped. The run page follows its run through the event stream.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "engine/store.h"

namespace runbook::serve {

std::string Escape(const std::string& s);

// `/`: runs newest first, filtered by runbook and status; orphaned and
// waiting runs marked.
std::string HistoryPage(const std::vector<RunRecord>& runs, const std::function<bool(const RunRecord&)>& live,
                        const std::string& runbook, const std::string& status);

// `/runs/ID`: from `show --json` of the run.
std::string RunPage(const nlohmann::json& show);

}  // namespace runbook::serve
