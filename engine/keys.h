// The keys each mapping of the format accepts. The parser rejects any other
// key, and a test holds the JSON Schema (runbook.schema.json) to these same
// lists, so the editor's view of the format and the engine's never drift.
#pragma once

#include <string>
#include <vector>

namespace runbook::keys {

inline const std::vector<std::string> kRunbook = {
    "name",    "title",   "description", "purpose",    "owner",       "severity",
    "tags",    "targets", "escalation",  "notify",     "inputs",      "env",         "defaults",
    "on_failure", "timeout", "concurrency", "preflight", "steps", "finally"};
inline const std::vector<std::string> kTargets = {"rto", "rpo"};
inline const std::vector<std::string> kEscalation = {"contact", "when", "after"};
inline const std::vector<std::string> kNotify = {"on", "run", "timeout"};
// The run events a notify: entry may name in `on` (all of them when it has none).
inline const std::vector<std::string> kNotifyEvents = {"waiting", "failed", "rolled_back", "succeeded", "escalation"};
inline const std::vector<std::string> kInput = {"description", "enum",     "required", "default",
                                                "secret",      "from_env", "pattern",  "type"};
inline const std::vector<std::string> kDefaults = {"timeout", "retry", "shell", "workdir"};
inline const std::vector<std::string> kStepKinds = {"run", "manual", "decision", "wait", "runbook"};
inline const std::vector<std::string> kStep = {
    "id",      "name",     "description", "needs",      "when",    "timeout",
    "retry",   "verify",   "rollback",    "on_failure", "estimate", "outputs",
    "env",     "workdir",  "shell",       "idempotent", "run",     "manual",
    "checklist", "decision", "wait",      "runbook",    "inputs"};
inline const std::vector<std::string> kRetry = {"attempts", "delay", "backoff", "max_delay"};
inline const std::vector<std::string> kCheck = {"name",    "run",      "expect",
                                                "retries", "interval", "timeout"};
inline const std::vector<std::string> kExpect = {"exit_code", "stdout", "stderr"};
inline const std::vector<std::string> kRollback = {"run", "timeout"};
inline const std::vector<std::string> kDecision = {"prompt", "choices", "default"};
inline const std::vector<std::string> kChoice = {"value", "when", "goto"};
inline const std::vector<std::string> kOutput = {"regex"};

}  // namespace runbook::keys
