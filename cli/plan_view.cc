#include "cli/plan_view.h"

#include <sstream>

#include "engine/graph.h"

namespace runbook::cli {
namespace {

std::string OneLine(const std::string& s, size_t max = 72) {
  std::string out;
  for (char c : s) out += (c == '\n' || c == '\t') ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > max) out = out.substr(0, max - 3) + "...";
  return out;
}

// A script as it will run, one line per line, indented under `lead`; past
// `max_lines`, how many more there are.
std::string Script(const std::string& lead, const std::string& text, size_t max_lines = 12) {
  std::string out, indent(lead.size(), ' ');
  std::istringstream in(text);
  std::string line;
  size_t n = 0, total = 0;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  while (!lines.empty() && lines.back().find_first_not_of(" \t") == std::string::npos) lines.pop_back();
  total = lines.size();
  for (const auto& l : lines) {
    if (++n > max_lines) {
      out += indent + "... (" + std::to_string(total - max_lines) + " more lines)\n";
      break;
    }
    out += (n == 1 ? lead : indent) + l + "\n";
  }
  return out.empty() ? lead + "\n" : out;
}

std::string RetryText(const RetryPolicy& r) {
  if (r.attempts <= 1) return "";
  std::string out = std::to_string(r.attempts) + " attempts, delay " + FormatDuration(r.delay);
  if (r.backoff != 1.0) {
    std::ostringstream b;
    b << r.backoff;
    out += " x" + b.str() + " up to " + FormatDuration(r.max_delay);
  }
  return out;
}

// What wait steps and unestimated steps cost on the critical path.
std::optional<Millis> Estimate(const Step& s) {
  if (s.estimate) return s.estimate;
  if (s.kind == StepKind::kWait) return s.wait;
  return std::nullopt;
}

class PlanWriter {
 public:
  PlanWriter(const Runbook& rb, const InputValues& inputs) : rb_(rb), inputs_(inputs) {}

  std::string Render() {
    Header();
    Inputs();
    Preflight();
    Steps("Plan", rb_.steps);
    if (!rb_.finally.empty()) Steps("Finally (after steps and rollback, whatever the outcome)", rb_.finally);
    Critical();
    Escalation();
    return out_.str();
  }

 private:
  void Header() {
    out_ << rb_.name << ": " << rb_.Title() << "\n";
    std::vector<std::string> facts;
    if (!rb_.owner.empty()) facts.push_back("owner " + rb_.owner);
    if (!rb_.severity.empty()) facts.push_back("severity " + rb_.severity);
    if (rb_.rto) facts.push_back("RTO " + FormatDuration(*rb_.rto));
    if (rb_.rpo) facts.push_back("RPO " + FormatDuration(*rb_.rpo));
    if (rb_.timeout) facts.push_back("run timeout " + FormatDuration(*rb_.timeout));
    facts.push_back(std::string("on failure: ") + (rb_.rollback_on_failure ? "rollback" : "stop"));
    facts.push_back(rb_.exclusive ? "one run at a time" : "concurrent runs allowed");
    out_ << " ";
    for (size_t i = 0; i < facts.size(); ++i) out_ << (i ? " | " : " ") << facts[i];
    out_ << "\n  file " << rb_.source.path() << "\n";
    if (!rb_.purpose.empty()) out_ << "  purpose: " << OneLine(rb_.purpose, 200) << "\n";
  }

  void Inputs() {
    if (rb_.inputs.empty()) return;
    out_ << "\nInputs\n";
    for (const auto& d : rb_.inputs) {
      out_ << "  " << d.name << " = ";
      auto it = inputs_.values.find(d.name);
      if (it != inputs_.values.end())
        out_ << (d.secret ? "***" : it->second);
      else if (d.required)
        out_ << "(required, not given)";
      else
        out_ << "(empty)";
      std::vector<std::string> notes;
      if (d.secret) notes.push_back("secret");
      if (!d.from_env.empty()) notes.push_back("from $" + d.from_env);
      if (d.type != InputDecl::Type::kString) notes.push_back(ToString(d.type));
      if (!d.enum_values.empty()) {
        std::string e;
        for (const auto& v : d.enum_values) e += (e.empty() ? "" : "|") + v;
        notes.push_back("one of " + e);
      }
      if (!d.pattern.empty()) notes.push_back("matching " + d.pattern);
      if (!notes.empty()) {
        out_ << "  [";
        for (size_t i = 0; i < notes.size(); ++i) out_ << (i ? ", " : "") << notes[i];
        out_ << "]";
      }
      if (!d.description.empty()) out_ << "  " << OneLine(d.description);
      out_ << "\n";
    }
  }

  void Preflight() {
    if (rb_.preflight.empty()) return;
    out_ << "\nPreflight (all must pass before any step starts)\n";
    for (const auto& c : rb_.preflight) {
      out_ << "  - " << OneLine(c.name) << Check(c, true) << "\n";
      if (c.name != c.run.raw && c.run.raw.find('\n') != std::string::npos) out_ << Script("      $ ", c.run.raw);
    }
  }

  std::string Check(const runbook::Check& c, bool show_command) {
    std::string out;
    if (show_command && c.name != c.run.raw && c.run.raw.find('\n') == std::string::npos)
      out += ": " + OneLine(c.run.raw, 60);
    std::vector<std::string> notes;
    if (c.expect.exit_code && *c.expect.exit_code != 0) notes.push_back("exit " + std::to_string(*c.expect.exit_code));
    if (!c.expect.exit_code) notes.push_back("any exit code");
    if (!c.expect.stdout_regex.empty()) notes.push_back("stdout ~ /" + c.expect.stdout_regex + "/");
    if (!c.expect.stderr_regex.empty()) notes.push_back("stderr ~ /" + c.expect.stderr_regex + "/");
    if (c.retries > 0)
      notes.push_back(std::to_string(c.retries + 1) + " tries every " + FormatDuration(c.interval));
    if (c.timeout) notes.push_back("timeout " + FormatDuration(*c.timeout));
    if (notes.empty()) return out;
    out += " (";
    for (size_t i = 0; i < notes.size(); ++i) out += (i ? ", " : "") + notes[i];
    return out + ")";
  }

  void Steps(const std::string& title, const std::vector<Step>& steps) {
    StepGraph graph(steps);
    auto waves = graph.Waves();
    auto branches = graph.BranchesOf();
    int widest = 0;
    for (const auto& w : waves) widest = std::max(widest, graph.MostAtOnce(w, branches));
    out_ << "\n" << title << ": " << steps.size() << " step" << (steps.size() == 1 ? "" : "s") << " in "
         << waves.size() << " wave" << (waves.size() == 1 ? "" : "s") << " (up to " << widest
         << " at once)\n";
    for (size_t w = 0; w < waves.size(); ++w) {
      out_ << "  wave " << (w + 1) << "\n";
      for (int v : waves[w]) StepLine(graph.step(v), OnBranch(graph, branches[v]));
    }
  }

  // "assess chooses restart": what must be taken for the step to run.
  static std::string OnBranch(const StepGraph& graph, const StepGraph::Branches& on) {
    std::string out;
    for (const auto& [decision, choices] : on) {
      std::string any;
      for (const auto& c : choices) any += (any.empty() ? "" : " or ") + c;
      out += (out.empty() ? "" : " and ") + graph.step(decision).id + " chooses " + any;
    }
    return out;
  }

  void StepLine(const Step& s, const std::string& branch) {
    ++number_;
    out_ << "    " << number_ << ". " << s.id << " [" << ToString(s.kind) << "]";
    if (s.DisplayName() != s.id) out_ << " " << OneLine(s.DisplayName(), 60);
    out_ << "\n";
    std::vector<std::string> facts;
    if (!s.needs.empty()) {
      std::string n;
      for (const auto& x : s.needs) n += (n.empty() ? "" : ", ") + x.value;
      facts.push_back("needs " + n);
    }
    if (!branch.empty()) facts.push_back("only if " + branch);
    if (s.when) facts.push_back("when " + ToString(*s.when));
    // A timeout stops a process: a person's question and a wait have none.
    if (s.timeout && (s.kind == StepKind::kRun || s.kind == StepKind::kRunbook))
      facts.push_back("timeout " + FormatDuration(*s.timeout));
    if (auto r = RetryText(s.retry); !r.empty()) facts.push_back(r);
    if (s.estimate) facts.push_back("estimate " + FormatDuration(*s.estimate));
    if (s.continue_on_failure) facts.push_back("failure continues");
    if (!s.idempotent) facts.push_back("not idempotent: never re-run without a person");
    if (!facts.empty()) {
      out_ << "         ";
      for (size_t i = 0; i < facts.size(); ++i) out_ << (i ? "; " : "") << facts[i];
      out_ << "\n";
    }
    Kind(s);
    for (const auto& c : s.verify) {
      out_ << "         verify: " << OneLine(c.name, 60) << Check(c, false) << "\n";
      if (c.name != c.run.raw) out_ << Script("           $ ", c.run.raw);
    }
    if (s.rollback) {
      out_ << "         rollback" << (s.rollback->timeout ? " (timeout " + FormatDuration(*s.rollback->timeout) + ")" : "")
           << ":\n"
           << Script("           $ ", s.rollback->run.raw);
    }
    for (const auto& o : s.outputs) {
      out_ << "         output " << o.name << " <- "
           << (o.source == OutputSpec::Source::kStdout     ? std::string("stdout")
               : o.source == OutputSpec::Source::kExitCode ? std::string("exit code")
                                                           : "/" + o.regex + "/")
           << "\n";
    }
  }

  void Kind(const Step& s) {
    switch (s.kind) {
      case StepKind::kRun: out_ << Script("         $ ", s.run.raw); break;
      case StepKind::kManual:
        out_ << "         person: " << OneLine(s.manual.raw, 60) << "\n";
        for (const auto& item : s.checklist) out_ << "           [ ] " << OneLine(item, 60) << "\n";
        break;
      case StepKind::kWait: out_ << "         wait " << FormatDuration(s.wait) << "\n"; break;
      case StepKind::kRunbook: out_ << "         runs runbook " << s.runbook.value << "\n"; break;
      case StepKind::kDecision: {
        const auto& d = s.decision;
        if (d.prompt) out_ << "         asks: " << OneLine(d.prompt->raw, 60) << "\n";
        for (const auto& c : d.choices) {
          out_ << "         - " << c.value << ": ";
          if (c.when)
            out_ << "when " << ToString(*c.when);
          else
            out_ << (d.prompt ? "if a person chooses it" : "otherwise");
          if (d.default_choice && d.default_choice->value == c.value) out_ << " (default)";
          std::string targets;
          for (const auto& t : c.go_to) targets += (targets.empty() ? "" : ", ") + t.value;
          out_ << " -> " << (targets.empty() ? "(no branch)" : targets) << "\n";
        }
        break;
      }
    }
  }

  void Critical() {
    StepGraph graph(rb_.steps);
    auto path = graph.Critical(Estimate);
    out_ << "\nCritical path (estimates, every branch counted): ";
    for (size_t i = 0; i < path.path.size(); ++i) out_ << (i ? " -> " : "") << graph.step(path.path[i]).id;
    out_ << "\n  total " << FormatDuration(path.total);
    bool estimated = path.unestimated < static_cast<int>(path.path.size());
    if (rb_.rto && !estimated) {
      // Zero against the RTO would read as "within target": it says nothing.
      out_ << " against RTO " << FormatDuration(*rb_.rto)
           << ": no step on the path has an estimate, so the RTO cannot be checked";
    } else if (rb_.rto) {
      Millis rto = *rb_.rto;
      out_ << " against RTO " << FormatDuration(rto) << ": ";
      if (path.total <= rto)
        out_ << "within target, " << FormatDuration(rto - path.total) << " to spare";
      else
        out_ << "EXCEEDS the RTO by " << FormatDuration(path.total - rto);
    } else {
      out_ << " (no RTO target set)";
    }
    out_ << "\n";
    if (path.unestimated > 0)
      out_ << "  " << path.unestimated << " step" << (path.unestimated == 1 ? "" : "s")
           << " on the path " << (path.unestimated == 1 ? "has" : "have") << " no estimate and count as 0\n";
  }

  void Escalation() {
    if (rb_.escalation.empty()) return;
    out_ << "\nEscalation\n";
    for (const auto& e : rb_.escalation) {
      out_ << "  " << ToString(e.when);
      if (e.after) out_ << " after " << FormatDuration(*e.after);
      out_ << ": " << e.contact << "\n";
    }
  }

  const Runbook& rb_;
  const InputValues& inputs_;
  std::ostringstream out_;
  int number_ = 0;
};

}  // namespace

std::string RenderPlan(const Runbook& rb, const InputValues& inputs) { return PlanWriter(rb, inputs).Render(); }

}  // namespace runbook::cli
