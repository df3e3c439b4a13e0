// The run report and the post-mortem draft (SPEC section 10), rendered from
// a run's record with Mustache templates. The built-in templates are
// templates/report.md.mustache and postmortem.md.mustache, compiled into the
// binary; a user's template replaces them. The data given to templates is
// documented in templates/README.md.
//
// Everything comes from the record, which never holds a secret in clear.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/status.h"
#include "engine/store.h"

namespace runbook {

struct ReportInput {
  const Runbook* runbook = nullptr;  // parsed from the run's recorded source
  RunRecord run;
  std::vector<StepRecord> steps;
  std::vector<AttemptRecord> attempts;
  std::vector<DecisionRecord> decisions;
  std::vector<EventRecord> events;
  std::vector<RunRecord> children;
  std::string report_path;  // where the report is (for the post-mortem's links)
  int64_t now_ms = 0;       // for a run still going: its duration so far
};

// A template of the runbook (a prompt, a manual step's text, a step's name)
// as the terminal showed it: rendered over the record (its inputs, as
// recorded, so secrets masked; its steps' statuses and outputs). Where it
// needs what the record does not hold (the environment, an output not yet
// produced), its raw text.
std::string RenderFromRecord(const Template& t, const ReportInput& in);
// A step's name so rendered, or its id when it has none.
std::string StepName(const Step& s, const ReportInput& in);

// The record of run `id`, with its runbook parsed from the recorded source
// (or `known`, a runbook already parsed, when its text is that source).
struct LoadedReport {
  std::unique_ptr<Runbook> parsed;  // on the heap, so that input.runbook survives moving a LoadedReport
  ReportInput input;
};
Result<LoadedReport> LoadReport(StateStore& store, const std::string& id, const Runbook* known = nullptr);

enum class ReportKind { kReport, kPostmortem };

// Renders `kind` with `template_text`, or the built-in template when nullopt.
Result<std::string> RenderReport(ReportKind kind, const ReportInput& input,
                                 const std::optional<std::string>& template_text = std::nullopt);

// The data handed to templates, as JSON (for documentation and tests).
std::string ReportDataJson(const ReportInput& input);

}  // namespace runbook
