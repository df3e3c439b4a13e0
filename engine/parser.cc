#include "engine/parser.h"

#include <yaml-cpp/yaml.h>

#include <cstring>
#include <optional>
#include <set>
#include <sstream>

#include "engine/keys.h"
#include "engine/limits.h"
#include "engine/regex.h"
#include "engine/suggest.h"

namespace runbook {
namespace {

// Names are checked a character at a time (std::regex recursed once per
// character: a 50 KB id overflowed the stack), and are at most kMaxName long.
bool Lower(char c) { return c >= 'a' && c <= 'z'; }
bool Digit(char c) { return c >= '0' && c <= '9'; }
bool Letter(char c) { return Lower(c) || (c >= 'A' && c <= 'Z'); }

template <class First, class Rest>
bool NameOf(const std::string& s, First first, Rest rest) {
  if (s.empty() || s.size() > kMaxName || !first(s[0])) return false;
  for (size_t i = 1; i < s.size(); ++i)
    if (!rest(s[i])) return false;
  return true;
}

const std::string kAtMost = ", at most " + std::to_string(kMaxName) + " characters";

// A name as a message quotes it: a 50 KB one is cut.
std::string Shown(const std::string& s) { return s.size() <= 60 ? s : s.substr(0, 40) + "... (" + std::to_string(s.size()) + " characters)"; }

// [A-Za-z_][A-Za-z0-9_]*: environment variables and output names.
bool IsEnvName(const std::string& s) {
  return NameOf(s, [](char c) { return Letter(c) || c == '_'; },
                [](char c) { return Letter(c) || Digit(c) || c == '_'; });
}

// In block context a [ or { opens a flow collection only where a value
// starts (the line's start, after "key:", "- " or "? "); elsewhere it is a
// character of a plain scalar ("title: Rest {{ x").
bool OpensFlow(std::string_view line, size_t at) {
  size_t k = at;
  while (k > 0 && (line[k - 1] == ' ' || line[k - 1] == '\t')) --k;
  if (k == 0) return true;
  if (k == at) return false;  // no space between: part of a word
  char indicator = line[k - 1];
  if (indicator == ':') return true;
  // "- " and "? " are indicators only as words of their own.
  return (indicator == '-' || indicator == '?') && (k == 1 || line[k - 2] == ' ' || line[k - 2] == '\t');
}

// yaml-cpp recurses once per level of nesting and has no limit of its own:
// before it reads a text, flow nesting ([ {) and block indentation are
// bounded here. Quoted strings, comments and block scalars (| >) are skipped.
std::optional<Diagnostic> ShapeError(const std::string& text) {
  int depth = 0;
  size_t line = 1, col = 1;
  size_t block_parent = std::string::npos;  // in a block scalar: its parent line's indentation
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find('\n', i);
    if (end == std::string::npos) end = text.size();
    std::string_view l(text.data() + i, end - i);
    size_t indent = l.find_first_not_of(' ');
    bool blank = indent == std::string_view::npos || l[indent] == '#' || l[indent] == '\r';
    if (block_parent != std::string::npos && (blank || indent > block_parent)) {
      i = end + 1, ++line;
      continue;  // the content of a block scalar: text, not structure
    }
    block_parent = std::string::npos;
    if (!blank && depth == 0 && indent > kMaxYamlIndent)
      return Diagnostic{Pos{static_cast<int>(line), static_cast<int>(indent) + 1}, Severity::kError,
                        "indented more than " + std::to_string(kMaxYamlIndent) + " columns: runbooks nest far less"};
    // "- - - - x" nests block sequences on one line, as deep as indentation would.
    if (!blank && depth == 0) {
      int dashes = 0;
      for (size_t k = indent; k + 1 < l.size() && (l[k] == '-' || l[k] == '?') && l[k + 1] == ' ';) {
        ++dashes;
        k += 2;
        while (k < l.size() && l[k] == ' ') ++k;
      }
      if (dashes > kMaxYamlFlowDepth)
        return Diagnostic{Pos{static_cast<int>(line), static_cast<int>(indent) + 1}, Severity::kError,
                          "nested more than " + std::to_string(kMaxYamlFlowDepth) + " levels of '- ' on one line"};
    }
    char quote = 0;
    size_t last = std::string::npos;  // last character outside a comment
    for (size_t k = 0; k < l.size(); ++k) {
      char c = l[k];
      col = k + 1;
      if (quote) {
        if (c == '\\' && quote == '"') ++k;
        else if (c == quote) quote = 0;
        continue;
      }
      if (c == '#' && (k == 0 || l[k - 1] == ' ' || l[k - 1] == '\t')) break;
      if (c == '"' || c == '\'') {
        if (k == 0 || std::strchr(" \t[{,:-", l[k - 1])) quote = c;
      } else if ((c == '[' || c == '{') && (depth > 0 || OpensFlow(l, k))) {
        if (++depth > kMaxYamlFlowDepth)
          return Diagnostic{Pos{static_cast<int>(line), static_cast<int>(col)}, Severity::kError,
                            "nested more than " + std::to_string(kMaxYamlFlowDepth) + " levels of [ and {"};
      } else if ((c == ']' || c == '}') && depth > 0) {
        --depth;
      }
      if (c != ' ' && c != '\t' && c != '\r') last = k;
    }
    // `key: |` or `- >-`: the lines after it, more indented, are text.
    if (depth == 0 && last != std::string::npos) {
      size_t k = last;
      while (k > 0 && std::strchr("+-0123456789", l[k])) --k;
      if ((l[k] == '|' || l[k] == '>') && (k == 0 || l[k - 1] == ' '))
        block_parent = blank ? 0 : indent;
    }
    i = end + 1, ++line;
  }
  return std::nullopt;
}

class RunbookParser {
 public:
  RunbookParser(Runbook* rb, Diagnostics* diags) : rb_(rb), src_(rb->source), diags_(diags) {}

  void Parse() {
    if (src_.text().size() > kMaxFileBytes) {
      Error(Pos{1, 1}, "the file is " + std::to_string(src_.text().size()) + " bytes; a runbook is at most " +
                           std::to_string(kMaxFileBytes >> 20) + " MiB");
      return;
    }
    if (auto shape = ShapeError(src_.text())) {
      diags_->Add(*shape);
      return;
    }
    YAML::Node root;
    try {
      root = YAML::Load(src_.text());
    } catch (const YAML::Exception& e) {
      Error(Pos{e.mark.line + 1, e.mark.column + 1}, "invalid YAML: " + e.msg + TabHint(e.mark.line));
      return;
    }
    if (!root.IsMap()) {
      Error(root.IsDefined() && !root.IsNull() ? PosOf(root) : Pos{1, 1},
            "a runbook is a mapping with at least 'name' and 'steps'");
      return;
    }
    if (!Misread(root)) RunbookFields(root);
  }

 private:
  // ---- helpers -------------------------------------------------------------
  void Error(Pos p, std::string m) { diags_->Error(p, std::move(m)); }

  // YAML forbids tabs in indentation, and yaml-cpp says so obscurely ("illegal
  // block entry"): name the tab when line `line` (0-based) or the one before
  // it holds one.
  std::string TabHint(int line) const {
    std::istringstream in(src_.text());
    bool tab = false;
    std::string l;
    for (int i = 0; i <= line && std::getline(in, l); ++i)
      if (i >= line - 1 && l.find('\t') != std::string::npos) tab = true;
    return tab ? " (a tab: YAML indents with spaces only)" : "";
  }

  Pos PosOf(const YAML::Node& n) const {
    auto m = n.Mark();
    if (m.line < 0) return {};
    return {m.line + 1, m.column + 1};
  }

  // Where byte `offset` of a scalar's value stands in the file. yaml-cpp only
  // gives the scalar's start, so walk the source alongside the value,
  // skipping what the scalar's style hides: quotes, escapes, indentation.
  PosMapper MapperFor(const YAML::Node& n) const {
    auto m = n.Mark();
    if (m.pos < 0) return [](size_t) { return Pos{}; };
    const std::string& text = src_.text();
    std::string value = n.IsScalar() ? n.Scalar() : "";
    size_t start = static_cast<size_t>(m.pos);
    char style = start < text.size() ? text[start] : ' ';
    bool block = style == '|' || style == '>';
    bool dq = style == '"', sq = style == '\'';
    if (block) {
      start = text.find('\n', start);
      start = start == std::string::npos ? text.size() : start + 1;
    } else if (dq || sq) {
      ++start;
    }
    size_t indent = 0;
    if (block) {
      size_t p = start;
      while (p < text.size() && text[p] == ' ') ++p;
      indent = p - start;
    }
    // Capture the file by pointer: [=] on the reference would copy the whole
    // text into every scalar's mapper.
    const SourceFile* src = &src_;
    return [=, &text = src_.text()](size_t offset) {
      size_t s = start, v = 0;
      if (block) s += indent;
      while (v < offset && s < text.size()) {
        char c = text[s];
        if (c == '\n') {
          ++s;
          size_t skipped = 0;
          while (s < text.size() && (text[s] == ' ' || text[s] == '\t') && (!block || skipped < indent)) {
            ++s;
            ++skipped;
          }
          if (v < value.size() && (value[v] == '\n' || value[v] == ' ')) ++v;
          continue;
        }
        if (dq && c == '\\') {
          s += 2;
          ++v;
          continue;
        }
        if (sq && c == '\'' && s + 1 < text.size() && text[s + 1] == '\'') {
          s += 2;
          ++v;
          continue;
        }
        ++s;
        ++v;
      }
      return src->PosOf(s);
    };
  }

  // Reports unknown and duplicate keys; returns false if `n` is not a map.
  bool CheckMap(const YAML::Node& n, Pos fallback, const std::string& what,
                const std::vector<std::string>& allowed) {
    if (!n.IsMap()) {
      Error(n.IsNull() ? fallback : PosOf(n), what + " must be a mapping");
      return false;
    }
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string key = it->first.Scalar();
      Pos p = PosOf(it->first);
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        Error(p, "unknown key '" + key + "' in " + what + DidYouMean(key, allowed));
      else if (!seen.insert(key).second)
        Error(p, "duplicate key '" + key + "' in " + what);
    }
    return true;
  }

  // The node's position, or its key's when the value is empty.
  Pos ValuePos(const YAML::Node& map, const std::string& key) {
    for (auto it = map.begin(); it != map.end(); ++it)
      if (it->first.Scalar() == key) return it->second.IsNull() ? PosOf(it->first) : PosOf(it->second);
    return PosOf(map);
  }

  std::optional<std::string> Str(const YAML::Node& map, const std::string& key,
                                 const std::string& what) {
    YAML::Node n = map[key];
    if (!n.IsDefined()) return std::nullopt;
    if (!n.IsScalar()) {
      Error(ValuePos(map, key), "'" + key + "' of " + what + " must be a string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<bool> Bool(const YAML::Node& map, const std::string& key, const std::string& what) {
    YAML::Node n = map[key];
    if (!n.IsDefined()) return std::nullopt;
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
      Error(ValuePos(map, key), "'" + key + "' of " + what + " must be true or false");
      return std::nullopt;
    }
    return b;
  }

  std::optional<long long> Int(const YAML::Node& map, const std::string& key,
                               const std::string& what, long long min) {
    YAML::Node n = map[key];
    if (!n.IsDefined()) return std::nullopt;
    long long v = 0;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v) || v < min) {
      Error(ValuePos(map, key), "'" + key + "' of " + what + " must be a whole number" +
                                    (min > 0 ? " of at least " + std::to_string(min) : " (0 or more)"));
      return std::nullopt;
    }
    return v;
  }

  std::optional<Millis> Dur(const YAML::Node& map, const std::string& key, const std::string& what) {
    auto s = Str(map, key, what);
    if (!s) return std::nullopt;
    auto d = ParseDuration(*s);
    if (!d) {
      Error(ValuePos(map, key), "invalid duration '" + *s + "' for '" + key + "' of " + what +
                                    ": use 250ms, 30s, 5m, 2h, 1h30m or whole seconds");
    }
    return d;
  }

  std::optional<std::string> Regex(const YAML::Node& map, const std::string& key,
                                   const std::string& what) {
    auto s = Str(map, key, what);
    if (!s) return std::nullopt;
    if (auto err = RegexError(*s)) {
      Error(ValuePos(map, key), "invalid regex '" + *s + "' for '" + key + "' of " + what + ": " + *err);
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> OneOf(const YAML::Node& map, const std::string& key,
                                   const std::string& what, const std::vector<std::string>& allowed) {
    auto s = Str(map, key, what);
    if (!s) return std::nullopt;
    if (std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
      std::string list;
      for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Error(ValuePos(map, key), "invalid " + key + " '" + *s + "' for " + what + ": expected one of " +
                                    list + DidYouMean(*s, allowed));
      return std::nullopt;
    }
    return s;
  }

  // A string or a list of strings.
  std::vector<At<std::string>> StrList(const YAML::Node& map, const std::string& key,
                                       const std::string& what) {
    std::vector<At<std::string>> out;
    YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) return out;
    if (n.IsScalar()) return {{n.Scalar(), PosOf(n)}};
    if (!n.IsSequence()) {
      Error(ValuePos(map, key), "'" + key + "' of " + what + " must be a string or a list of strings");
      return out;
    }
    for (const auto& item : n) {
      if (!item.IsScalar())
        Error(PosOf(item), "items of '" + key + "' in " + what + " must be strings");
      else
        out.push_back({item.Scalar(), PosOf(item)});
    }
    return out;
  }

  // What YAML would read differently from what a person wrote: any tag
  // (`!x`, `!!str`, a lone `!` that silently drops a negation), and a quoted
  // scalar that never ends (yaml-cpp accepts one at the end of the file,
  // folding the lines after it into the value). Every such node is an error
  // at its position; returns whether there was one. Walks with a stack, not
  // recursion.
  bool Misread(const YAML::Node& root) {
    const std::string& text = src_.text();
    bool found = false;
    std::vector<YAML::Node> todo = {root};
    size_t visited = 0;
    while (!todo.empty()) {
      YAML::Node n = todo.back();
      todo.pop_back();
      if (++visited > kMaxYamlNodes) {
        // Every use of an anchor is another copy of it to read.
        Error(PosOf(n), "the runbook expands to more than " + std::to_string(kMaxYamlNodes) +
                            " YAML nodes (each use of an &anchor counts again): refusing to read it");
        return true;
      }
      auto m = n.Mark();
      char first = m.pos >= 0 && static_cast<size_t>(m.pos) < text.size() ? text[m.pos] : ' ';
      if (first == '!') {
        size_t end = text.find_first_of(" \t\r\n,]}", m.pos);
        std::string tag = text.substr(m.pos, end == std::string::npos ? std::string::npos : end - m.pos);
        Error(PosOf(n), tag == "!"
                            ? "YAML reads this '!' as a tag and drops it, so the value loses its negation: quote "
                              "the whole value, e.g. \"!" + (n.IsScalar() ? n.Scalar() : std::string("...")) + "\""
                            : "YAML reads '" + tag + "' as a tag, not as text (runbooks use no tags): quote the "
                                  "whole value, e.g. \"" + tag +
                                  (n.IsScalar() && !n.Scalar().empty() ? " " + n.Scalar() : std::string()) + "\"");
        found = true;
      } else if ((first == '"' || first == '\'') && n.IsScalar() && !Closes(text, static_cast<size_t>(m.pos))) {
        Error(PosOf(n), std::string("this ") + (first == '"' ? "double" : "single") +
                            "-quoted string is never closed: it runs to the end of the file");
        found = true;
      }
      if (n.IsMap()) {
        for (auto it = n.begin(); it != n.end(); ++it) {
          todo.push_back(it->first);
          todo.push_back(it->second);
        }
      } else if (n.IsSequence()) {
        for (auto it = n.begin(); it != n.end(); ++it) todo.push_back(*it);
      }
    }
    return found;
  }

  // Whether the quoted scalar opening at `open` has its closing quote.
  static bool Closes(const std::string& text, size_t open) {
    char q = text[open];
    for (size_t i = open + 1; i < text.size(); ++i) {
      if (q == '"' && text[i] == '\\') {
        ++i;
      } else if (text[i] == q) {
        if (q == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
          ++i;  // '' is a quote inside single quotes
          continue;
        }
        return true;
      }
    }
    return false;
  }

  ExprPtr Expression(const YAML::Node& n, Pos fallback) {
    if (!n.IsScalar()) {
      Error(n.IsNull() ? fallback : PosOf(n), "an expression must be a string");
      return nullptr;
    }
    auto parsed = ParseExpr(n.Scalar(), MapperFor(n));
    if (parsed.error) diags_->Add(*parsed.error);
    return parsed.expr;
  }

  Template Text(const YAML::Node& n, bool shell) {
    if (!n.IsScalar()) {
      Error(PosOf(n), "expected a string");
      return {};
    }
    return ParseTemplate(n.Scalar(), PosOf(n), MapperFor(n), shell, diags_);
  }

  // ---- runbook --------------------------------------------------------------
  void RunbookFields(const YAML::Node& root) {
    CheckMap(root, {1, 1}, "runbook", keys::kRunbook);
    if (auto s = Str(root, "name", "the runbook")) {
      rb_->name = *s;
      rb_->name_pos = ValuePos(root, "name");
      if (!IsValidRunbookName(*s))
        Error(rb_->name_pos, "invalid runbook name '" + Shown(*s) + "': names match ^[a-z0-9][a-z0-9_-]*$" + kAtMost);
    } else if (!root["name"].IsDefined()) {
      Error({1, 1}, "missing required key 'name' in runbook");
    }
    rb_->title = Str(root, "title", "the runbook").value_or("");
    rb_->description = Str(root, "description", "the runbook").value_or("");
    rb_->purpose = Str(root, "purpose", "the runbook").value_or("");
    rb_->owner = Str(root, "owner", "the runbook").value_or("");
    rb_->severity = Str(root, "severity", "the runbook").value_or("");
    for (auto& t : StrList(root, "tags", "the runbook")) rb_->tags.push_back(t.value);
    if (YAML::Node t = root["targets"]; t.IsDefined() &&
        CheckMap(t, ValuePos(root, "targets"), "targets", keys::kTargets)) {
      rb_->rto = Dur(t, "rto", "targets");
      rb_->rpo = Dur(t, "rpo", "targets");
    }
    Escalations(root);
    Notifiers(root);
    Inputs(root);
    rb_->env = Env(root, "the runbook");
    Defaults(root);
    if (auto s = OneOf(root, "on_failure", "the runbook", {"rollback", "stop"}))
      rb_->rollback_on_failure = *s == "rollback";
    rb_->timeout = Dur(root, "timeout", "the runbook");
    if (auto s = OneOf(root, "concurrency", "the runbook", {"exclusive", "shared"}))
      rb_->exclusive = *s == "exclusive";
    if (YAML::Node p = root["preflight"]; p.IsDefined()) {
      if (!p.IsSequence())
        Error(ValuePos(root, "preflight"), "'preflight' must be a list of checks");
      else
        for (const auto& c : p) rb_->preflight.push_back(CheckItem(c, "preflight check"));
    }
    YAML::Node steps = root["steps"];
    if (!steps.IsDefined()) {
      Error({1, 1}, "missing required key 'steps' in runbook");
    } else if (!steps.IsSequence() || steps.size() == 0) {
      Error(ValuePos(root, "steps"), "'steps' must be a non-empty list of steps");
    } else if (steps.size() > kMaxSteps) {
      Error(ValuePos(root, "steps"), TooMany("steps", steps.size()));
    } else {
      for (const auto& s : steps) rb_->steps.push_back(StepFields(s, false));
    }
    if (YAML::Node f = root["finally"]; f.IsDefined() && !f.IsNull()) {
      if (!f.IsSequence())
        Error(ValuePos(root, "finally"), "'finally' must be a list of steps");
      else if (f.size() > kMaxSteps)
        Error(ValuePos(root, "finally"), TooMany("finally", f.size()));
      else
        for (const auto& s : f) rb_->finally.push_back(StepFields(s, true));
    }
  }

  static std::string TooMany(const std::string& key, size_t n) {
    return "'" + key + "' has " + std::to_string(n) + " steps; a runbook has at most " + std::to_string(kMaxSteps) +
           " (split it into runbooks that a runbook: step runs)";
  }

  void Escalations(const YAML::Node& root) {
    YAML::Node e = root["escalation"];
    if (!e.IsDefined() || e.IsNull()) return;
    if (!e.IsSequence()) {
      Error(ValuePos(root, "escalation"), "'escalation' must be a list of contacts");
      return;
    }
    for (const auto& item : e) {
      Escalation esc;
      esc.pos = PosOf(item);
      if (!CheckMap(item, esc.pos, "escalation contact", keys::kEscalation)) continue;
      if (auto c = Str(item, "contact", "an escalation contact"))
        esc.contact = *c;
      else if (!item["contact"].IsDefined())
        Error(esc.pos, "missing required key 'contact' in escalation contact");
      if (auto w = OneOf(item, "when", "an escalation contact",
                               {"failure", "waiting", "timeout", "always"})) {
        esc.when = *w == "failure"   ? Escalation::When::kFailure
                   : *w == "waiting" ? Escalation::When::kWaiting
                   : *w == "timeout" ? Escalation::When::kTimeout
                                     : Escalation::When::kAlways;
      }
      esc.after = Dur(item, "after", "an escalation contact");
      rb_->escalation.push_back(esc);
    }
  }

  void Notifiers(const YAML::Node& root) {
    YAML::Node n = root["notify"];
    if (!n.IsDefined() || n.IsNull()) return;
    if (!n.IsSequence()) {
      Error(ValuePos(root, "notify"), "'notify' must be a list of {on, run, timeout}");
      return;
    }
    for (const auto& item : n) {
      Notify x;
      x.pos = PosOf(item);
      if (!CheckMap(item, x.pos, "notify entry", keys::kNotify)) continue;
      for (auto& ev : StrList(item, "on", "a notify entry")) {
        if (std::find(keys::kNotifyEvents.begin(), keys::kNotifyEvents.end(), ev.value) == keys::kNotifyEvents.end())
          Error(ev.pos, "unknown event '" + Shown(ev.value) + "' in notify: one of waiting, failed, rolled_back, "
                        "succeeded, escalation");
        else
          x.on.push_back(ev.value);
      }
      if (auto r = Str(item, "run", "a notify entry")) {
        x.run = *r;
        if (r->find("{{") != std::string::npos)
          Error(ValuePos(item, "run"), "a notify command takes no {{ }}: the event is in $RUNBOOK_EVENT_* and on "
                                       "stdin, so no value becomes code");
      } else if (!item["run"].IsDefined()) {
        Error(x.pos, "missing required key 'run' in notify entry");
      }
      x.timeout = Dur(item, "timeout", "a notify entry");
      rb_->notify.push_back(x);
    }
  }

  void Inputs(const YAML::Node& root) {
    YAML::Node in = root["inputs"];
    if (!in.IsDefined() || in.IsNull()) return;
    if (!in.IsMap()) {
      Error(ValuePos(root, "inputs"), "'inputs' must be a mapping of name: {description, default, ...}");
      return;
    }
    for (auto it = in.begin(); it != in.end(); ++it) {
      InputDecl d;
      d.name = it->first.Scalar();
      d.pos = PosOf(it->first);
      InputField(std::move(d), it->second);
    }
  }

  void InputField(InputDecl d, const YAML::Node& n) {
    std::string what = "input '" + d.name + "'";
    if (!IsValidInputName(d.name))
      Error(d.pos, "invalid input name '" + Shown(d.name) + "': input names match ^[a-z_][a-z0-9_]*$" + kAtMost);
    if (rb_->FindInput(d.name)) Error(d.pos, "duplicate input '" + d.name + "'");
    if (!n.IsNull()) {
      if (!CheckMap(n, d.pos, what, keys::kInput)) return;
      d.description = Str(n, "description", what).value_or("");
      d.required = Bool(n, "required", what).value_or(false);
      d.secret = Bool(n, "secret", what).value_or(false);
      d.from_env = Str(n, "from_env", what).value_or("");
      if (!d.from_env.empty() && !IsEnvName(d.from_env))
        Error(ValuePos(n, "from_env"), "invalid environment variable name '" + Shown(d.from_env) + "': names match ^[A-Za-z_][A-Za-z0-9_]*$" + kAtMost);
      d.pattern = Regex(n, "pattern", what).value_or("");
      if (auto t = OneOf(n, "type", what, {"string", "number", "boolean"}))
        d.type = *t == "number" ? InputDecl::Type::kNumber
                 : *t == "boolean" ? InputDecl::Type::kBoolean
                                   : InputDecl::Type::kString;
      for (auto& v : StrList(n, "enum", what)) d.enum_values.push_back(v.value);
      if (n["enum"].IsDefined() && d.enum_values.empty())
        Error(ValuePos(n, "enum"), "'enum' of " + what + " must list at least one value");
      if (YAML::Node def = n["default"]; def.IsDefined()) {
        if (!def.IsScalar())
          Error(ValuePos(n, "default"), "'default' of " + what + " must be a single value");
        else
          d.default_value = def.Scalar();
      }
    }
    rb_->inputs.push_back(std::move(d));
  }

  std::vector<EnvVar> Env(const YAML::Node& owner, const std::string& what) {
    std::vector<EnvVar> out;
    YAML::Node e = owner["env"];
    if (!e.IsDefined() || e.IsNull()) return out;
    if (!e.IsMap()) {
      Error(ValuePos(owner, "env"), "'env' of " + what + " must be a mapping of NAME: value");
      return out;
    }
    std::set<std::string> seen;
    for (auto it = e.begin(); it != e.end(); ++it) {
      std::string name = it->first.Scalar();
      Pos p = PosOf(it->first);
      if (!IsEnvName(name))
        Error(p, "invalid environment variable name '" + Shown(name) + "': names match ^[A-Za-z_][A-Za-z0-9_]*$" + kAtMost);
      else if (!seen.insert(name).second)
        Error(p, "duplicate key '" + name + "' in env");
      if (!it->second.IsScalar()) {
        Error(it->second.IsNull() ? p : PosOf(it->second), "the value of env '" + name + "' must be a string");
        continue;
      }
      out.push_back({name, Text(it->second, false)});
    }
    return out;
  }

  void Defaults(const YAML::Node& root) {
    YAML::Node d = root["defaults"];
    if (!d.IsDefined() || d.IsNull()) return;
    if (!CheckMap(d, ValuePos(root, "defaults"), "defaults", keys::kDefaults)) return;
    default_timeout_ = Dur(d, "timeout", "defaults");
    if (d["retry"].IsDefined()) default_retry_ = Retry(d, "defaults");
    default_shell_ = Str(d, "shell", "defaults").value_or("bash");
    default_workdir_ = Str(d, "workdir", "defaults").value_or(".");
  }

  RetryPolicy Retry(const YAML::Node& owner, const std::string& what) {
    RetryPolicy r;
    YAML::Node n = owner["retry"];
    std::string w = "retry of " + what;
    if (n.IsScalar()) {  // shorthand: retry: 3
      long long v = 0;
      if (!YAML::convert<long long>::decode(n, v) || v < 1)
        Error(PosOf(n), "'retry' must be a mapping {attempts, delay, backoff, max_delay} or a number of attempts");
      else
        r.attempts = static_cast<int>(v);
      return r;
    }
    if (!CheckMap(n, ValuePos(owner, "retry"), w, keys::kRetry)) return r;
    r.attempts = static_cast<int>(Int(n, "attempts", w, 1).value_or(1));
    r.delay = Dur(n, "delay", w).value_or(r.delay);
    r.max_delay = Dur(n, "max_delay", w).value_or(r.max_delay);
    if (YAML::Node b = n["backoff"]; b.IsDefined()) {
      double v = 0;
      // !(v >= 1) also refuses .nan; .inf and absurd factors are refused too.
      if (!b.IsScalar() || !YAML::convert<double>::decode(b, v) || !(v >= 1.0) || !(v <= 100.0))
        Error(ValuePos(n, "backoff"), "'backoff' of " + w + " must be a number from 1.0 to 100");
      else
        r.backoff = v;
    }
    return r;
  }

  Check CheckItem(const YAML::Node& n, const std::string& what) {
    Check c;
    c.pos = PosOf(n);
    if (n.IsScalar()) {  // shorthand: verify: "command"
      c.run = Text(n, true);
      c.name = c.run.raw;
      return c;
    }
    if (!CheckMap(n, c.pos, what, keys::kCheck)) return c;
    c.name = Str(n, "name", what).value_or("");
    if (YAML::Node r = n["run"]; r.IsDefined() && r.IsScalar())
      c.run = Text(r, true);
    else if (r.IsDefined())
      Error(ValuePos(n, "run"), "'run' of " + what + " must be a command string");
    else
      Error(c.pos, "missing required key 'run' in " + what);
    if (c.name.empty()) c.name = c.run.raw;
    c.retries = static_cast<int>(Int(n, "retries", what, 0).value_or(0));
    c.interval = Dur(n, "interval", what).value_or(c.interval);
    c.timeout = Dur(n, "timeout", what);
    if (YAML::Node e = n["expect"]; e.IsDefined() &&
        CheckMap(e, ValuePos(n, "expect"), "expect", keys::kExpect)) {
      if (YAML::Node x = e["exit_code"]; x.IsDefined()) {
        int code = 0;
        if (x.IsScalar() && x.Scalar() == "any")
          c.expect.exit_code.reset();
        else if (x.IsScalar() && YAML::convert<int>::decode(x, code) && code >= 0 && code <= 255)
          c.expect.exit_code = code;
        else
          Error(ValuePos(e, "exit_code"), "'exit_code' of expect must be 0-255 or 'any'");
      }
      c.expect.stdout_regex = Regex(e, "stdout", "expect").value_or("");
      c.expect.stderr_regex = Regex(e, "stderr", "expect").value_or("");
    }
    return c;
  }

  // ---- steps ----------------------------------------------------------------
  Step StepFields(const YAML::Node& n, bool in_finally) {
    Step s;
    s.in_finally = in_finally;
    s.pos = PosOf(n);
    s.timeout = default_timeout_;
    s.retry = default_retry_;
    s.shell = default_shell_;
    s.workdir = default_workdir_;
    if (!CheckMap(n, s.pos, "step", keys::kStep)) return s;
    if (auto id = Str(n, "id", "a step")) {
      s.id = *id;
      s.id_pos = ValuePos(n, "id");
      if (!IsValidRunbookName(*id))
        Error(s.id_pos, "invalid step id '" + Shown(*id) + "': ids match ^[a-z0-9][a-z0-9_-]*$" + kAtMost);
    } else if (!n["id"].IsDefined()) {
      Error(s.pos, "missing required key 'id' in step");
    }
    std::string what = s.id.empty() ? "a step" : "step '" + s.id + "'";
    Kind(n, &s, what);
    if (YAML::Node name = n["name"]; name.IsDefined()) s.name = Text(name, false);
    s.description = Str(n, "description", what).value_or("");
    s.needs = StrList(n, "needs", what);
    if (YAML::Node w = n["when"]; w.IsDefined()) s.when = Expression(w, ValuePos(n, "when"));
    if (auto t = Dur(n, "timeout", what)) s.timeout = t;
    if (n["retry"].IsDefined()) s.retry = Retry(n, what);
    Verify(n, &s, what);
    Rollback(n, &s, what);
    if (auto f = OneOf(n, "on_failure", what, {"fail", "continue"}))
      s.continue_on_failure = *f == "continue";
    s.estimate = Dur(n, "estimate", what);
    Outputs(n, &s, what);
    s.env = Env(n, what);
    if (auto w = Str(n, "workdir", what)) s.workdir = *w;
    if (auto sh = Str(n, "shell", what)) s.shell = *sh;
    if (auto i = Bool(n, "idempotent", what)) s.idempotent = *i;
    if (n["checklist"].IsDefined() && s.kind != StepKind::kManual)
      Error(ValuePos(n, "checklist"), "'checklist' belongs to manual steps; " + what + " is a " + ToString(s.kind) + " step");
    if (n["inputs"].IsDefined() && s.kind != StepKind::kRunbook)
      Error(ValuePos(n, "inputs"), "'inputs' belongs to runbook steps; " + what + " is a " + ToString(s.kind) + " step");
    return s;
  }

  void Kind(const YAML::Node& n, Step* s, const std::string& what) {
    std::string found;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string key = it->first.Scalar();
      if (std::find(keys::kStepKinds.begin(), keys::kStepKinds.end(), key) == keys::kStepKinds.end())
        continue;
      if (!found.empty()) {
        Error(PosOf(it->first), what + " has two kinds, '" + found + "' and '" + key +
                                    "': a step is exactly one of run, manual, decision, wait, runbook");
        continue;
      }
      found = key;
      s->kind_pos = PosOf(it->first);
      YAML::Node v = it->second;  // a copy: it->second is a temporary
      if (key == "run") {
        s->kind = StepKind::kRun;
        if (!v.IsScalar()) Error(ValuePos(n, key), "'run' of " + what + " must be a command string");
        else s->run = Text(v, true);
      } else if (key == "manual") {
        s->kind = StepKind::kManual;
        if (!v.IsScalar()) Error(ValuePos(n, key), "'manual' of " + what + " must be markdown text");
        else s->manual = Text(v, false);
        for (auto& item : StrList(n, "checklist", what)) s->checklist.push_back(item.value);
      } else if (key == "decision") {
        s->kind = StepKind::kDecision;
        DecisionFields(v, ValuePos(n, key), s, what);
      } else if (key == "wait") {
        s->kind = StepKind::kWait;
        s->wait = Dur(n, "wait", what).value_or(Millis(0));
      } else {
        s->kind = StepKind::kRunbook;
        if (auto name = Str(n, "runbook", what)) {
          s->runbook = {*name, ValuePos(n, "runbook")};
          if (!IsValidRunbookName(*name))
            Error(s->runbook.pos, "invalid runbook name '" + Shown(*name) + "': names match ^[a-z0-9][a-z0-9_-]*$" + kAtMost);
        }
        if (YAML::Node in = n["inputs"]; in.IsDefined() && !in.IsNull()) {
          if (!in.IsMap()) {
            Error(ValuePos(n, "inputs"), "'inputs' of " + what + " must be a mapping of name: value");
          } else {
            for (auto i = in.begin(); i != in.end(); ++i) {
              if (!i->second.IsScalar())
                Error(PosOf(i->first), "the value of input '" + i->first.Scalar() + "' must be a single value");
              else
                s->runbook_inputs.push_back({i->first.Scalar(), Text(i->second, false)});
            }
          }
        }
      }
    }
    if (found.empty())
      Error(s->pos, what + " has no kind: add one of run, manual, decision, wait, runbook");
  }

  void DecisionFields(const YAML::Node& d, Pos pos, Step* s, const std::string& what) {
    if (!CheckMap(d, pos, "decision", keys::kDecision)) return;
    if (YAML::Node p = d["prompt"]; p.IsDefined()) s->decision.prompt = Text(p, false);
    YAML::Node choices = d["choices"];
    if (!choices.IsDefined()) {
      Error(pos, "missing required key 'choices' in decision of " + what);
    } else if (!choices.IsSequence() || choices.size() == 0) {
      Error(ValuePos(d, "choices"), "'choices' of " + what + " must be a non-empty list");
    } else {
      for (const auto& c : choices) {
        Choice ch;
        ch.pos = PosOf(c);
        if (!CheckMap(c, ch.pos, "choice", keys::kChoice)) continue;
        if (auto v = Str(c, "value", "a choice"))
          ch.value = *v;
        else if (!c["value"].IsDefined())
          Error(ch.pos, "missing required key 'value' in choice");
        for (const auto& other : s->decision.choices)
          if (!ch.value.empty() && other.value == ch.value)
            Error(ValuePos(c, "value"), "duplicate choice value '" + ch.value + "' in " + what);
        if (YAML::Node w = c["when"]; w.IsDefined()) ch.when = Expression(w, ValuePos(c, "when"));
        ch.go_to = StrList(c, "goto", "a choice");
        s->decision.choices.push_back(std::move(ch));
      }
    }
    if (auto def = Str(d, "default", "a decision")) {
      s->decision.default_choice = At<std::string>{*def, ValuePos(d, "default")};
      std::vector<std::string> values;
      for (auto& c : s->decision.choices) values.push_back(c.value);
      if (std::find(values.begin(), values.end(), *def) == values.end())
        Error(ValuePos(d, "default"), "default '" + *def + "' of " + what + " is not one of its choices" +
                                          DidYouMean(*def, values));
    }
  }

  void Verify(const YAML::Node& n, Step* s, const std::string& what) {
    YAML::Node v = n["verify"];
    if (!v.IsDefined() || v.IsNull()) return;
    std::string w = "verification of " + what;
    if (v.IsSequence()) {
      for (const auto& c : v) s->verify.push_back(CheckItem(c, w));
    } else {
      s->verify.push_back(CheckItem(v, w));
    }
  }

  void Rollback(const YAML::Node& n, Step* s, const std::string& what) {
    YAML::Node r = n["rollback"];
    if (!r.IsDefined() || r.IsNull()) return;
    RollbackHook hook;
    hook.pos = PosOf(r);
    if (r.IsScalar()) {
      hook.run = Text(r, true);
    } else {
      std::string w = "rollback of " + what;
      if (!CheckMap(r, hook.pos, w, keys::kRollback)) return;
      if (YAML::Node run = r["run"]; run.IsDefined() && run.IsScalar())
        hook.run = Text(run, true);
      else
        Error(run.IsDefined() ? ValuePos(r, "run") : hook.pos, "'run' of " + w + " must be a command string");
      hook.timeout = Dur(r, "timeout", w);
    }
    s->rollback = std::move(hook);
  }

  void Outputs(const YAML::Node& n, Step* s, const std::string& what) {
    YAML::Node o = n["outputs"];
    if (!o.IsDefined() || o.IsNull()) return;
    if (!o.IsMap()) {
      Error(ValuePos(n, "outputs"), "'outputs' of " + what + " must be a mapping of name: stdout | exit_code | {regex: ...}");
      return;
    }
    for (auto it = o.begin(); it != o.end(); ++it) {
      OutputSpec spec;
      spec.name = it->first.Scalar();
      spec.pos = PosOf(it->first);
      if (!IsEnvName(spec.name))
        Error(spec.pos, "invalid output name '" + Shown(spec.name) + "': output names match ^[A-Za-z_][A-Za-z0-9_]*$" + kAtMost);
      YAML::Node v = it->second;  // a copy: it->second is a temporary
      if (v.IsScalar() && (v.Scalar() == "stdout" || v.Scalar() == "exit_code")) {
        spec.source = v.Scalar() == "stdout" ? OutputSpec::Source::kStdout : OutputSpec::Source::kExitCode;
      } else if (v.IsMap()) {
        if (!CheckMap(v, spec.pos, "output '" + spec.name + "'", keys::kOutput)) continue;
        spec.source = OutputSpec::Source::kRegex;
        if (auto re = Regex(v, "regex", "output '" + spec.name + "'"))
          spec.regex = *re;
        else if (!v["regex"].IsDefined())
          Error(PosOf(v), "missing required key 'regex' in output '" + spec.name + "'");
      } else {
        Error(v.IsNull() ? spec.pos : PosOf(v), "output '" + spec.name +
                                                    "' must be stdout, exit_code or {regex: \"...\"}");
        continue;
      }
      s->outputs.push_back(spec);
    }
  }

  Runbook* rb_;
  const SourceFile& src_;
  Diagnostics* diags_;
  std::optional<Millis> default_timeout_;
  RetryPolicy default_retry_;
  std::string default_shell_ = "bash";
  std::string default_workdir_ = ".";
};

}  // namespace

bool IsValidRunbookName(const std::string& s) {
  return NameOf(s, [](char c) { return Lower(c) || Digit(c); },
                [](char c) { return Lower(c) || Digit(c) || c == '_' || c == '-'; });
}
bool IsValidInputName(const std::string& s) {
  return NameOf(s, [](char c) { return Lower(c) || c == '_'; },
                [](char c) { return Lower(c) || Digit(c) || c == '_'; });
}

std::optional<std::map<std::string, std::string>> ParseValuesFile(const std::string& path, const std::string& text,
                                                                  std::string* error) {
  auto at = [&](const YAML::Mark& m) {
    return path + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
  };
  try {
    YAML::Node root = YAML::Load(text);
    std::map<std::string, std::string> out;
    if (root.IsNull()) return out;
    if (!root.IsMap()) {
      *error = at(root.Mark()) + "expected a mapping of name: value";
      return std::nullopt;
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (!it->second.IsScalar()) {
        *error = at(it->first.Mark()) + "the value of '" + it->first.Scalar() + "' must be a single value";
        return std::nullopt;
      }
      out[it->first.Scalar()] = it->second.Scalar();
    }
    return out;
  } catch (const YAML::Exception& e) {
    *error = at(e.mark) + "invalid YAML: " + e.msg;
    return std::nullopt;
  }
}

Runbook ParseRunbook(SourceFile source, Diagnostics* diags) {
  Runbook rb;
  rb.source = std::move(source);
  RunbookParser(&rb, diags).Parse();
  return rb;
}

}  // namespace runbook
