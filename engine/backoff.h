// Retry delays (SPEC 3, `retry`): pure, so they are table-tested.
#pragma once

#include "engine/duration.h"
#include "engine/model.h"

namespace runbook {

// The pause before attempt `next_attempt` (2 for the first retry):
// delay * backoff^(next_attempt - 2), capped at max_delay.
Millis RetryDelay(const RetryPolicy& policy, int next_attempt);

}  // namespace runbook
