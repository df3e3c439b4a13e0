#include "engine/validate.h"

#include <filesystem>
#include <map>
#include <memory>
#include <cctype>

#include "engine/regex.h"
#include <set>

#include "engine/graph.h"
#include "engine/suggest.h"

namespace runbook {
namespace {

// Which steps an expression at some place may refer to.
struct Scope {
  bool steps_allowed = false;  // false: runs before any step (preflight, the runbook's env)
  const StepGraph* graph = nullptr;
  int vertex = -1;
  // The step's transitive needs, computed on first use: most steps refer to
  // no other step, and computing them for every step is quadratic on a chain.
  mutable std::shared_ptr<std::vector<bool>> ancestors;
  bool Needs(int u) const {
    if (!ancestors) ancestors = std::make_shared<std::vector<bool>>(graph->Ancestors(vertex));
    return (*ancestors)[u];
  }
  std::string self;          // may also refer to itself (verify, rollback, outputs)
  bool any_main_step = false;  // finally steps may refer to any main step
  std::string where;         // "step 'x'", "preflight", ...
};

class Validator {
 public:
  Validator(const Runbook& rb, Diagnostics* diags) : rb_(rb), diags_(diags) {
    for (const auto* list : {&rb.steps, &rb.finally})
      for (const auto& s : *list) all_ids_.push_back(s.id);
    for (const auto& s : rb.steps) main_ids_.insert(s.id);
    for (const auto& i : rb.inputs) input_names_.push_back(i.name);
  }

  void Run() {
    NameMatchesFile();
    DuplicateIds();
    Inputs();
    StepList(rb_.steps, false);
    StepList(rb_.finally, true);
    Scope none;
    none.where = "preflight";
    for (const auto& c : rb_.preflight) Command(c.run, none, "bash");
    none.where = "the runbook's env";
    for (const auto& e : rb_.env) TextRefs(e.value, none);
  }

 private:
  void Error(Pos p, std::string m) { diags_->Error(p, std::move(m)); }

  void NameMatchesFile() {
    std::string stem = std::filesystem::path(rb_.source.path()).stem().string();
    if (!rb_.name.empty() && !stem.empty() && rb_.name != stem)
      diags_->Warning(rb_.name_pos, "runbook name '" + rb_.name + "' differs from the file name '" + stem +
                                        "'; `runbook run " + stem + "` finds it by the file name");
  }

  void DuplicateIds() {
    std::map<std::string, Pos> first;
    for (const auto* list : {&rb_.steps, &rb_.finally})
      for (const auto& s : *list) {
        if (s.id.empty()) continue;
        auto [it, inserted] = first.emplace(s.id, s.id_pos);
        if (!inserted)
          Error(s.id_pos, "duplicate step id '" + s.id + "' (first defined at line " +
                              std::to_string(it->second.line) + ")");
      }
  }

  void Inputs() {
    for (const auto& in : rb_.inputs) {
      for (const auto& v : in.enum_values) {
        InputDecl no_enum = in;
        no_enum.enum_values.clear();
        if (auto why = CheckInputValue(no_enum, v))
          Error(in.pos, "enum value '" + v + "' of input '" + in.name + "': " + *why);
      }
      if (in.default_value) {
        if (auto why = CheckInputValue(in, *in.default_value))
          Error(in.pos, "default of input '" + in.name + "': " + *why);
      }
    }
  }

  void StepList(const std::vector<Step>& steps, bool is_finally) {
    StepGraph graph(steps);
    std::vector<std::string> ids;
    for (const auto& s : steps) ids.push_back(s.id);
    for (const auto& s : steps) {
      for (const auto& n : s.needs) {
        if (graph.Index(n.value)) continue;
        if (is_finally && main_ids_.count(n.value))
          Error(n.pos, "finally step '" + s.id + "' cannot need '" + n.value +
                           "': finally steps form their own graph and run after all steps");
        else
          Error(n.pos, "unknown step '" + n.value + "' in needs of '" + s.id + "'" + DidYouMean(n.value, ids));
      }
      if (s.kind == StepKind::kDecision) Decision(s, graph, ids);
    }
    auto cycles = graph.FindCycles();
    for (const auto& c : cycles) Error(c.pos, "dependency cycle: " + c.ToString());

    for (int v = 0; v < graph.size(); ++v) {
      const Step& s = steps[v];
      Scope scope;
      scope.steps_allowed = true;
      scope.graph = &graph;
      scope.vertex = v;
      scope.any_main_step = is_finally;
      scope.where = "step '" + s.id + "'";
      StepRefs(s, scope);
    }
  }

  void Decision(const Step& s, const StepGraph& graph, const std::vector<std::string>& ids) {
    const auto& d = s.decision;
    bool unconditional = false;
    for (const auto& c : d.choices) {
      if (!c.when) unconditional = true;
      for (const auto& t : c.go_to) {
        if (!graph.Index(t.value))
          Error(t.pos, "unknown step '" + t.value + "' in goto of choice '" + c.value + "'" +
                           DidYouMean(t.value, ids));
      }
    }
    if (!d.prompt && !d.default_choice && !unconditional && !d.choices.empty())
      Error(s.kind_pos, "decision '" + s.id +
                            "' could end with no branch: every choice has a 'when' and there is no "
                            "'prompt' or 'default'");
  }

  void StepRefs(const Step& s, Scope scope) {
    TextRefs(s.name, scope);
    if (!s.name.raw.empty()) NoSecrets(s.name, "a step's name");
    if (s.when) ExprRefs(*s.when, scope);
    for (const auto& e : s.env) TextRefs(e.value, scope);
    switch (s.kind) {
      case StepKind::kRun: Command(s.run, scope, s.shell); break;
      case StepKind::kManual:
        TextRefs(s.manual, scope);
        NoSecrets(s.manual, "manual text");
        break;
      case StepKind::kDecision:
        if (s.decision.prompt) {
          TextRefs(*s.decision.prompt, scope);
          NoSecrets(*s.decision.prompt, "a decision's prompt");
        }
        for (const auto& c : s.decision.choices)
          if (c.when) ExprRefs(*c.when, scope);
        break;
      case StepKind::kRunbook:
        for (const auto& [name, value] : s.runbook_inputs) TextRefs(value, scope);
        break;
      case StepKind::kWait: break;
    }
    scope.self = s.id;  // its own verify and rollback see its results
    for (const auto& c : s.verify) Command(c.run, scope, s.shell);
    if (s.rollback) Command(s.rollback->run, scope, s.shell);
  }

  void TextRefs(const Template& t, const Scope& scope) {
    for (const auto& p : t.parts)
      if (p.is_expr) ExprRefs(*p.expr, scope);
  }

  void ExprRefs(const Expr& e, const Scope& scope) {
    std::vector<Ref> refs;
    CollectRefs(e, &refs);
    for (const auto& r : refs) CheckRef(r, scope);
  }

  void CheckRef(const Ref& r, const Scope& scope) {
    if (r.scope == Ref::Scope::kInputs) {
      if (!rb_.FindInput(r.field))
        Error(r.pos, "unknown input '" + r.field + "'" + DidYouMean(r.field, input_names_));
      return;
    }
    if (r.scope != Ref::Scope::kSteps) return;
    if (!rb_.FindStep(r.step)) {
      Error(r.pos, "unknown step '" + r.step + "'" + DidYouMean(r.step, all_ids_));
      return;
    }
    if (!scope.steps_allowed) {
      Error(r.pos, scope.where + " runs before any step and cannot refer to step '" + r.step + "'");
      return;
    }
    if (r.step == scope.self) return;
    if (scope.any_main_step && main_ids_.count(r.step)) return;
    auto v = scope.graph->Index(r.step);
    if (!v || !scope.Needs(*v)) {
      Error(r.pos, scope.where + " refers to step '" + r.step +
                       "', which is not among its transitive needs: add '" + r.step +
                       "' to its needs so that the result is known before it runs");
    }
  }

  // A command: places where a value can be referenced, a shell that
  // references environment variables, and secrets only as a bare
  // {{ inputs.S }} (rendered as "$RUNBOOK_INPUT_S").
  void Command(const Template& t, const Scope& scope, const std::string& shell) {
    TextRefs(t, scope);
    LintPasted(t);
    bool posix = shell == "bash" || shell == "sh";
    for (const auto& p : t.parts) {
      if (!p.is_expr) continue;
      if (!posix) {
        Error(p.pos, "templates in commands need shell 'bash' or 'sh', which read each value from its own "
                     "variable; with shell '" + shell + "' read the value from the environment instead "
                     "(RUNBOOK_INPUT_<NAME>)");
        continue;
      }
      if (p.context == ShellContext::kSingleQuoted || p.context == ShellContext::kQuotedHeredoc) {
        Error(p.pos, std::string("template inside ") + ToString(p.context) +
                         ": nothing expands there, so no value can be given: close the quotes before '{{' "
                         "(it becomes one quoted word), use double quotes, or an unquoted here-document");
        continue;
      }
      if (p.context == ShellContext::kHeredocDelimiter) {
        Error(p.pos, "template in a here-document's delimiter: the delimiter must be fixed text, or a value "
                     "could end the here-document early and run what follows");
        continue;
      }
      if (p.context == ShellContext::kArithmetic && !Numeric(*p.expr)) {
        Error(p.pos, "template in arithmetic ($(( )), (( )), let, [[ -eq ]], an array subscript or ${V:offset}): "
                     "bash evaluates a value there as code (a[$(cmd)] runs cmd), so only a number input or "
                     "int(...) may stand there");
        continue;
      }
      std::vector<Ref> refs;
      CollectRefs(*p.expr, &refs);
      bool bare = p.expr->kind == Expr::Kind::kRef;
      for (const auto& r : refs) {
        const InputDecl* in = rb_.SecretRead(r);
        if (in && !bare)
          Error(r.pos, "secret input '" + in->name + "' may appear in a command only as {{ inputs." +
                           in->name + " }} (passed through $RUNBOOK_INPUT_" + Upper(in->name) +
                           "), not inside a larger expression");
      }
    }
  }

  // What copying from a page leaves in a script (an import, or a person):
  // a shell prompt kept at a line's start ("$ cmd", "user@host:~$ cmd"),
  // which bash runs as a command named "$"; and a <placeholder> never filled
  // in, which bash reads as a redirection from a file of that name. Warnings,
  // at the text's position: the script may mean it.
  void LintPasted(const Template& t) {
    for (const auto& p : t.parts) {
      if (p.is_expr) continue;
      const std::string& text = p.literal;
      int line = p.pos.line;
      size_t start = 0;
      while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string_view l(text.data() + start, end - start);
        size_t first = l.find_first_not_of(" \t");
        if (first != std::string_view::npos) {
          std::string_view rest = l.substr(first);
          if (size_t prompt = ShellPromptLength(rest, false))
            Warning(At(line, rest.substr(0, prompt)),
                    "this line starts with a shell prompt, which bash would run as a command: remove '" +
                        std::string(rest.substr(0, prompt)) + "'");
          for (size_t k = l.find('<'); k != std::string_view::npos; k = l.find('<', k + 1)) {
            if (k > 0 && (l[k - 1] == '<' || l[k - 1] == '$')) continue;  // << heredoc, $<
            size_t e = k + 1;
            while (e < l.size() && (std::isalnum(static_cast<unsigned char>(l[e])) || l[e] == '_' || l[e] == '-')) ++e;
            if (e == k + 1 || e >= l.size() || l[e] != '>' || !std::isalpha(static_cast<unsigned char>(l[k + 1])))
              continue;
            std::string placeholder(l.substr(k, e + 1 - k));
            Warning(At(line, placeholder), "'" + placeholder + "' looks like a placeholder left in: bash reads it "
                                           "as a redirection from a file; make it an input ({{ inputs.NAME }})");
          }
        }
        ++line;
        start = end + 1;
      }
    }
  }

  // The position of `what` on file line `line` (its first occurrence), or the line's start.
  Pos At(int line, std::string_view what) const {
    std::string_view text = rb_.source.Line(line);
    size_t col = text.find(what);
    return Pos{line, col == std::string_view::npos ? 1 : static_cast<int>(col) + 1};
  }

  void Warning(Pos p, std::string m) { diags_->Warning(p, std::move(m)); }

  // An expression whose value is always a number: a number input, int(...).
  bool Numeric(const Expr& e) const {
    if (e.kind == Expr::Kind::kCall) return e.text == "int";
    if (e.kind == Expr::Kind::kRef && e.ref.scope == Ref::Scope::kInputs) {
      const InputDecl* in = rb_.FindInput(e.ref.field);
      return in && in->type == InputDecl::Type::kNumber;
    }
    return e.kind == Expr::Kind::kNumber;
  }

  void NoSecrets(const Template& t, const std::string& where) {
    std::vector<Ref> refs;
    for (const auto& p : t.parts)
      if (p.is_expr) CollectRefs(*p.expr, &refs);
    for (const auto& r : refs) {
      const InputDecl* in = rb_.SecretRead(r);
      if (!in) continue;
      std::string what = r.scope == Ref::Scope::kEnv ? "$" + r.field + ", the variable of secret input '" + in->name + "',"
                                                     : "secret input '" + in->name + "'";
      Error(r.pos, what + " cannot appear in " + where + ": it would be shown in clear");
    }
  }

  static std::string Upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }

  const Runbook& rb_;
  Diagnostics* diags_;
  std::vector<std::string> all_ids_;
  std::set<std::string> main_ids_;
  std::vector<std::string> input_names_;
};

}  // namespace

// -?DIGITS(.DIGITS)?
static bool IsDecimal(const std::string& v) {
  size_t i = !v.empty() && v[0] == '-' ? 1 : 0, digits = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i, ++digits;
  if (digits == 0) return false;
  if (i == v.size()) return true;
  if (v[i++] != '.') return false;
  size_t fraction = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i, ++fraction;
  return fraction > 0 && i == v.size();
}

std::optional<std::string> CheckInputValue(const InputDecl& decl, const std::string& value) {
  if (decl.type == InputDecl::Type::kNumber) {
    if (!IsDecimal(value)) return "'" + value + "' is not a number";
  }
  if (decl.type == InputDecl::Type::kBoolean && value != "true" && value != "false")
    return "'" + value + "' is not a boolean (true or false)";
  if (!decl.enum_values.empty() &&
      std::find(decl.enum_values.begin(), decl.enum_values.end(), value) == decl.enum_values.end()) {
    std::string list;
    for (const auto& v : decl.enum_values) list += (list.empty() ? "" : ", ") + v;
    return "'" + value + "' is not one of the allowed values: " + list;
  }
  if (!decl.pattern.empty()) {
    // The whole value must match: no multiline anchors here, or a second
    // line could smuggle anything past a pattern.
    if (!RegexFullMatch(decl.pattern, value)) return "'" + value + "' does not match the pattern " + decl.pattern;
  }
  return std::nullopt;
}

void ValidateRunbook(const Runbook& rb, Diagnostics* diags) { Validator(rb, diags).Run(); }

}  // namespace runbook
