#include "engine/backoff.h"

#include <algorithm>
#include <cmath>

namespace runbook {

Millis RetryDelay(const RetryPolicy& policy, int next_attempt) {
  if (next_attempt < 2) return Millis(0);
  double ms = static_cast<double>(policy.delay.count()) * std::pow(policy.backoff, next_attempt - 2);
  double cap = static_cast<double>(policy.max_delay.count());
  if (!(ms <= cap)) ms = cap;  // also for an overflow to inf
  return Millis(static_cast<long long>(ms));
}

}  // namespace runbook
