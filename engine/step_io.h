// What goes into a step's process and what comes out of it: pure helpers of
// the executor, tested on their own.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.h"

namespace runbook {

// Replaces every occurrence of every secret value with "***"; each line of
// a multi-line secret is masked on its own as well.
class Masker {
 public:
  void Add(const std::string& secret);
  std::string Mask(const std::string& text) const;
  bool Contains(const std::string& text) const;

 private:
  std::vector<std::string> secrets_;  // longest first
};

// argv for a script under `shell`: bash gets `set -eo pipefail` first
// (SPEC 3); sh is /bin/sh; any other shell is split on spaces and given -c.
std::vector<std::string> ShellArgv(const std::string& shell, const std::string& script);

// "k=v" lines of a $RUNBOOK_OUTPUT file; later lines win; others ignored.
std::map<std::string, std::string> ParseOutputFile(const std::string& text);

struct ExtractedOutputs {
  std::map<std::string, std::string> values;
  std::optional<std::string> error;  // a regex output that matched nothing
};
// The declared outputs of `step` from a finished attempt, merged over the
// lines the command wrote to $RUNBOOK_OUTPUT.
ExtractedOutputs ExtractOutputs(const Step& step, const std::string& out, int exit_code,
                                const std::map<std::string, std::string>& from_file);

// Why a check's result does not meet its expectation, or nullopt.
std::optional<std::string> CheckExpectation(const Expectation& e, int exit_code, const std::string& out,
                                            const std::string& err);

// The output of running processes, handed on by whole lines so that a
// secret split across two reads is still masked.
class LineBuffer {
 public:
  // The lines `data` completes for (handle, stream), masked; with `flush`
  // (the process ended) everything left. "" when there is nothing to show.
  std::string Take(int handle, bool is_stderr, const std::string& data, bool flush, const Masker& masker);

 private:
  std::map<std::pair<int, bool>, std::string> partial_;  // (handle, stderr) -> unended line
};

// What a step wrote to its $RUNBOOK_OUTPUT file, which is then removed ("" if none).
std::string TakeOutputFile(const std::string& path);

// The last `lines` lines of `text`.
std::string TailLines(const std::string& text, int lines);

// What a failure message shows of a step's output, at most `lines` lines:
// all of it if short; else its first line (where a program names the cause)
// and the last lines, with a line saying how many were left out between.
std::string FailureLines(const std::string& text, int lines);

}  // namespace runbook
