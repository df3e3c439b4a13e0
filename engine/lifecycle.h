// The states of a run, its steps and their attempts, as types (SPEC 7, 9).
//
// Inside the engine every status, reason, phase and kind is one of these
// enums; it becomes text only at the boundaries: the store (state/), JSON,
// the console and reports, through ToString() and Parse<E>(). The names
// below are the ones the SPEC, the database and `show --json` use.
//
// A step's lifecycle has one transition function, CanTransition(), which
// Plan::Transition() enforces (engine/plan.h):
//
//   pending ──> running ──> succeeded ──> rolled_back     (its hook undid it)
//      │           │──────> failed ─────> rolled_back
//      │           │──────> skipped                       (a person's skip)
//      │           │──────> interrupted                   (resume: pending again)
//      │           └──────> waiting ──> running | succeeded | failed | skipped
//      └──> skipped                                        (when, untaken branch)
//
// Anything else (a succeeded step running again, a skipped step failing) is
// refused: the executor treats it as a bug in itself, never as data.
#pragma once

#include <array>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace runbook {

enum class StepStatus { kPending, kRunning, kWaiting, kSucceeded, kFailed, kSkipped, kInterrupted, kRolledBack };

enum class RunStatus {
  kRunning, kWaiting, kSucceeded, kFailed, kRolledBack, kRollbackFailed, kFinallyFailed, kPreflightFailed,
  kInterrupted, kAbandoned,
};

// What a run is doing; committed before the engine acts on it, so that a
// resume continues the phase the run was in (SPEC 7).
enum class RunPhase { kPreflight, kSteps, kRollback, kFinally, kDone };

// Why a step or an attempt failed (SPEC 9); kNone when it did not.
enum class Reason { kNone, kExit, kTimeout, kVerification, kOutput, kAnswer, kError };

// The state of a step's rollback hook: kNone until rollback schedules it.
enum class HookStatus { kNone, kPending, kRunning, kSucceeded, kFailed };

enum class AttemptKind { kRun, kVerify, kRollback, kPreflight };
enum class AttemptStatus { kRunning, kSucceeded, kFailed, kInterrupted };

// Where a decision's value came from: its rules, its default, a person's
// --answer, a person at the terminal.
enum class AnswerSource { kAuto, kDefault, kAnswer, kTty, kWeb };  // kWeb: from `runbook serve`'s page

template <class E>
struct EnumNames;  // kNames: the text of each value, in declaration order

template <>
struct EnumNames<StepStatus> {
  static constexpr std::array<const char*, 8> kNames = {"pending", "running", "waiting", "succeeded",
                                                        "failed", "skipped", "interrupted", "rolled_back"};
};
template <>
struct EnumNames<RunStatus> {
  static constexpr std::array<const char*, 10> kNames = {
      "running", "waiting", "succeeded", "failed", "rolled_back", "rollback_failed", "finally_failed",
      "preflight_failed", "interrupted", "abandoned"};
};
template <>
struct EnumNames<RunPhase> {
  static constexpr std::array<const char*, 5> kNames = {"preflight", "steps", "rollback", "finally", "done"};
};
template <>
struct EnumNames<Reason> {
  static constexpr std::array<const char*, 7> kNames = {"", "exit", "timeout", "verification", "output", "answer",
                                                        "error"};
};
template <>
struct EnumNames<HookStatus> {
  static constexpr std::array<const char*, 5> kNames = {"", "pending", "running", "succeeded", "failed"};
};
template <>
struct EnumNames<AttemptKind> {
  static constexpr std::array<const char*, 4> kNames = {"run", "verify", "rollback", "preflight"};
};
template <>
struct EnumNames<AttemptStatus> {
  static constexpr std::array<const char*, 4> kNames = {"running", "succeeded", "failed", "interrupted"};
};
template <>
struct EnumNames<AnswerSource> {
  static constexpr std::array<const char*, 5> kNames = {"auto", "default", "answer", "tty", "web"};
};

template <class E, class = decltype(EnumNames<E>::kNames)>
const char* ToString(E e) {
  return EnumNames<E>::kNames[static_cast<size_t>(e)];
}

// The value named `text`, or nullopt for a name this binary does not know.
template <class E>
std::optional<E> Parse(std::string_view text) {
  const auto& names = EnumNames<E>::kNames;
  for (size_t i = 0; i < names.size(); ++i)
    if (text == names[i]) return static_cast<E>(i);
  return std::nullopt;
}

// As text, for logs and test messages.
template <class E, class = decltype(EnumNames<E>::kNames)>
std::ostream& operator<<(std::ostream& os, E e) {
  return os << ToString(e);
}

// Whether a step may go from `from` to `to` (the diagram above).
bool CanTransition(StepStatus from, StepStatus to);

// succeeded, failed, skipped, rolled_back: nothing more happens to it in its phase.
bool IsFinished(StepStatus s);

// A run in one of these ends no more: not resumable, blocks no new run.
bool IsFinal(RunStatus s);

// Exit code of a run's status (SPEC 9).
int ExitCodeOf(RunStatus s);

}  // namespace runbook
