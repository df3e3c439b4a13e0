#include "import/importer.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "engine/diagnostic.h"
#include "engine/limits.h"
#include "engine/parser.h"
#include "engine/shell_syntax.h"
#include "engine/template.h"
#include "engine/validate.h"
#include "import/commands.h"
#include "import/page.h"

namespace runbook {
namespace {

using import::Block;
using import::Item;
using import::OneLine;
using import::Page;
using import::Section;
using import::Trim;

using import::Lower;

bool StartsWithWord(const std::string& lower, const char* word) {
  size_t n = std::char_traits<char>::length(word);
  return lower.compare(0, n, word) == 0 && (lower.size() == n || !std::isalnum(static_cast<unsigned char>(lower[n])));
}

// `{{` would start a template: shown literally through one.
std::string NoTemplates(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "{{") == 0) {
      out += "{{ '{{' }}";
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A code block as Markdown, with a fence longer than any run of backquotes in it.
std::string Fenced(const std::string& info, const std::string& code) {
  std::string fence = "```";
  while (code.find(fence) != std::string::npos) fence += '`';
  std::string body = code;
  if (!body.empty() && body.back() != '\n') body += '\n';
  return fence + info + "\n" + body + fence;
}

// ---- roles of sections -------------------------------------------------

enum class Role { kSteps, kPreflight, kVerify, kRollback, kEscalation, kPurpose, kReference };

Role RoleOfPart(const std::string& h) {
  auto has = [&](std::initializer_list<const char*> words) {
    for (const char* w : words)
      if (h.find(w) != std::string::npos) return true;
    return false;
  };
  if (has({"prerequisite", "pre-requisite", "pre requisite", "preflight", "pre-flight", "before you begin",
           "before you start", "before starting", "before you run", "requirements", "you will need", "you'll need",
           "pre-check", "precheck", "pre-deployment", "pre-deploy", "preparation"}))
    return Role::kPreflight;
  if (has({"rollback", "roll back", "roll-back", "rolling back", "revert", "back out", "backout", "back-out", "undo", "fallback",
           "fall back", "abort"}))
    return Role::kRollback;
  if (has({"verif", "validat", "post-check", "postcheck", "post check", "post-operation", "post-deploy",
           "post-upgrade", "post-restore", "smoke test", "check that it worked", "check the result", "afterwards check",
           "sanity check", "confirm the"}))
    return Role::kVerify;
  if (has({"escalat", "contact", "who to page", "who to call", "on-call", "oncall", "on call", "getting help",
           "get help", "owners", "paging"}))
    return Role::kEscalation;
  if (has({"quick reference", "reference", "cheat sheet", "cheatsheet", "kpi", "key metrics", "metrics",
           "key performance", "links", "dashboards", "dashboard", "tools", "resources", "related", "see also",
           "contents", "index", "directory", "glossary", "appendix", "faq", "troubleshooting", "known issues",
           "history", "changelog", "revision", "urls", "recovery objective", "recovery target", "rto", "rpo",
           "severity", "alert levels", "thresholds", "targets", "standards", "documentation", "commands",
           "what the alert looks like", "architecture", "cost", "monitoring stack", "maintenance window",
           "further reading", "notes"}))
    return Role::kReference;
  if (has({"purpose", "overview", "summary", "introduction", "about this", "background", "context", "when to use",
           "scope", "description"}))
    return Role::kPurpose;
  return Role::kSteps;
}

// A heading's role; one that joins two roles ("Deploy and roll back") is steps.
Role RoleOf(const std::string& heading) {
  std::string h = Lower(heading);
  std::vector<std::string> parts;
  for (const char* sep : {" and ", " & ", " / "}) {
    size_t at = h.find(sep);
    if (at != std::string::npos) {
      parts = {h.substr(0, at), h.substr(at + std::char_traits<char>::length(sep))};
      break;
    }
  }
  if (parts.empty()) return RoleOfPart(h);
  Role a = RoleOfPart(parts[0]), b = RoleOfPart(parts[1]);
  return a == b ? a : Role::kSteps;
}

// A subsection keeps its parent's role (the tools of a prerequisites
// section are prerequisites); contacts are contacts wherever they are.
Role Inherit(Role parent, Role own) {
  if (own == Role::kEscalation) return own;
  if (parent == Role::kPreflight || parent == Role::kVerify || parent == Role::kRollback ||
      parent == Role::kEscalation || parent == Role::kReference)
    return parent;
  return own == Role::kSteps ? parent : own;
}

// "Option A: ...", "Alternative 2 - ...", "Approach B", "Method 1".
bool IsOptionLabel(const std::string& text) {
  std::string l = Lower(text);
  for (const char* w : {"option", "alternative", "approach", "method", "plan", "choice", "scenario"}) {
    if (!StartsWithWord(l, w)) continue;
    size_t i = std::char_traits<char>::length(w);
    while (i < l.size() && l[i] == ' ') ++i;
    size_t b = i;
    while (i < l.size() && std::isalnum(static_cast<unsigned char>(l[i]))) ++i;
    if (i == b || i - b > 2) return false;  // "Option A", "Option 12", not "Optional"
    return i == l.size() || !std::isalnum(static_cast<unsigned char>(l[i]));
  }
  return false;
}

// Numbered headings ("1. Confirm", "Step 2", "Phase 3: Recover") are a sequence.
bool Numbered(const std::string& heading) {
  std::string l = Lower(heading);
  if (!l.empty() && std::isdigit(static_cast<unsigned char>(l[0]))) return true;
  for (const char* w : {"step", "phase", "stage", "part"}) {
    if (!StartsWithWord(l, w)) continue;
    size_t i = std::char_traits<char>::length(w);
    while (i < l.size() && l[i] == ' ') ++i;
    if (i < l.size() && std::isdigit(static_cast<unsigned char>(l[i]))) return true;
  }
  return false;
}

enum class Cond { kNone, kIf, kOtherwise, kWhen, kOption };

Cond CondOf(const std::string& text, bool label) {
  std::string l = Lower(text);
  if (IsOptionLabel(text) && (label || l.find(':') != std::string::npos || l.find(" - ") != std::string::npos ||
                              l.find("\xe2\x80\x94") != std::string::npos))
    return Cond::kOption;
  if (StartsWithWord(l, "otherwise") || StartsWithWord(l, "else") || StartsWithWord(l, "alternatively") ||
      StartsWithWord(l, "if not") || StartsWithWord(l, "if neither") || StartsWithWord(l, "if none") ||
      StartsWithWord(l, "if that does not") || StartsWithWord(l, "if this does not") ||
      StartsWithWord(l, "if that doesn't") || StartsWithWord(l, "in case neither"))
    return Cond::kOtherwise;
  if (StartsWithWord(l, "if") || StartsWithWord(l, "in case") || StartsWithWord(l, "unless") ||
      StartsWithWord(l, "should"))
    return Cond::kIf;
  if (StartsWithWord(l, "when")) return Cond::kWhen;
  // "Manual deployment (if automation fails):", "Database rollback (if needed)"
  if (l.find("(if ") != std::string::npos && l.size() < 120) return Cond::kIf;
  return Cond::kNone;
}

// Text that tells a person to do something: "Create a PR ...", "Then tell ...".
bool Imperative(const std::string& text) {
  static const std::set<std::string> kVerbs = {
      "create", "open", "merge", "run", "check", "confirm", "verify", "ensure", "make", "set", "update", "tell",
      "notify", "post", "page", "wait", "stop", "start", "restart", "delete", "remove", "add", "go", "log",
      "ask", "get", "review", "revert", "roll", "scale", "drain", "cordon", "uncordon", "announce", "declare",
      "escalate", "contact", "call", "email", "send", "file", "write", "record", "document", "capture", "take",
      "copy", "move", "upload", "download", "apply", "deploy", "rotate", "revoke", "disable", "enable", "block",
      "isolate", "preserve", "collect", "identify", "assess", "determine", "find", "look", "close", "schedule",
      "communicate", "inform", "acknowledge", "ack", "monitor", "watch", "keep", "switch", "promote", "fail",
      "restore", "rebuild", "rerun", "re-run", "install", "configure", "edit", "change", "replace", "patch",
      "increase", "decrease", "reduce", "purge", "clear", "flush", "kill", "terminate", "shut", "bring", "put",
      "mark", "note", "compare", "validate", "test", "sign", "approve", "hand", "coordinate", "reset", "reload",
      "re-enable", "resume", "pause", "suspend", "snapshot", "back", "export", "import", "invalidate", "warm",
      "share", "reach", "let", "do", "use", "try", "pick", "choose", "select", "decide", "request", "submit",
      "spin", "provision", "attach", "detach", "mount", "unmount", "resize", "grow", "extend", "expire", "renew",
      "generate", "issue", "store", "save", "tag", "label", "join", "leave", "lock", "unlock", "retire", "plan",
      "prepare", "review", "gather", "triage", "investigate", "escalate", "reproduce", "fix", "roll-back",
      "rollback", "uninstall", "downgrade", "upgrade", "migrate", "drop", "truncate", "vacuum", "reindex",
      "analyze", "analyse", "inspect", "search", "grep", "read", "list", "print", "show", "view", "visit",
      "browse", "navigate", "click", "login", "sign-in", "ssh", "connect", "disconnect", "forward", "paste",
      "repeat", "type", "enter", "fill", "raise", "lower", "page", "wake", "hold", "freeze", "unfreeze"};
  std::string l = Lower(text);
  for (const char* lead : {"then ", "next, ", "next ", "finally, ", "now ", "now, ", "first, ", "first ", "also ",
                           "please ", "afterwards, ", "once done, "})
    if (l.rfind(lead, 0) == 0) l = l.substr(std::char_traits<char>::length(lead));
  std::string first;
  for (char c : l) {
    if (!std::isalpha(static_cast<unsigned char>(c)) && c != '-') break;
    first += c;
  }
  return kVerbs.count(first) > 0;
}

bool SaysParallel(const Section& s) {
  for (const auto& b : s.blocks) {
    if (b.kind != Block::Kind::kParagraph && b.kind != Block::Kind::kNote && b.kind != Block::Kind::kQuote) continue;
    std::string l = Lower(b.text);
    for (const char* w : {"in parallel", "at the same time", "simultaneously", "concurrently"})
      if (l.find(w) != std::string::npos) return true;
  }
  return false;
}

// "1 hour", "15 minutes", "< 4h", "30m": as a duration the format reads.
std::optional<std::string> DurationIn(const std::string& text) {
  std::string l = Lower(text);
  for (size_t i = 0; i < l.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(l[i])) || (i > 0 && (std::isalnum(static_cast<unsigned char>(l[i - 1])) || l[i - 1] == '.' || l[i - 1] == ':')))
      continue;
    size_t e = i;
    while (e < l.size() && std::isdigit(static_cast<unsigned char>(l[e]))) ++e;
    if (e - i > 6) continue;
    std::string number = l.substr(i, e - i);
    size_t u = e;
    while (u < l.size() && l[u] == ' ') ++u;
    size_t ue = u;
    while (ue < l.size() && std::isalpha(static_cast<unsigned char>(l[ue]))) ++ue;
    std::string unit = l.substr(u, ue - u);
    const char* suffix = nullptr;
    if (unit == "s" || unit == "sec" || unit == "secs" || unit == "second" || unit == "seconds") suffix = "s";
    if (unit == "m" || unit == "min" || unit == "mins" || unit == "minute" || unit == "minutes") suffix = "m";
    if (unit == "h" || unit == "hr" || unit == "hrs" || unit == "hour" || unit == "hours") suffix = "h";
    if (unit == "d" || unit == "day" || unit == "days") suffix = "d";
    if (suffix) return number + suffix;
  }
  return std::nullopt;
}

std::string Slug(const std::string& text, size_t max = 40) { return import::Slug(text, '-', max); }

// ---- the draft -----------------------------------------------------------

struct DStep {
  std::string id, name, description;
  std::vector<std::string> needs;
  enum class Kind { kRun, kManual, kDecision } kind = Kind::kManual;
  std::string run, manual;
  std::vector<std::string> checklist;
  std::string prompt;
  std::vector<std::pair<std::string, std::vector<std::string>>> choices;  // value, goto
  std::string rollback;
  std::string when;
  // What the page showed, for a run step turned back into a manual one.
  std::string lead, shown;
};

struct PreCheck {
  std::string name, run, lead, shown;
};

struct Contact {
  std::string contact;
  std::optional<std::string> after;
};

// What a rollback section says: a command to attach, or prose for a person.
struct RollbackPart {
  std::string script;    // a command, templated
  std::string markdown;  // what a person reads (prose, or the block shown)
  std::string shown;     // the command as the page showed it
  std::string heading;   // of the section it came from
};

struct Scope {
  std::optional<size_t> first_step, first_run;
  std::vector<size_t> runs;  // its run steps, in order
  std::vector<RollbackPart> rollbacks;
  std::string heading;
};

class Builder {
 public:
  explicit Builder(const Page& page) : page_(page) {}

  void Build() {
    for (const auto& [k, v] : page_.front) {
      if (k == "title") title_ = v;
      else if (k == "owner") owner_ = v;
      else if (k == "description" || k == "summary") description_ += v + "\n\n";
      else if (!v.empty()) description_ += k + ": " + v + "\n\n";
    }
    if (title_.empty()) title_ = page_.title;
    else if (!page_.title.empty() && page_.title != title_) description_ += "# " + page_.title + "\n\n";
    rollback_page_ = RoleOf(title_) == Role::kRollback;
    FindTargets(page_.root);
    Scope root;
    scopes_.push_back(&root);
    // The page's own text, before any heading: the description, and its commands steps.
    RootBlocks(page_.root.blocks);
    Children(page_.root, Role::kSteps, true);
    scopes_.pop_back();
    FinishScope(root, nullptr);
    Inputs();
  }

  // Every script the draft runs, for the syntax check; and degrading one.
  struct ScriptRef {
    std::string* text;
    std::function<void(const std::string& why)> degrade;
  };
  std::vector<ScriptRef> Scripts() {
    std::vector<ScriptRef> out;
    for (size_t i = 0; i < preflight_.size(); ++i)
      out.push_back({&preflight_[i].run, [this, i](const std::string& why) { DegradePreflight(i, why); }});
    for (size_t i = 0; i < steps_.size(); ++i) {
      if (steps_[i].kind == DStep::Kind::kRun)
        out.push_back({&steps_[i].run, [this, i](const std::string& why) { DegradeStep(i, why); }});
      if (!steps_[i].rollback.empty())
        out.push_back({&steps_[i].rollback, [this, i](const std::string& why) { DegradeRollback(i, why); }});
    }
    return out;
  }

  void DegradeStep(size_t i, const std::string& why) {
    DStep& d = steps_[i];
    if (d.kind != DStep::Kind::kRun) return;
    d.kind = DStep::Kind::kManual;
    d.manual = (d.lead.empty() ? "" : d.lead + "\n\n") + why + "\n\n" + d.shown;
    d.run.clear();
    degraded_.push_back("step '" + d.id + "': " + OneLine(why, 200));
  }
  void DegradeRollback(size_t i, const std::string& why) {
    DStep& d = steps_[i];
    DStep f;
    f.id = UniqueId("undo by hand " + d.id);
    f.name = "Undo by hand: " + d.name;
    f.kind = DStep::Kind::kManual;
    f.manual = why + "\n\n" + Fenced("bash", d.rollback);
    f.when = "run.status != 'succeeded' && succeeded('" + d.id + "')";
    finally_.push_back(f);
    degraded_.push_back("the rollback of step '" + d.id + "': " + OneLine(why, 200));
    d.rollback.clear();
  }
  void DegradePreflight(size_t i, const std::string& why) {
    if (i >= preflight_.size() || preflight_[i].run.empty()) return;
    PreCheck c = preflight_[i];
    preflight_[i].run.clear();  // removed when emitting
    DStep d;
    d.id = UniqueId("check " + c.name);
    d.name = c.name;
    d.kind = DStep::Kind::kManual;
    d.manual = (c.lead.empty() ? "" : c.lead + "\n\n") + why + "\n\n" + c.shown;
    if (!steps_.empty()) steps_.front().needs.push_back(d.id);
    steps_.insert(steps_.begin(), d);
    degraded_.push_back("preflight check '" + c.name + "': " + OneLine(why, 200));
  }
  // A step the validator refused: shown to a person instead.
  bool DegradeAt(size_t i, const std::string& why) {
    if (i >= steps_.size()) return false;
    DStep& d = steps_[i];
    if (d.kind == DStep::Kind::kRun) {
      DegradeStep(i, why);
      return true;
    }
    if (!d.rollback.empty()) {
      DegradeRollback(i, why);
      return true;
    }
    return false;
  }

  std::string Emit(const std::string& name, const std::string& source) const;
  int steps() const { return static_cast<int>(steps_.size() + finally_.size()); }
  const std::vector<std::string>& degraded() const { return degraded_; }

 private:
  // ---- adding steps ----
  size_t Add(DStep d) {
    d.id = UniqueId(d.name.empty() ? "step" : d.name);
    d.needs = tails_;
    std::string from = from_.empty() ? "" : "From: " + from_;
    from_.clear();
    std::string notes = pending_;
    pending_.clear();
    std::string desc;
    for (const std::string& part : {from, notes, d.description})
      if (!Trim(part).empty()) desc += (desc.empty() ? "" : "\n\n") + Trim(part);
    d.description = desc;
    size_t i = steps_.size();
    for (Scope* s : scopes_) {
      if (!s->first_step) s->first_step = i;
      if (!s->first_run && d.kind == DStep::Kind::kRun) s->first_run = i;
      if (d.kind == DStep::Kind::kRun) s->runs.push_back(i);
    }
    tails_ = {d.id};
    steps_.push_back(std::move(d));
    section_steps_.back().push_back(i);
    return i;
  }

  void Note(const std::string& markdown) {
    if (Trim(markdown).empty()) return;
    pending_ += (pending_.empty() ? "" : "\n\n") + Trim(markdown);
  }

  std::string UniqueId(const std::string& name) {
    std::string id = Slug(name);
    if (id.empty()) id = "step";
    if (!std::isalpha(static_cast<unsigned char>(id[0]))) id = "step-" + id;
    std::string unique = id;
    int& n = next_suffix_[id];
    if (n == 0) n = 2;
    while (used_.count(unique)) unique = id + "-" + std::to_string(n++);
    used_.insert(unique);
    return unique;
  }

  // ---- code ----
  // A code block: a run step when it is a command, else a manual step showing it.
  DStep CodeStep(const Block& b, const std::string& lead_text, const std::string& lead_md) {
    import::CodeReading cr = import::ReadCode(b);
    DStep d;
    d.name = OneLine(lead_text);
    if (d.name.empty()) d.name = NameFromCode(cr.command ? cr.script : b.code);
    d.shown = Fenced(b.info, b.code);
    d.lead = lead_md;
    std::optional<std::string> templated;
    if (cr.command) templated = import::Templated(cr.script, &placeholders_);
    if (templated) {
      d.kind = DStep::Kind::kRun;
      d.run = *templated;
      Reads(cr.script);
      d.description = lead_md;
      if (!cr.output.empty()) d.description += "\n\nOutput shown on the page:\n\n" + Fenced("", cr.output);
    } else {
      d.kind = DStep::Kind::kManual;
      std::string lead = cr.command ? "The page's command holds `{{` where runbook cannot pass it safely: run it by hand:"
                                    : cr.lead;
      d.manual = (lead_md.empty() ? "" : lead_md + "\n\n") + lead + "\n\n" + d.shown;
    }
    return d;
  }

  // A code block: one step, or, for a card of separate commands on an index
  // page (each a "# what it does" line and a command or two, apart by blank
  // lines: backup / restore / list), a decision with one branch per command,
  // so that a run never does them all in turn.
  void AddCode(const Block& b, const std::string& lead_text, const std::string& lead_md) {
    // Only on a page of many procedures (an index of reference cards): in a
    // runbook, commented groups in one block are the page's sequence.
    std::vector<std::pair<std::string, std::string>> card;
    if (index_page_) card = Card(b);
    if (card.size() < 2) {
      Add(CodeStep(b, lead_text, lead_md));
      return;
    }
    Note(lead_md);
    Note("The page shows these commands together:\n\n" + Fenced(b.info, b.code));
    std::vector<Branch> branches;
    for (const auto& group : card) {
      Block one = b;
      one.code = group.second;
      std::string comment = group.first;  // a structured binding cannot be captured before C++20 in clang 14
      branches.push_back(Branch{comment, "", [this, one, comment] { Add(CodeStep(one, comment, "")); }});
    }
    branches.push_back(Branch{"None of these: go on without any", "none", {}});
    Decision("Which of these commands does this run need?", branches,
             "Choose: " + OneLine(lead_text.empty() ? from_.empty() ? "a command" : from_ : lead_text, 80));
  }

  static std::vector<std::pair<std::string, std::string>> Card(const Block& b) {
    import::CodeReading cr = import::ReadCode(b);
    std::vector<std::pair<std::string, std::string>> groups;
    if (!cr.command || !cr.output.empty()) return groups;
    std::istringstream in(b.code);
    std::string comment, code;
    int commands = 0;
    bool ok = true;
    auto close = [&] {
      if (comment.empty() && code.empty()) return;
      if (comment.empty() || commands == 0 || commands > 2) ok = false;
      groups.emplace_back(comment, code);
      comment.clear(), code.clear(), commands = 0;
    };
    for (std::string line; std::getline(in, line);) {
      std::string t = Trim(line);
      if (t.empty()) {
        close();
        continue;
      }
      if (t[0] == '#' && code.empty()) {
        comment += (comment.empty() ? "" : " ") + Trim(t.substr(t.find_first_not_of('#')));
      } else if (t[0] != '#') {
        ++commands;
      }
      code += line + "\n";
      if (t.back() == '\\') --commands;  // a continued command counts once
    }
    close();
    if (!ok || groups.size() < 2) groups.clear();
    return groups;
  }

  // Variables a script reads and does not set itself: each step runs in
  // its own shell, so what another block exported is not there.
  void Reads(const std::string& script) {
    std::set<std::string> set = import::VariablesSet(script);
    for (const auto& v : import::VariablesRead(script))
      if (!set.count(v)) read_.insert(v);
  }

  static std::string NameFromCode(const std::string& code) {
    std::istringstream in(code);
    for (std::string line; std::getline(in, line);) {
      std::string t = Trim(line);
      if (t.empty()) continue;
      if (t[0] == '#') t = Trim(t.substr(t.find_first_not_of('#')));
      if (!t.empty()) return OneLine(t, 80);
    }
    return "Run the page's commands";
  }

  // ---- units: the blocks of a section, grouped ----
  struct Unit {
    Cond cond = Cond::kNone;
    const Block* para = nullptr;  // the paragraph that leads it
    const Item* item = nullptr;   // or the list item it is
    std::vector<const Item*> checklist;
    std::vector<const Block*> body;
    std::string text() const { return para ? para->text : item ? item->text : ""; }
    std::string markdown() const { return para ? para->markdown : item ? item->markdown : ""; }
  };

  std::vector<Unit> Units(const std::vector<Block>& blocks) {
    std::vector<Unit> out;
    for (size_t i = 0; i < blocks.size(); ++i) {
      const Block& b = blocks[i];
      if (b.kind == Block::Kind::kParagraph) {
        Unit u;
        u.para = &b;
        u.cond = CondOf(b.text, b.strong_label);
        bool label = u.cond == Cond::kOption;
        bool lead = !b.text.empty() && b.text.back() == ':';
        while (i + 1 < blocks.size()) {
          const Block& n = blocks[i + 1];
          bool take = n.kind == Block::Kind::kCode || n.kind == Block::Kind::kQuote || n.kind == Block::Kind::kNote ||
                      (n.kind == Block::Kind::kTable && u.cond != Cond::kNone);
          if (n.kind == Block::Kind::kList && (u.cond != Cond::kNone || lead) && !ListIsConditional(n)) take = true;
          // "Once it is done, ..." after an alternative's command goes on with that alternative.
          if (n.kind == Block::Kind::kParagraph && u.cond != Cond::kNone && u.cond != Cond::kOption && !u.body.empty() &&
              CondOf(n.text, n.strong_label) == Cond::kNone) {
            std::string l = Lower(n.text);
            for (const char* w : {"once ", "after that", "when that", "when it"})
              if (l.rfind(w, 0) == 0) take = true;
          }
          if (label && n.kind != Block::Kind::kCode && n.kind != Block::Kind::kList) {
            Cond c = n.kind == Block::Kind::kParagraph ? CondOf(n.text, n.strong_label) : Cond::kNone;
            take = c != Cond::kOption;
          }
          if (!take) break;
          u.body.push_back(&n);
          ++i;
        }
        out.push_back(u);
      } else if (b.kind == Block::Kind::kList) {
        for (size_t k = 0; k < b.items.size(); ++k) {
          const Item& it = b.items[k];
          if (it.task != Item::Task::kNone) {  // consecutive task items: one checklist
            Unit u;
            while (k < b.items.size() && b.items[k].task != Item::Task::kNone) u.checklist.push_back(&b.items[k++]);
            --k;
            out.push_back(u);
            continue;
          }
          Unit u;
          u.item = &it;
          u.cond = CondOf(it.text, false);
          out.push_back(u);
        }
      } else {
        Unit u;
        u.body.push_back(&b);
        out.push_back(u);
      }
    }
    return out;
  }

  static bool ListIsConditional(const Block& list) {
    for (const auto& it : list.items)
      if (CondOf(it.text, false) != Cond::kNone && CondOf(it.text, false) != Cond::kWhen) return true;
    return false;
  }

  // Emits units in order; runs of alternatives become decisions.
  void EmitUnits(const std::vector<Unit>& units, bool parallel) {
    std::vector<std::string> start = tails_, ends;
    for (size_t i = 0; i < units.size();) {
      size_t j = i;
      if (units[i].cond != Cond::kNone) {
        bool options = units[i].cond == Cond::kOption, otherwise = false;
        int whens = 0, ifs = 0;
        for (; j < units.size(); ++j) {
          Cond c = units[j].cond;
          if (c == Cond::kNone) break;
          if (options != (c == Cond::kOption)) break;
          // "When X, ..." sits among alternatives only beside another "When": after
          // an "If", it is usually what comes next.
          if ((units[i].cond == Cond::kWhen) != (c == Cond::kWhen)) break;
          if (j > i && c == Cond::kIf && otherwise) break;  // a new question
          if (c == Cond::kOtherwise) otherwise = true;
          if (c == Cond::kWhen) ++whens;
          if (c == Cond::kIf) ++ifs;
        }
        bool decision = options || ifs > 0 || whens >= 2 || (otherwise && j - i >= 2);
        if (!decision) j = i;  // a lone "When ..." is a step in sequence
        else {
          if (parallel) tails_ = start;
          Decide(std::vector<Unit>(units.begin() + static_cast<long>(i), units.begin() + static_cast<long>(j)));
          if (parallel) ends.insert(ends.end(), tails_.begin(), tails_.end());
          i = j;
          continue;
        }
      }
      if (parallel && JoinsAll(units[i])) {  // "When all tasks are done, ...": after every one of them
        tails_ = ends.empty() ? start : Unique(ends);
        parallel = false;
      }
      if (parallel) tails_ = start;
      size_t before = steps_.size();
      EmitUnit(units[i], false, parallel);
      if (parallel && steps_.size() > before) ends.insert(ends.end(), tails_.begin(), tails_.end());
      ++i;
    }
    if (parallel && !ends.empty()) tails_ = Unique(ends);
    else if (parallel) tails_ = start;
  }

  static bool JoinsAll(const Unit& u) {
    std::string l = Lower(u.text());
    for (const char* w : {"when all", "once all", "after all", "when every", "once every", "when both", "once both"})
      if (l.rfind(w, 0) == 0) return true;
    return false;
  }

  static std::vector<std::string> Unique(const std::vector<std::string>& v) {
    std::vector<std::string> out;
    for (const auto& x : v)
      if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
    return out;
  }

  void EmitUnit(const Unit& u, bool in_branch = false, bool parallel = false) {
    if (!u.checklist.empty()) {
      DStep d;
      d.kind = DStep::Kind::kManual;
      d.name = checklist_lead_ ? OneLine(checklist_lead_->text)
               : from_.empty()   ? "Go through the checklist"
                                 : "Checklist: " + OneLine(from_, 70);
      std::string text;
      for (const Item* it : u.checklist) {
        std::string item = it->text;
        for (const auto& b : it->blocks) item += " " + BlockText(b);
        d.checklist.push_back(OneLine(item, 300));
        text += std::string("- [") + (it->task == Item::Task::kDone ? "x" : " ") + "] " + Indented(it->markdown) + "\n";
      }
      d.manual = (checklist_lead_ ? checklist_lead_->markdown : "Work through the list and tick each item:") +
                 "\n\n" + text;
      checklist_lead_ = nullptr;
      Add(d);
      return;
    }
    if (u.item) {
      ItemSteps(*u.item, in_branch || u.cond != Cond::kNone);
      return;
    }
    const Block* first_code = nullptr;
    for (const Block* b : u.body)
      if (b->kind == Block::Kind::kCode) {
        first_code = b;
        break;
      }
    if (u.para && !first_code && !u.body.empty() && u.body.front()->kind == Block::Kind::kList &&
        !u.body.front()->items.empty() &&
        std::all_of(u.body.front()->items.begin(), u.body.front()->items.end(),
                    [](const Item& it) { return it.task != Item::Task::kNone; })) {
      // "Paste this list into the ticket and tick it off:" leads its checklist.
      Unit list;
      for (const auto& it : u.body.front()->items) list.checklist.push_back(&it);
      checklist_lead_ = u.para;
      EmitUnit(list, in_branch);
      for (size_t k = 1; k < u.body.size(); ++k) BodyBlock(*u.body[k], in_branch, parallel);
      return;
    }
    if (u.para && !first_code) {
      // Text: a step when it tells someone to do something or is a branch; else a note.
      if (in_branch || u.cond != Cond::kNone || Imperative(u.para->text)) {
        DStep d;
        d.kind = DStep::Kind::kManual;
        d.name = OneLine(u.para->text);
        d.manual = u.para->markdown;
        std::string l = Lower(u.para->text);
        for (const char* w : {"start again", "start over", "stop", "abort", "do not continue", "don't continue", "escalate"})
          if (in_branch && l.find(w) != std::string::npos) {
            d.manual += "\n\nIf this means the run must not go on, answer `fail`: the steps after it will not run.";
            break;
          }
        Add(d);
      } else {
        Note(u.para->markdown);
      }
      for (const Block* b : u.body) BodyBlock(*b, in_branch, parallel);
      return;
    }
    bool lead_used = false;
    for (const Block* b : u.body) {
      if (b == first_code && u.para) {
        AddCode(*b, u.para->text, u.para->markdown);
        lead_used = true;
        continue;
      }
      if (!lead_used && u.para && b->kind != Block::Kind::kCode) {
        Note(b->markdown);
        continue;
      }
      BodyBlock(*b, in_branch, parallel);
    }
  }

  void BodyBlock(const Block& b, bool in_branch, bool parallel) {
    switch (b.kind) {
      case Block::Kind::kCode: AddCode(b, "", ""); break;
      case Block::Kind::kList: EmitUnits(Units({b}), parallel); break;
      case Block::Kind::kParagraph: EmitUnit(Unit{CondOf(b.text, b.strong_label), &b, nullptr, {}, {}}, in_branch); break;
      default: Note(b.markdown); break;
    }
  }

  static std::string BlockText(const Block& b) {
    if (b.kind == Block::Kind::kCode) return "`" + OneLine(b.code, 200) + "`";
    if (b.kind == Block::Kind::kList) {
      std::string s;
      for (const auto& it : b.items) s += (s.empty() ? "" : "; ") + it.text;
      return s;
    }
    return b.text;
  }

  // A list item: its text leads its first code block, or is a manual step;
  // its children come after it.
  void ItemSteps(const Item& it, bool in_branch) {
    const Block* first_code = nullptr;
    for (const auto& b : it.blocks)
      if (b.kind == Block::Kind::kCode) {
        first_code = &b;
        break;
      }
    bool only_link = it.markdown.size() > 2 && it.markdown.front() == '[' && it.markdown.back() == ')' &&
                     it.markdown.find("](") != std::string::npos && it.markdown.find("](") == it.markdown.rfind("](");
    if (!first_code && !it.text.empty()) {
      if (only_link && !in_branch) {
        Note("- " + it.markdown);
      } else {
        DStep d;
        d.kind = DStep::Kind::kManual;
        d.name = OneLine(it.text);
        d.manual = it.markdown;
        Add(d);
      }
    }
    std::vector<Block> rest;
    for (const auto& b : it.blocks) {
      if (&b == first_code)
        AddCode(b, it.text, it.markdown);
      else
        rest.push_back(b);
    }
    if (!rest.empty()) {
      std::vector<Unit> units = Units(rest);
      // Units point into `rest`: emit before it goes.
      EmitUnits(units, false);
    }
  }

  // A run of alternatives: a decision, and each alternative a branch.
  void Decide(const std::vector<Unit>& units) {
    std::vector<Branch> branches;
    for (const auto& u : units) {
      Branch b;
      b.label = u.text();
      const Unit* unit = &u;
      b.build = [this, unit] {
        // The alternative's own text is its first step (or leads its command).
        Unit copy = *unit;
        copy.cond = Cond::kIf;
        EmitUnit(copy, true);
      };
      branches.push_back(b);
    }
    // A person may always say that none applies: an alternative is never forced.
    if (units.front().cond != Cond::kOption) {
      Branch none;
      none.label = units.size() == 1 ? "No: it does not apply" : "None of these applies: go on without any";
      none.value = units.size() == 1 ? "no" : "none";
      branches.push_back(none);
    }
    if (units.size() == 1) {
      branches.front().value = "yes";
      branches.front().label = "it applies";
      branches.back().label = "it does not";
    }
    for (size_t k = 0; k < units.size(); ++k)
      if (units[k].cond == Cond::kOtherwise) branches[k].value = "otherwise";
    std::string question = units.size() == 1 ? "Does this apply? " + OneLine(units.front().text(), 300)
                                             : "Which of these applies?";
    Decision(question, branches, "Decide: " + OneLine(units.front().text(), 80));
  }

  struct Branch {
    std::string label, value;
    std::function<void()> build;  // empty: nothing to do
  };

  void Decision(const std::string& question, std::vector<Branch> branches, const std::string& name) {
    DStep d;
    d.kind = DStep::Kind::kDecision;
    d.name = name;
    std::set<std::string> values;
    for (auto& b : branches) {
      std::string v = b.value.empty() ? WordSlug(StripCondWord(b.label), 32) : b.value;
      if (v.empty()) v = "choice";
      std::string unique = v;
      for (int n = 2; values.count(unique); ++n) unique = v + "-" + std::to_string(n);
      b.value = unique;
      values.insert(unique);
    }
    d.prompt = question;
    for (const auto& b : branches) d.prompt += "\n- " + b.value + ": " + OneLine(b.label, 200);
    size_t di = Add(d);
    std::string did = steps_[di].id;
    std::vector<std::string> ends{did};
    for (const auto& b : branches) {
      std::vector<std::string> go_to;
      if (b.build) {
        tails_ = {did};
        size_t before = steps_.size();
        b.build();
        for (size_t k = before; k < steps_.size(); ++k)
          if (std::find(steps_[k].needs.begin(), steps_[k].needs.end(), did) != steps_[k].needs.end())
            go_to.push_back(steps_[k].id);
        if (steps_.size() > before) ends.insert(ends.end(), tails_.begin(), tails_.end());
      }
      steps_[di].choices.emplace_back(b.value, go_to);
    }
    tails_ = Unique(ends);
  }

  static std::string StripCondWord(std::string label) {
    for (bool again = true; again;) {
      again = false;
      std::string l = Lower(label);
      for (const char* w : {"otherwise, ", "otherwise ", "if ", "in case ", "when ", "unless ", "else, ", "else ",
                            "alternatively, ", "should "})
        if (l.rfind(w, 0) == 0) {
          label = label.substr(std::char_traits<char>::length(w));
          again = true;
        }
    }
    return label;
  }

  // A slug cut at a word's end: "a-poddisruptionbudget-blocks", not "...-blocks-t".
  static std::string WordSlug(const std::string& text, size_t max) {
    std::string s = Slug(text, 200);
    if (s.size() <= max) return s;
    size_t cut = s.rfind('-', max);
    return s.substr(0, cut == std::string::npos || cut < max / 2 ? max : cut);
  }

  // ---- sections ----
  void RootBlocks(const std::vector<Block>& blocks) {
    section_steps_.emplace_back();
    std::vector<Block> steps;
    for (const auto& b : blocks) {
      bool text = b.kind == Block::Kind::kParagraph || b.kind == Block::Kind::kTable || b.kind == Block::Kind::kQuote ||
                  b.kind == Block::Kind::kNote || b.kind == Block::Kind::kOther;
      // The page's opening text says what it is for: the description. Its
      // lists too (hosts, scope), unless the page has no sections to do.
      bool context_list = b.kind == Block::Kind::kList && !page_.root.children.empty() && !b.items.empty() &&
                          b.items[0].task == Item::Task::kNone;
      if ((text || context_list) && steps.empty() && CondOf(b.text, b.strong_label) == Cond::kNone)
        description_ += MarkdownOf(b) + "\n\n";
      else
        steps.push_back(b);
    }
    if (!steps.empty()) {
      std::vector<Unit> units = Units(steps);
      EmitUnits(units, false);
    }
    FlushNotes("");
    section_steps_.pop_back();
  }

  // A section's role. On a page that is itself a rollback ("Rolling back a
  // bad deploy"), "Roll back" is the procedure, not the undoing of it.
  Role RoleIn(Role parent, const std::string& heading) const {
    Role own = RoleOf(heading);
    std::string h = Lower(heading);
    if (own == Role::kRollback && rollback_page_ && h.find("roll") != std::string::npos) own = Role::kSteps;
    return Inherit(parent, own);
  }

  void Walk(const Section& s, Role parent) {
    Role role = RoleIn(parent, s.heading);
    switch (role) {
      case Role::kPurpose: Describe(s, true); return;
      case Role::kReference: Describe(s, false); return;
      case Role::kEscalation: Escalation(s); return;
      case Role::kRollback: Rollback(s, scopes_.back()); return;
      case Role::kPreflight: Preflight(s); return;
      default: break;
    }
    Scope scope;
    scope.heading = s.heading;
    scopes_.push_back(&scope);
    section_steps_.emplace_back();
    from_ = from_.empty() ? s.heading : from_ + " > " + s.heading;
    bool parallel = SaysParallel(s);
    std::vector<std::string> start = tails_;
    EmitUnits(Units(s.blocks), parallel);
    if (parallel) {
      std::vector<std::string> ends = tails_;
      for (const auto& c : s.children) {
        tails_ = start;
        size_t before = steps_.size();
        Walk(c, role);
        if (steps_.size() > before) ends.insert(ends.end(), tails_.begin(), tails_.end());
      }
      tails_ = Unique(ends);
    } else {
      Children(s, role, false);
    }
    FlushNotes(s.heading, true);
    section_steps_.pop_back();
    scopes_.pop_back();
    FinishScope(scope, scopes_.back());
  }

  // The notes a section ends with: on its last step, or the description;
  // and a heading no step took.
  void FlushNotes(const std::string& heading, bool steps_role = false) {
    if (!pending_.empty() && steps_role && section_steps_.back().empty()) {
      // A procedure's section in prose only is work for a person.
      DStep d;
      d.kind = DStep::Kind::kManual;
      d.name = heading;
      d.manual = pending_;
      pending_.clear();
      Add(d);
      return;
    }
    if (!pending_.empty()) {
      if (!section_steps_.back().empty()) {
        DStep& last = steps_[section_steps_.back().back()];
        last.description += (last.description.empty() ? "" : "\n\n") + pending_;
      } else {
        description_ += "## " + (from_.empty() ? heading : from_) + "\n\n" + pending_ + "\n\n";
        from_.clear();
      }
      pending_.clear();
    }
    if (!from_.empty()) {
      description_ += "## " + from_ + "\n\n";
      from_.clear();
    }
  }

  // Subsections in order; consecutive "Option A / Option B" sections, and
  // at the top of a page that is several procedures, the procedures, are
  // alternatives of one decision.
  void Children(const Section& s, Role role, bool top) {
    std::vector<const Section*> procedures;
    if (top && ManyProcedures(s, role)) {
      index_page_ = true;
      for (const auto& c : s.children)
        if (RoleIn(role, c.heading) == Role::kSteps) procedures.push_back(&c);
        else Walk(c, role);
      std::vector<Branch> branches;
      for (const Section* p : procedures)
        branches.push_back(Branch{p->heading, "", [this, p, role] { Walk(*p, role); }});
      Decision("Which procedure does this run follow?", branches, "Choose the procedure");
      return;
    }
    for (size_t i = 0; i < s.children.size();) {
      const Section& c = s.children[i];
      if (IsOptionLabel(c.heading) && RoleIn(role, c.heading) == Role::kSteps) {
        std::vector<Branch> branches;
        size_t j = i;
        for (; j < s.children.size() && IsOptionLabel(s.children[j].heading); ++j) {
          const Section* opt = &s.children[j];
          branches.push_back(Branch{opt->heading, "", [this, opt, role] { Walk(*opt, role); }});
        }
        Decision("Which option does this run take?", branches, s.heading.empty() ? "Choose an option" : "Choose: " + OneLine(s.heading, 70));
        i = j;
        continue;
      }
      Walk(c, role);
      ++i;
    }
  }

  // A page of several procedures (a runbook index: Deployment, Restore,
  // Security incident...): at least two top sections with subsections of
  // their own, none numbered as a sequence.
  bool ManyProcedures(const Section& root, Role role) const {
    int with_children = 0, steps = 0;
    for (const auto& c : root.children) {
      if (RoleIn(role, c.heading) != Role::kSteps) continue;
      if (Numbered(c.heading) || IsOptionLabel(c.heading)) return false;
      ++steps;
      if (!c.children.empty()) ++with_children;
    }
    return with_children >= 2 && steps >= 2;
  }

  // A section's rollback commands undo its first step that changes
  // something (a read-only look -- get, status, history -- has nothing to
  // undo); its prose, and commands with nothing to attach to, are a manual
  // step in `finally` for when the run did not succeed.
  void FinishScope(Scope& scope, Scope* parent) {
    std::string script, prose, shown, heading;
    for (const auto& part : scope.rollbacks) {
      if (heading.empty() && !part.markdown.empty()) heading = part.heading;  // names the step for a person
      if (!part.script.empty()) {
        script += (script.empty() ? "" : "\n") + part.script;
        shown += part.shown + "\n";
      }
      if (!part.markdown.empty()) prose += (prose.empty() ? "" : "\n\n") + part.markdown;
    }
    std::optional<size_t> undoes;
    for (size_t i : scope.runs)
      if (!import::ReadOnly(steps_[i].run)) {
        undoes = i;
        break;
      }
    if (!script.empty()) {
      if (undoes) {
        std::string& hook = steps_[*undoes].rollback;
        hook += (hook.empty() ? "" : "\n") + script;
      } else if (parent) {
        parent->rollbacks.push_back({script, "", shown, heading});
      } else {
        prose = (prose.empty() ? "" : prose + "\n\n") + "Run:\n\n" + shown;
      }
    }
    if (!prose.empty()) {
      DStep f;
      std::string what = heading.empty() ? "Roll back" : heading;
      f.id = UniqueId(what + " by hand");
      f.name = OneLine(what, 70) + ", by hand";
      f.kind = DStep::Kind::kManual;
      f.manual = "The run did not succeed: do what the page says to undo it.\n\n" + prose;
      f.when = "run.status != 'succeeded'";
      if (scope.first_step) f.when += " && succeeded('" + steps_[*scope.first_step].id + "')";
      finally_.push_back(f);
    }
  }

  static bool Conditional(const std::string& text) {
    std::string l = Lower(text);
    return CondOf(text, false) != Cond::kNone || l.find("if needed") != std::string::npos ||
           l.find("if necessary") != std::string::npos || l.find("if required") != std::string::npos;
  }

  // A rollback section: unconditional commands are hooks; text, blocks that
  // are not commands, and commands the page gives under a condition ("If the
  // rollback made things worse, ...") are for a person.
  void Rollback(const Section& s, Scope* scope) {
    bool conditional = false;
    auto add_blocks = [&](const std::vector<Block>& blocks, auto&& self) -> void {
      for (const auto& b : blocks) {
        if (b.kind == Block::Kind::kParagraph && Conditional(b.text)) conditional = true;
        if (b.kind == Block::Kind::kCode) {
          import::CodeReading cr = import::ReadCode(b);
          std::optional<std::string> t;
          if (cr.command && !conditional) t = import::Templated(cr.script, &placeholders_);
          if (t) {
            Reads(cr.script);
            scope->rollbacks.push_back({*t, "", Fenced(b.info, b.code), s.heading});
          } else {
            std::string lead = cr.command ? "Run:" : cr.lead;
            scope->rollbacks.push_back({"", lead + "\n\n" + Fenced(b.info, b.code), "", s.heading});
          }
        } else if (b.kind == Block::Kind::kList) {
          for (const auto& it : b.items) {
            scope->rollbacks.push_back({"", "- " + Indented(it.markdown), "", s.heading});
            bool outside = conditional;
            conditional = conditional || Conditional(it.text);  // "Database rollback (if needed)"
            self(it.blocks, self);
            conditional = outside;
          }
        } else {
          scope->rollbacks.push_back({"", b.markdown, "", s.heading});
        }
      }
    };
    size_t before = scope->rollbacks.size();
    add_blocks(s.blocks, add_blocks);
    for (const auto& c : s.children) Rollback(c, scope);
    if (scope->rollbacks.size() == before) description_ += "## " + s.heading + "\n\n";  // nothing under it
  }

  void Preflight(const Section& s) {
    section_steps_.emplace_back();
    std::string lead, lead_md;  // the paragraph before a command: its name, and as written
    std::vector<std::string> checklist;
    std::string checklist_md;
    std::function<void(const std::vector<Block>&)> blocks = [&](const std::vector<Block>& bs) {
      for (const auto& b : bs) {
        switch (b.kind) {
          case Block::Kind::kCode: {
            import::CodeReading cr = import::ReadCode(b);
            std::optional<std::string> t;
            if (cr.command) t = import::Templated(cr.script, &placeholders_);
            std::string name = OneLine(lead.empty() ? NameFromCode(b.code) : lead);
            if (t && scopes_.size() == 1) {
              Reads(cr.script);
              preflight_.push_back({name.empty() ? "prerequisite" : name, *t, lead_md, Fenced(b.info, b.code)});
              if (!lead_md.empty()) preflight_text_ += lead_md + "\n\n";  // a check has no text of its own
            } else {
              from_ = s.heading;
              Add(CodeStep(b, lead, lead_md));
            }
            lead.clear(), lead_md.clear();
            break;
          }
          case Block::Kind::kList:
            for (const auto& it : b.items) {
              std::string text = it.text;
              for (const auto& c : it.blocks)
                if (c.kind != Block::Kind::kCode) text += " " + BlockText(c);
              checklist.push_back(OneLine(text, 300));
              checklist_md += "- " + Indented(it.markdown) + "\n";
              for (const auto& c : it.blocks)
                if (c.kind == Block::Kind::kCode) {
                  lead = it.text, lead_md = it.markdown;
                  blocks({c});
                }
            }
            break;
          case Block::Kind::kParagraph:
            if (!lead_md.empty()) Note(lead_md);
            lead.clear(), lead_md.clear();
            if (CondOf(b.text, b.strong_label) != Cond::kNone) {  // "If X is not so, stop": a decision
              EmitUnits(Units({b}), false);
              break;
            }
            lead = b.text, lead_md = b.markdown;
            break;
          default: Note(b.markdown); break;
        }
      }
    };
    blocks(s.blocks);
    if (!lead_md.empty()) Note(lead_md);
    if (!preflight_text_.empty()) {
      description_ += "## " + s.heading + "\n\n" + preflight_text_;
      preflight_text_.clear();
    }
    from_ = from_.empty() ? s.heading : from_ + " > " + s.heading;
    if (!checklist.empty() || !pending_.empty()) {
      // Conditions a person confirms: one manual step, with the checklist.
      DStep d;
      d.kind = DStep::Kind::kManual;
      d.name = "Confirm: " + OneLine(s.heading, 80);
      d.checklist = checklist;
      d.manual = checklist.empty() ? pending_ : "Before going on, confirm each of these:\n\n" + checklist_md;
      if (checklist.empty()) pending_.clear();
      Add(d);
    }
    for (const auto& c : s.children) Preflight(c);
    FlushNotes(s.heading);
    section_steps_.pop_back();
  }

  void Escalation(const Section& s) {
    std::string text;
    for (const auto& b : s.blocks) {
      if (b.kind == Block::Kind::kList) {
        for (const auto& it : b.items) {
          std::string c = it.text;
          for (const auto& nb : it.blocks) c += " " + BlockText(nb);
          contacts_.push_back({OneLine(c, 300), DurationAfter(c)});
        }
      } else if (b.kind == Block::Kind::kTable) {
        for (size_t r = 1; r < b.rows.size(); ++r) {
          std::string c;
          for (size_t k = 0; k < b.rows[r].size(); ++k) {
            if (b.rows[r][k].empty()) continue;
            std::string head = k < b.rows[0].size() ? b.rows[0][k] : "";
            c += (c.empty() ? "" : ", ") + (k == 0 || head.empty() ? "" : head + ": ") + b.rows[r][k];
          }
          if (!c.empty()) contacts_.push_back({OneLine(c, 300), DurationAfter(c)});
        }
      } else {
        text += (b.kind == Block::Kind::kCode ? Fenced(b.info, b.code) : b.markdown) + "\n\n";
      }
    }
    description_ += "## " + s.heading + "\n\n" + text;
    for (const auto& c : s.children) Escalation(c);
  }

  // "after 30 minutes", "+15 min": when a contact is due.
  static std::optional<std::string> DurationAfter(const std::string& text) {
    std::string l = Lower(text);
    for (const char* w : {"after ", "+", "within ", "if unresolved in ", "after"}) {
      size_t at = l.find(w);
      if (at == std::string::npos) continue;
      if (auto d = DurationIn(l.substr(at + std::char_traits<char>::length(w), 20))) return d;
    }
    return std::nullopt;
  }

  // Reference text: the description, as the page wrote it.
  void Describe(const Section& s, bool purpose) {
    std::string out = std::string(static_cast<size_t>(std::max(2, std::min(s.level, 6))), '#') + " " + s.heading + "\n\n";
    for (const auto& b : s.blocks) {
      if (purpose && purpose_.empty() && b.kind == Block::Kind::kParagraph) {
        purpose_ = OneLine(b.text, 300);
        if (purpose_ == b.text) continue;
      }
      out += MarkdownOf(b) + "\n\n";
    }
    description_ += out;
    for (const auto& c : s.children) {
      Role r = Inherit(purpose ? Role::kPurpose : Role::kReference, RoleOf(c.heading));
      if (r == Role::kEscalation) Escalation(c);
      else Describe(c, false);
    }
  }

  // Continuation lines of a list item, indented under its marker.
  static std::string Indented(const std::string& text) {
    std::string out;
    for (char c : text) {
      out += c;
      if (c == '\n') out += "  ";
    }
    return out;
  }

  static std::string MarkdownOf(const Block& b) {
    switch (b.kind) {
      case Block::Kind::kCode: return Fenced(b.info, b.code);
      case Block::Kind::kList: {
        std::string s;
        for (const auto& it : b.items) {
          s += std::string("- ") + (it.task == Item::Task::kOpen ? "[ ] " : it.task == Item::Task::kDone ? "[x] " : "") +
               Indented(it.markdown) + "\n";
          for (const auto& c : it.blocks) {
            std::string inner = MarkdownOf(c);
            std::istringstream in(inner);
            for (std::string line; std::getline(in, line);) s += "  " + line + "\n";
          }
        }
        return s;
      }
      default: return b.markdown;
    }
  }

  // ---- targets, inputs ----
  void FindTargets(const Section& s) {
    auto consider = [&](const std::string& label, const std::string& value) {
      std::string l = Lower(label);
      bool rto = l.find("rto") != std::string::npos || l.find("recovery time") != std::string::npos;
      bool rpo = l.find("rpo") != std::string::npos || l.find("recovery point") != std::string::npos;
      if (rto == rpo) return;
      auto d = DurationIn(value);
      if (!d) return;
      if (rto && !rto_) rto_ = d;
      if (rpo && !rpo_) rpo_ = d;
    };
    std::function<void(const std::vector<Block>&, const std::string&)> scan = [&](const std::vector<Block>& bs,
                                                                                   const std::string& heading) {
      for (const auto& b : bs) {
        if (b.kind == Block::Kind::kTable && !b.rows.empty()) {
          const auto& head = b.rows[0];
          for (size_t r = 1; r < b.rows.size(); ++r) {
            const auto& row = b.rows[r];
            if (row.empty()) continue;
            // a row per target: | RTO | 1 hour |; or a column per target: | RTO | RPO |
            std::string rest;
            for (size_t k = 1; k < row.size(); ++k) rest += row[k] + " ";
            consider(row[0], rest);
            for (size_t k = 0; k < row.size() && k < head.size(); ++k) consider(head[k], row[k]);
          }
        } else if (b.kind == Block::Kind::kParagraph) {
          consider(b.text.substr(0, b.text.find(':') == std::string::npos ? 0 : b.text.find(':')), b.text.substr(b.text.find(':') == std::string::npos ? b.text.size() : b.text.find(':')));
        } else if (b.kind == Block::Kind::kList) {
          for (const auto& it : b.items) {
            size_t colon = it.text.find(':');
            if (colon != std::string::npos) consider(it.text.substr(0, colon), it.text.substr(colon));
            else consider(heading, it.text);
          }
        }
      }
    };
    scan(s.blocks, s.heading);
    for (const auto& c : s.children) FindTargets(c);
  }

  // Variables the scripts read and do not set: inputs, required unless
  // another block of the page sets them to a literal value (the default).
  void Inputs() {
    std::map<std::string, std::string> literal;
    std::function<void(const std::vector<Block>&)> blocks = [&](const std::vector<Block>& bs) {
      for (const auto& b : bs) {
        if (b.kind == Block::Kind::kCode)
          for (const auto& [k, v] : import::LiteralAssignments(b.code)) literal.emplace(k, v);
        for (const auto& it : b.items) blocks(it.blocks);
      }
    };
    std::function<void(const Section&)> all = [&](const Section& s) {
      blocks(s.blocks);
      for (const auto& c : s.children) all(c);
    };
    all(page_.root);
    for (const auto& v : read_) {
      std::string name = import::InputName(v);
      env_.emplace_back(v, name);
      if (placeholders_.count(name)) continue;
      auto lit = literal.find(v);
      if (lit != literal.end()) defaults_[name] = lit->second;
      placeholders_.emplace(name, import::Placeholder{name, "$" + v});
    }
  }

  const Page& page_;
  bool rollback_page_ = false;
  std::string title_, owner_, purpose_, description_;
  std::optional<std::string> rto_, rpo_;
  std::vector<Contact> contacts_;
  std::vector<PreCheck> preflight_;
  std::vector<DStep> steps_, finally_;
  std::vector<std::string> tails_;
  std::string pending_, from_;
  std::string preflight_text_;  // what the page says of its preflight checks
  const Block* checklist_lead_ = nullptr;  // the paragraph that introduces the next checklist
  bool index_page_ = false;                // the page is several procedures: blocks are cards
  std::vector<Scope*> scopes_;
  std::vector<std::vector<size_t>> section_steps_{{}};
  std::map<std::string, import::Placeholder> placeholders_;
  std::set<std::string> read_;
  std::map<std::string, std::string> defaults_;  // input -> the value the page sets it to elsewhere
  std::vector<std::pair<std::string, std::string>> env_;  // variable, input
  std::set<std::string> used_;
  std::map<std::string, int> next_suffix_;
  std::vector<std::string> degraded_;
};

// A literal block (|) unless its first line is indented: yaml-cpp writes no
// indentation indicator, so YAML would read that indentation as the block's
// own and the draft would not load. Such text, and text with trailing
// spaces or tabs a literal block would keep ambiguous, is double-quoted.
YAML::EMITTER_MANIP BlockStyle(const std::string& text) {
  size_t first = text.find_first_not_of('\n');
  bool indented = first != std::string::npos && (text[first] == ' ' || text[first] == '\t');
  if (indented || text.find(" \n") != std::string::npos || text.find("\t\n") != std::string::npos ||
      (!text.empty() && (text.back() == ' ' || text.back() == '\t')))
    return YAML::DoubleQuoted;
  return text.find('\n') == std::string::npos ? YAML::Auto : YAML::Literal;
}

std::string Builder::Emit(const std::string& name, const std::string& source) const {
  YAML::Emitter out;
  out << YAML::Comment("Imported from " + source + " by `runbook import`: a draft.\n"
                       "Each step runs in its own shell: what one step exports, the next does not see.\n"
                       "Review every step, add timeouts, verifications and rollbacks, then: runbook validate");
  out << YAML::BeginMap;
  auto text = [&](const char* key, const std::string& v) {
    if (Trim(v).empty()) return;
    std::string t = Trim(v) + (v.find('\n') == std::string::npos ? "" : "\n");
    out << YAML::Key << key << YAML::Value << BlockStyle(t) << t;
  };
  out << YAML::Key << "name" << YAML::Value << name;
  text("title", OneLine(title_, 200));
  text("description", description_);
  text("purpose", purpose_);
  text("owner", OneLine(owner_, 200));
  if (rto_ || rpo_) {
    out << YAML::Key << "targets" << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (rto_) out << YAML::Key << "rto" << YAML::Value << *rto_;
    if (rpo_) out << YAML::Key << "rpo" << YAML::Value << *rpo_;
    out << YAML::EndMap;
  }
  if (!contacts_.empty()) {
    out << YAML::Key << "escalation" << YAML::Value << YAML::BeginSeq;
    for (const auto& c : contacts_) {
      out << YAML::BeginMap << YAML::Key << "contact" << YAML::Value << c.contact;
      if (c.after) out << YAML::Key << "when" << YAML::Value << "always" << YAML::Key << "after" << YAML::Value << *c.after;
      else out << YAML::Key << "when" << YAML::Value << "failure";
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (!placeholders_.empty()) {
    out << YAML::Key << "inputs" << YAML::Value << YAML::BeginMap;
    for (const auto& [input, p] : placeholders_) {
      out << YAML::Key << input << YAML::Value << YAML::BeginMap;
      auto def = defaults_.find(input);
      if (def != defaults_.end()) {
        out << YAML::Key << "description" << YAML::Value
            << p.shown + ", which another block of the page sets (each step runs in its own shell)";
        out << YAML::Key << "default" << YAML::Value << YAML::DoubleQuoted << def->second;
      } else {
        out << YAML::Key << "description" << YAML::Value << "what the page wrote as " + p.shown;
        out << YAML::Key << "required" << YAML::Value << true;
      }
      // A token or password is never stored or shown in clear.
      for (const char* w : {"token", "password", "passwd", "secret", "api_key", "apikey", "credential", "private_key"})
        if (input.find(w) != std::string::npos) {
          out << YAML::Key << "secret" << YAML::Value << true;
          break;
        }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  if (!env_.empty()) {
    out << YAML::Key << "env" << YAML::Value << YAML::BeginMap;
    for (const auto& [var, input] : env_)
      out << YAML::Key << var << YAML::Value << YAML::DoubleQuoted << "{{ inputs." + input + " }}";
    out << YAML::EndMap;
  }
  bool any_preflight = false;
  for (const auto& c : preflight_) any_preflight |= !c.run.empty();
  if (any_preflight) {
    out << YAML::Key << "preflight" << YAML::Value << YAML::BeginSeq;
    for (const auto& c : preflight_) {
      if (c.run.empty()) continue;
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << OneLine(c.name, 120) << YAML::Key << "run"
          << YAML::Value << BlockStyle(c.run) << c.run << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  auto step = [&](const DStep& d) {
    out << YAML::BeginMap << YAML::Key << "id" << YAML::Value << d.id;
    std::string shown = OneLine(d.name, 120);
    while (shown.size() > 1 && (shown.back() == ':' || shown.back() == ' ')) shown.pop_back();
    out << YAML::Key << "name" << YAML::Value << NoTemplates(shown);
    if (!Trim(d.description).empty()) {
      std::string t = Trim(d.description) + "\n";
      out << YAML::Key << "description" << YAML::Value << BlockStyle(t) << t;
    }
    if (d.needs.size() == 1) out << YAML::Key << "needs" << YAML::Value << d.needs[0];
    if (d.needs.size() > 1) out << YAML::Key << "needs" << YAML::Value << YAML::Flow << d.needs;
    if (!d.when.empty()) out << YAML::Key << "when" << YAML::Value << YAML::DoubleQuoted << d.when;
    switch (d.kind) {
      case DStep::Kind::kRun: out << YAML::Key << "run" << YAML::Value << BlockStyle(d.run) << d.run; break;
      case DStep::Kind::kManual: {
        std::string m = NoTemplates(Trim(d.manual).empty() ? d.name : Trim(d.manual) + "\n");
        out << YAML::Key << "manual" << YAML::Value << BlockStyle(m) << m;
        if (!d.checklist.empty()) {
          out << YAML::Key << "checklist" << YAML::Value << YAML::BeginSeq;
          for (const auto& c : d.checklist) out << c;
          out << YAML::EndSeq;
        }
        break;
      }
      case DStep::Kind::kDecision: {
        out << YAML::Key << "decision" << YAML::Value << YAML::BeginMap;
        std::string p = NoTemplates(d.prompt) + "\n";
        out << YAML::Key << "prompt" << YAML::Value << BlockStyle(p) << p;
        out << YAML::Key << "choices" << YAML::Value << YAML::BeginSeq;
        for (const auto& [value, go_to] : d.choices) {
          out << YAML::BeginMap << YAML::Key << "value" << YAML::Value << value;
          out << YAML::Key << "goto" << YAML::Value << YAML::Flow << go_to;
          out << YAML::EndMap;
        }
        out << YAML::EndSeq << YAML::EndMap;
        break;
      }
    }
    if (!d.rollback.empty()) out << YAML::Key << "rollback" << YAML::Value << BlockStyle(d.rollback) << d.rollback;
    out << YAML::EndMap;
  };
  out << YAML::Key << "steps" << YAML::Value << YAML::BeginSeq;
  if (steps_.empty()) {  // a page with nothing to do still validates
    DStep d;
    d.id = "review";
    d.name = "Review the imported page";
    d.manual = "The page had no commands or list items to turn into steps: its text is the description.";
    step(d);
  }
  for (const auto& d : steps_) step(d);
  out << YAML::EndSeq;
  if (!finally_.empty()) {
    out << YAML::Key << "finally" << YAML::Value << YAML::BeginSeq;
    for (const auto& d : finally_) step(d);
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

// Lists and quotes nested deeper than kMaxMarkdownDepth (cmark slows down
// with every level, and the page's structure is lost long before): by
// indentation, '>' markers and list markers at a line's start. Fenced code
// is skipped.
std::optional<std::string> NestingError(const std::string& text) {
  std::istringstream in(text);
  std::string fence;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string::npos) continue;
    std::string_view rest(line.data() + i, line.size() - i);
    if (rest.rfind("```", 0) == 0 || rest.rfind("~~~", 0) == 0) {
      std::string marker(rest.substr(0, 3));
      if (fence.empty()) fence = marker;
      else if (marker == fence) fence.clear();
      continue;
    }
    if (!fence.empty()) continue;
    size_t columns = 0;
    for (char c : line.substr(0, i)) columns += c == '\t' ? 4 : 1;
    int depth = static_cast<int>(columns / 2);
    size_t k = i;
    while (k < line.size()) {  // > quotes and - * + list markers, one after another
      if (line[k] == '>') {
        ++depth, ++k;
      } else if ((line[k] == '-' || line[k] == '*' || line[k] == '+') && k + 1 < line.size() && line[k + 1] == ' ') {
        ++depth, k += 2;
      } else {
        break;
      }
      while (k < line.size() && line[k] == ' ') ++k;
      if (depth > kMaxMarkdownDepth) break;
    }
    if (depth > kMaxMarkdownDepth)
      return std::to_string(line_no) + ":" + std::to_string(i + 1) + ": lists and quotes nested more than " +
             std::to_string(kMaxMarkdownDepth) + " levels deep: nothing was imported";
  }
  return std::nullopt;
}

// The index of the step a validation error at `line` of the draft is in.
std::optional<size_t> StepAt(const Runbook& rb, int line) {
  std::optional<size_t> at;
  for (size_t i = 0; i < rb.steps.size(); ++i)
    if (rb.steps[i].pos.line <= line) at = i;
  return at;
}

}  // namespace

std::string RunbookNameFrom(const std::string& stem) {
  std::string out;
  for (char c : stem) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((std::isalnum(static_cast<unsigned char>(l)) && static_cast<unsigned char>(c) < 0x80) || l == '_')
      out += l;
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && (out.back() == '-' || out.back() == '_')) out.pop_back();
  while (!out.empty() && (out.front() == '-' || out.front() == '_')) out.erase(0, 1);
  return out.empty() ? "imported" : out;
}

ImportResult ImportMarkdown(const std::string& markdown, const std::string& name, const std::string& source,
                            ShellSyntax* syntax) {
  ImportResult r;
  if (markdown.size() > kMaxFileBytes) {
    r.error = "1:1: the page is " + std::to_string(markdown.size()) + " bytes; import reads at most " +
              std::to_string(kMaxFileBytes >> 20) + " MiB";
    return r;
  }
  std::string text = import::CleanText(markdown);
  if (auto nesting = NestingError(text)) {
    r.error = *nesting;
    return r;
  }
  Page page = import::ReadPage(text);
  Builder b(page);
  b.Build();
  if (static_cast<size_t>(b.steps()) > kMaxSteps) {
    r.error = "1:1: the page makes " + std::to_string(b.steps()) + " steps; a runbook has at most " +
              std::to_string(kMaxSteps) + ": split the page";
    return r;
  }
  // Every script the draft runs must parse as the engine will run it.
  if (syntax && syntax->available()) {
    auto refs = b.Scripts();
    std::vector<std::string> texts;
    for (const auto& ref : refs) {
      Diagnostics ignored;
      Template t = ParseTemplate(*ref.text, Pos{1, 1}, [](size_t) { return Pos{1, 1}; }, true, &ignored);
      texts.push_back(ShellTextForCheck(t));
    }
    auto results = syntax->Check(texts);
    // Degrade from the last: a degraded preflight check moves steps.
    for (size_t i = refs.size(); i-- > 0;)
      if (i < results.size() && results[i])
        refs[i].degrade("This block does not parse as shell (bash -n, line " + std::to_string(results[i]->line) +
                        ": " + results[i]->message + "), so it is not run. Do it by hand:");
  }
  // The draft must validate: a step the validator refuses is shown to a
  // person instead, until it does.
  std::string file = name + ".yaml";
  for (int round = 0;; ++round) {
    r.yaml = b.Emit(name, source);
    Diagnostics diags;
    Runbook rb = ParseRunbook(SourceFile(file, r.yaml), &diags);
    if (!diags.HasErrors()) ValidateRunbook(rb, &diags);
    if (!diags.HasErrors() || round >= 20) break;
    bool changed = false;
    for (const auto& d : diags.items()) {
      if (d.severity != Severity::kError) continue;
      if (auto at = StepAt(rb, d.pos.line)) changed |= b.DegradeAt(*at, "runbook could not take this block as written (" + d.message + "). Do it by hand:");
      if (changed) break;
    }
    if (!changed) break;
  }
  r.steps = b.steps();
  r.degraded = b.degraded();
  return r;
}

}  // namespace runbook
