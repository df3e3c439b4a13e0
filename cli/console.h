// What a person (or a program) sees of a run: plain lines, a live status
// line on a TTY, or one JSON object per line (--output json). And the person
// at the terminal who answers manual steps and decisions.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>

#include "engine/executor.h"
#include "engine/timefmt.h"

namespace runbook::cli {


class TextReporter : public Reporter {
 public:
  // `live`: a TTY (status line, elapsed times); `color`: ANSI colours.
  TextReporter(std::ostream* out, bool live, bool color, std::optional<int64_t> rto_ms);
  void Event(const ReportEvent& e) override;
  void Tick(int64_t wall_ms) override;

 private:
  void Line(const std::string& text);
  std::string Paint(const std::string& text, const char* code) const;

  std::ostream* out_;
  bool live_, color_;
  std::optional<int64_t> rto_ms_;
  int64_t run_started_ = 0;
  std::map<std::string, int64_t> running_;  // step -> started (wall ms)
  bool status_shown_ = false;
  std::string last_status_;  // the live line last drawn, to draw again under new lines
  std::map<std::string, std::string> partial_;  // step -> output not yet ended by a newline
};

class JsonReporter : public Reporter {
 public:
  explicit JsonReporter(std::ostream* out) : out_(out) {}
  void Event(const ReportEvent& e) override;

 private:
  std::ostream* out_;
};

// Asks on the terminal when standard input is one. With `fd` (the
// descriptor under `in`), it waits for a line with poll(), so that an answer
// given on the web page meanwhile ends the question.
class TtyAsker : public Asker {
 public:
  TtyAsker(std::istream* in, std::ostream* out, bool available, int fd = -1)
      : in_(in), out_(out), available_(available), fd_(fd) {}
  bool available() const override { return available_; }
  std::optional<std::string> Ask(const std::string& step, const std::string& text,
                                 const std::vector<std::string>& checklist, const std::vector<std::string>& choices,
                                 const std::function<bool()>& elsewhere) override;

 private:
  // Whether a line can be read now, else whether it was answered elsewhere.
  bool LineOrElsewhere(const std::function<bool()>& elsewhere);
  std::istream* in_;
  std::ostream* out_;
  bool available_;
  int fd_;
};

// --dry-run: shows what a person would be asked and answers for them (the
// default choice, else the first; "done" for manual steps).
class DryRunAsker : public Asker {
 public:
  DryRunAsker(std::ostream* out, const Runbook* rb) : out_(out), rb_(rb) {}
  bool available() const override { return true; }
  std::optional<std::string> Ask(const std::string& step, const std::string& text,
                                 const std::vector<std::string>& checklist, const std::vector<std::string>& choices,
                                 const std::function<bool()>& elsewhere) override;

 private:
  std::ostream* out_;
  const Runbook* rb_;
};

}  // namespace runbook::cli
