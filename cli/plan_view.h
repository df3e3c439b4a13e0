// `runbook plan`: what a run would do, for a person to read before starting:
// inputs, preflight, the steps in topological order grouped in parallel
// waves (kind, timeout, retries, verification, rollback, decision branches),
// finally steps, the critical path of estimates against the RTO, and who to
// escalate to.
#pragma once

#include <string>

#include "engine/inputs.h"
#include "engine/model.h"

namespace runbook::cli {

// `rb` must be valid (acyclic).
std::string RenderPlan(const Runbook& rb, const InputValues& inputs);

}  // namespace runbook::cli
