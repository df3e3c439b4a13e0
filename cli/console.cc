#include "cli/console.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <istream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

namespace runbook::cli {

TextReporter::TextReporter(std::ostream* out, bool live, bool color, std::optional<int64_t> rto_ms)
    : out_(out), live_(live), color_(color), rto_ms_(rto_ms) {}

std::string TextReporter::Paint(const std::string& text, const char* code) const {
  return color_ ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
}

// A line above the live status line: the status line is cleared, the line
// written, and the status line drawn again under it, so step output never
// hides it until the next tick. Drawn again only while steps run: a stale
// line left under the last one would glue to what is printed after the run.
void TextReporter::Line(const std::string& text) {
  bool redraw = status_shown_ && !running_.empty();
  if (status_shown_) {
    *out_ << "\r\033[K";
    status_shown_ = false;
  }
  *out_ << text << "\n";
  if (redraw && !last_status_.empty()) {
    *out_ << last_status_;
    status_shown_ = true;
  }
  *out_ << std::flush;
}

void TextReporter::Event(const ReportEvent& e) {
  const std::string& k = e.kind;
  std::string dur = e.duration_ms >= 0 ? " (" + HumanDuration(e.duration_ms) + ")" : "";
  auto indent = [](const std::string& text) {
    std::string out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out += "\n      " + line;
    return out;
  };
  if (k == "run.started") {
    run_started_ = e.at - std::max<int64_t>(0, e.duration_ms);  // a resumed run's clock goes on
    Line("runbook: run " + e.run_id + " of " + e.message + " started");
  } else if (k == "step.started") {
    running_[e.step] = e.at;
    std::string attempt = e.attempt > 1 ? " (attempt " + std::to_string(e.attempt) + ")" : "";
    Line("  " + Paint("start", "36") + "  " + e.step + attempt + (e.message.empty() || e.message == e.step ? "" : ": " + e.message));
  } else if (k == "step.output") {
    std::string& buf = partial_[e.step + "/" + e.stream];
    buf += e.data;
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      Line("    " + Paint(e.step + " |", "2") + " " + buf.substr(0, nl));
      buf.erase(0, nl + 1);
    }
  } else if (k == "step.finished") {
    running_.erase(e.step);
    for (const char* stream : {"/stdout", "/stderr"}) {
      auto it = partial_.find(e.step + stream);
      if (it != partial_.end() && !it->second.empty()) Line("    " + Paint(e.step + " |", "2") + " " + it->second);
      if (it != partial_.end()) partial_.erase(it);
    }
    if (e.status == "succeeded") {
      Line("  " + Paint("ok", "32") + "     " + e.step + dur);
    } else if (e.status == "skipped") {
      Line("  " + Paint("skip", "33") + "   " + e.step + (e.message.empty() ? "" : ": " + e.message));
    } else if (e.status == "interrupted") {
      Line("  " + Paint("stop", "33") + "   " + e.step + " interrupted" + dur);
    } else if (e.continued) {  // the runbook expected it might: not the run's failure
      Line("  " + Paint("fail", "33") + "   " + e.step + " failed (" + e.reason + "), continued" + dur +
           indent(e.message));
    } else {
      Line("  " + Paint("FAIL", "31;1") + "   " + e.step + " failed (" + e.reason + ")" + dur + indent(e.message));
    }
  } else if (k == "step.retry") {
    Line("  " + Paint("retry", "33") + "  " + e.step + ": " + e.message);
  } else if (k == "step.waiting") {
    running_.erase(e.step);
    Line("  " + Paint("wait", "35") + "   " + e.step + " needs a person: " + e.message);
  } else if (k == "waiting") {
    // Without a terminal, what the person must read is printed in full.
    Line("  " + Paint("ask", "35") + "    " + e.step + (e.message == e.step ? "" : " (" + e.message + ")") + ":" +
         indent(e.data));
    for (const auto& item : e.checklist) Line("      [ ] " + item);
  } else if (k == "decision") {
    Line("  " + Paint("answer", "35") + " " + e.step + " = " + e.message + " (" + e.reason +
         (e.data.empty() ? "" : "; overrides the rules' choice, " + e.data) + ")");
  } else if (k == "verify") {
    Line("  " + Paint(e.status == "succeeded" ? "check" : "check!", e.status == "succeeded" ? "32" : "33") + "  " +
         e.step + ": " + e.message);
  } else if (k == "preflight") {
    Line("  " + Paint(e.status == "succeeded" ? "pre" : "PRE!", e.status == "succeeded" ? "32" : "31;1") + "    " +
         e.step + (e.message.empty() ? "" : indent(e.message)));
  } else if (k == "escalation") {
    Line("  " + Paint("ESCALATE", "31;1") + " " + e.message);
  } else if (k == "notify.failed") {
    Line("  " + Paint("notify!", "33") + " " + e.message + " (the run goes on)");
  } else if (k == "rollback.started") {
    Line(Paint("rolling back: ", "33;1") + e.message);
  } else if (k == "rollback") {
    Line("  " + Paint(e.status == "succeeded" ? "undo" : "UNDO!", e.status == "succeeded" ? "33" : "31;1") + "   " +
         e.step + dur + indent(e.message));
  } else if (k == "run.finished") {
    running_.clear();  // the live line goes with the run
    std::string color = e.status == "succeeded" ? "32;1" : e.status == "waiting" ? "35;1" : "31;1";
    Line("run " + e.run_id + " " + Paint(e.status, color.c_str()) + (e.reason.empty() ? "" : " (" + e.reason + ")") +
         " in " + HumanDuration(e.duration_ms));
  }
}

void TextReporter::Tick(int64_t wall_ms) {
  if (live_ && running_.empty() && status_shown_) {  // nothing runs (a step waits): no line to keep
    *out_ << "\r\033[K" << std::flush;
    status_shown_ = false;
  }
  if (!live_ || running_.empty()) return;
  std::string text = "  running:";
  const char* sep = " ";
  for (const auto& [step, started] : running_) {
    text += sep + step + " " + HumanDuration(wall_ms - started);
    sep = ", ";
  }
  if (rto_ms_ && run_started_) {
    int64_t left = *rto_ms_ - (wall_ms - run_started_);
    text += left >= 0 ? " | RTO left " + HumanDuration(left) : " | RTO exceeded by " + HumanDuration(-left);
  }
  last_status_ = Paint(text, "2");
  *out_ << "\r\033[K" << last_status_ << std::flush;
  status_shown_ = true;
}

void JsonReporter::Event(const ReportEvent& e) {
  nlohmann::json j;
  j["event"] = e.kind;
  j["run"] = e.run_id;
  j["at"] = Rfc3339(e.at);
  if (!e.step.empty()) j["step"] = e.step;
  if (!e.status.empty()) j["status"] = e.status;
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (!e.message.empty()) j["message"] = e.message;
  if (!e.stream.empty()) j["stream"] = e.stream;
  if (e.kind == "step.output") j["data"] = e.data;
  if (e.kind == "decision" && !e.data.empty()) j["overrides"] = e.data;
  if (e.continued) j["continued"] = true;
  if (e.kind == "waiting") {
    if (!e.data.empty()) j["text"] = e.data;
    j["choices"] = e.choices;
    j["commands"] = e.commands;
    if (!e.checklist.empty()) j["checklist"] = e.checklist;
  }
  if (e.attempt) j["attempt"] = e.attempt;
  if (e.exit_code) j["exit_code"] = *e.exit_code;
  if (e.duration_ms >= 0) j["duration_ms"] = e.duration_ms;
  // Invalid UTF-8 in a command's output must not break the stream.
  *out_ << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush;
}

bool TtyAsker::LineOrElsewhere(const std::function<bool()>& elsewhere) {
  if (fd_ < 0) return true;
  while (in_->rdbuf()->in_avail() <= 0) {
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, 250);
    if (n != 0) return true;  // a line, the end of input or a signal: getline goes on as without a poll
    if (elsewhere()) return false;
  }
  return true;
}

std::optional<std::string> TtyAsker::Ask(const std::string& step, const std::string& text,
                                         const std::vector<std::string>& checklist,
                                         const std::vector<std::string>& choices,
                                         const std::function<bool()>& elsewhere) {
  *out_ << "\n== " << step << " ==\n" << text << (text.empty() || text.back() == '\n' ? "" : "\n");
  for (const auto& item : checklist) *out_ << "  [ ] " << item << "\n";
  while (true) {
    *out_ << "Answer (";
    for (size_t i = 0; i < choices.size(); ++i) *out_ << (i ? "/" : "") << choices[i];
    *out_ << "): " << std::flush;
    std::string line;
    if (!LineOrElsewhere(elsewhere)) {
      *out_ << "\n(answered on the web page)\n" << std::flush;
      return std::nullopt;
    }
    if (!std::getline(*in_, line)) return std::nullopt;
    line.erase(0, line.find_first_not_of(" \t"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    for (const auto& c : choices)
      if (c == line) return line;
    *out_ << "'" << line << "' is not one of the answers.\n";
  }
}

std::optional<std::string> DryRunAsker::Ask(const std::string& step, const std::string& text,
                                            const std::vector<std::string>&, const std::vector<std::string>& choices,
                                            const std::function<bool()>&) {
  std::string answer = choices.empty() ? "done" : choices[0];
  if (const Step* s = rb_->FindStep(step); s && s->kind == StepKind::kDecision && s->decision.default_choice)
    answer = s->decision.default_choice->value;
  *out_ << "would ask a person (" << step << "): " << text << (text.empty() || text.back() == '\n' ? "" : "\n")
        << "    assuming: " << answer << "\n";
  return answer;
}

}  // namespace runbook::cli
