// The HTML of `runbook serve`: server-rendered, no framework, every value
// escaped. The run page follows its run through the event stream.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "engine/store.h"
#include "templates/report.h"

namespace runbook::serve {

std::string Escape(const std::string& s);

// `/`: runs newest first, filtered by runbook and status; orphaned and
// waiting runs marked.
std::string HistoryPage(const std::vector<RunRecord>& runs, const std::function<bool(const RunRecord&)>& live,
                        const std::string& runbook, const std::string& status);

// `/runs/ID`: header, the live part, the timeline; it follows the run's
// event stream and redraws the live part on each event.
std::string RunPage(const ReportInput& run);
// The live part: the DAG as SVG coloured by status (each node's <title> is
// its step id), a gantt of attempts (a running one grows to now), the steps.
std::string LiveFragment(const ReportInput& run);
// A report or post-mortem (Markdown) as a page: cmark-gfm, raw HTML not rendered.
std::string MarkdownPage(const std::string& title, const std::string& markdown);

}  // namespace runbook::serve
