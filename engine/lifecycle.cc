#include "engine/lifecycle.h"

namespace runbook {

bool CanTransition(StepStatus from, StepStatus to) {
  using S = StepStatus;
  switch (from) {
    case S::kPending: return to == S::kRunning || to == S::kSkipped;
    case S::kRunning:
      return to == S::kSucceeded || to == S::kFailed || to == S::kSkipped || to == S::kInterrupted ||
             to == S::kWaiting;
    case S::kWaiting:
      return to == S::kRunning || to == S::kSucceeded || to == S::kFailed || to == S::kSkipped ||
             to == S::kInterrupted;
    case S::kSucceeded:
    case S::kFailed: return to == S::kRolledBack;
    case S::kSkipped:
    case S::kInterrupted:
    case S::kRolledBack: return false;
  }
  return false;
}

bool IsFinished(StepStatus s) {
  return s == StepStatus::kSucceeded || s == StepStatus::kFailed || s == StepStatus::kSkipped ||
         s == StepStatus::kRolledBack;
}

bool IsFinal(RunStatus s) {
  switch (s) {
    case RunStatus::kRunning:
    case RunStatus::kWaiting:
    case RunStatus::kFailed:
    case RunStatus::kInterrupted: return false;
    default: return true;
  }
}

int ExitCodeOf(RunStatus s) {
  switch (s) {
    case RunStatus::kSucceeded: return 0;
    case RunStatus::kWaiting: return 3;
    case RunStatus::kInterrupted: return 130;
    default: return 1;
  }
}

}  // namespace runbook
