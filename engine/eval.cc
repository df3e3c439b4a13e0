#include "engine/eval.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "engine/duration.h"
#include "engine/regex.h"

namespace runbook {

Value Value::Bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.boolean = b;
  return v;
}
Value Value::Number(double n) {
  Value v;
  v.kind = Kind::kNumber;
  v.number = n;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.kind = Kind::kString;
  v.text = std::move(s);
  return v;
}

bool Value::Truthy() const {
  switch (kind) {
    case Kind::kNull: return false;
    case Kind::kBool: return boolean;
    case Kind::kNumber: return number != 0;
    case Kind::kString: return !text.empty();
    case Kind::kList: return !items.empty();
  }
  return false;
}

std::string Value::ToText() const {
  switch (kind) {
    case Kind::kNull: return "";
    case Kind::kBool: return boolean ? "true" : "false";
    case Kind::kNumber: {
      if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 1e15)
        return std::to_string(static_cast<long long>(number));
      std::ostringstream s;
      s.precision(15);
      s << number;
      return s.str();
    }
    case Kind::kString: return text;
    case Kind::kList: {
      std::string out;
      for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i].ToText();
      return out;
    }
  }
  return "";
}

namespace {

std::optional<double> ToNumber(const std::string& s) {
  std::string t = s;
  t.erase(0, t.find_first_not_of(" \t\r\n"));
  t.erase(t.find_last_not_of(" \t\r\n") + 1);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return std::nullopt;
  return d;
}

class Evaluator {
 public:
  explicit Evaluator(const EvalContext& ctx) : ctx_(ctx) {}

  Value Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kNull: return Value::Null();
      case Expr::Kind::kBool: return Value::Bool(e.boolean);
      case Expr::Kind::kNumber: return Value::Number(e.number);
      case Expr::Kind::kString: return Value::String(e.text);
      case Expr::Kind::kList: {
        Value v;
        v.kind = Value::Kind::kList;
        for (const auto& a : e.args) v.items.push_back(Eval(*a));
        return v;
      }
      case Expr::Kind::kRef: return Ref(e.ref);
      case Expr::Kind::kNot: return Value::Bool(!Eval(*e.args[0]).Truthy());
      case Expr::Kind::kBinary: return Binary(e);
      case Expr::Kind::kCall: return Call(e);
    }
    return Value::Null();
  }

  struct Failure {
    std::string message;
  };

 private:
  [[noreturn]] void Fail(std::string m) { throw Failure{std::move(m)}; }

  Value Ref(const runbook::Ref& r) {
    switch (r.scope) {
      case Ref::Scope::kInputs: {
        auto v = ctx_.Input(r.field);
        return v ? *v : Value::Null();
      }
      case Ref::Scope::kEnv: {
        auto v = ctx_.Env(r.field);
        return v ? Value::String(*v) : Value::Null();
      }
      case Ref::Scope::kRun: return Value::String(ctx_.RunField(r.field));
      case Ref::Scope::kSteps: {
        std::optional<StepFacts> s = ctx_.Step(r.step);
        if (!s) Fail("unknown step '" + r.step + "'");
        if (r.field == "status") return Value::String(ToString(s->status));
        if (r.field == "exit_code") return s->exit_code ? Value::Number(*s->exit_code) : Value::Null();
        if (std::find(s->masked_outputs.begin(), s->masked_outputs.end(), r.output) != s->masked_outputs.end())
          Fail("output '" + r.output + "' of step '" + r.step +
               "' held a secret and was stored masked: re-run that step (resume --rerun " + r.step + ")");
        auto it = s->outputs.find(r.output);
        if (it == s->outputs.end())
          Fail("step '" + r.step + "' did not produce output '" + r.output + "' (it is " + ToString(s->status) + ")");
        return Value::String(it->second);
      }
    }
    return Value::Null();
  }

  Value Binary(const Expr& e) {
    if (e.op == Expr::Op::kAnd) {
      Value l = Eval(*e.args[0]);
      return l.Truthy() ? Value::Bool(Eval(*e.args[1]).Truthy()) : Value::Bool(false);
    }
    if (e.op == Expr::Op::kOr) {
      Value l = Eval(*e.args[0]);
      return l.Truthy() ? Value::Bool(true) : Value::Bool(Eval(*e.args[1]).Truthy());
    }
    Value l = Eval(*e.args[0]);
    Value r = Eval(*e.args[1]);
    switch (e.op) {
      case Expr::Op::kEq: return Value::Bool(Equal(l, r));
      case Expr::Op::kNe: return Value::Bool(!Equal(l, r));
      case Expr::Op::kIn: return Value::Bool(Contains(r, l));
      default: break;
    }
    int c = Compare(l, r);
    switch (e.op) {
      case Expr::Op::kLt: return Value::Bool(c < 0);
      case Expr::Op::kLe: return Value::Bool(c <= 0);
      case Expr::Op::kGt: return Value::Bool(c > 0);
      case Expr::Op::kGe: return Value::Bool(c >= 0);
      default: return Value::Null();
    }
  }

  // Two strings compare as strings; a number and a string compare as numbers
  // when the string is one (SPEC 5).
  static bool Equal(const Value& l, const Value& r) {
    using K = Value::Kind;
    if (l.kind == K::kNumber && r.kind == K::kString) {
      auto n = ToNumber(r.text);
      return n && *n == l.number;
    }
    if (l.kind == K::kString && r.kind == K::kNumber) return Equal(r, l);
    if (l.kind != r.kind) return false;
    switch (l.kind) {
      case K::kNull: return true;
      case K::kBool: return l.boolean == r.boolean;
      case K::kNumber: return l.number == r.number;
      case K::kString: return l.text == r.text;
      case K::kList:
        if (l.items.size() != r.items.size()) return false;
        for (size_t i = 0; i < l.items.size(); ++i)
          if (!Equal(l.items[i], r.items[i])) return false;
        return true;
    }
    return false;
  }

  int Compare(const Value& l, const Value& r) {
    using K = Value::Kind;
    if (l.kind == K::kString && r.kind == K::kString) return l.text.compare(r.text) < 0 ? -1 : l.text == r.text ? 0 : 1;
    auto num = [&](const Value& v) -> double {
      if (v.kind == K::kNumber) return v.number;
      if (v.kind == K::kString) {
        if (auto n = ToNumber(v.text)) return *n;
        Fail("cannot compare '" + v.text + "' with a number");
      }
      Fail(std::string("cannot order ") + (v.kind == K::kNull ? "null" : v.kind == K::kBool ? "a boolean" : "a list"));
    };
    double a = num(l), b = num(r);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  static bool Contains(const Value& haystack, const Value& needle) {
    if (haystack.kind == Value::Kind::kList) {
      for (const auto& item : haystack.items)
        if (Equal(item, needle)) return true;
      return false;
    }
    if (haystack.kind == Value::Kind::kString) return haystack.text.find(needle.ToText()) != std::string::npos;
    return false;
  }

  Value Call(const Expr& e) {
    const std::string& f = e.text;
    if (f == "succeeded" || f == "failed" || f == "skipped") {
      std::optional<StepFacts> s = ctx_.Step(e.args[0]->text);
      if (!s) Fail("unknown step '" + e.args[0]->text + "'");
      return Value::Bool(ToString(s->status) == f);
    }
    Value a = Eval(*e.args[0]);
    if (f == "int") {
      if (a.kind == Value::Kind::kNumber) return Value::Number(std::trunc(a.number));
      if (a.kind == Value::Kind::kBool) return Value::Number(a.boolean ? 1 : 0);
      auto n = ToNumber(a.ToText());
      if (!n) Fail("int() cannot convert '" + a.ToText() + "' to a number");
      return Value::Number(std::trunc(*n));
    }
    if (f == "duration") {
      if (a.kind == Value::Kind::kNumber) return a;
      auto d = ParseDuration(a.ToText());
      if (!d) Fail("duration() cannot read '" + a.ToText() + "' as a duration");
      return Value::Number(static_cast<double>(d->count()) / 1000.0);
    }
    Value b = Eval(*e.args[1]);
    if (f == "contains") return Value::Bool(Contains(a, b));
    if (f == "startsWith") return Value::Bool(a.ToText().rfind(b.ToText(), 0) == 0);
    if (f == "matches") {
      std::string error;
      bool found = RegexSearch(b.ToText(), a.ToText(), nullptr, &error);
      if (!error.empty()) Fail("invalid regex in matches(): " + error);
      return Value::Bool(found);
    }
    Fail("unknown function '" + f + "'");
  }

  const EvalContext& ctx_;
};

}  // namespace

EvalResult Evaluate(const Expr& e, const EvalContext& ctx) {
  EvalResult r;
  try {
    r.value = Evaluator(ctx).Eval(e);
  } catch (const Evaluator::Failure& f) {
    r.error = f.message;
  }
  return r;
}

std::string InputEnvName(const std::string& input) {
  std::string out = "RUNBOOK_INPUT_";
  for (char c : input) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string ValueEnvName(int n) { return "RUNBOOK_V_" + std::to_string(n); }

namespace {

// A number as bash arithmetic reads one: an optional sign and digits.
bool IsInteger(const std::string& v) {
  size_t i = v.size() > 1 && (v[0] == '-' || v[0] == '+') ? 1 : 0;
  if (i == v.size()) return false;
  for (; i < v.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) return false;
  return true;
}

// Linux refuses one environment string longer than this (MAX_ARG_STRLEN).
constexpr size_t kMaxEnvString = 128 * 1024;

RenderResult Render(const Template& t, const EvalContext& ctx, const std::vector<std::string>* secrets,
                    const std::map<std::string, std::string>& secret_env) {
  RenderResult r;
  std::map<std::string, std::string> var_of;  // a value used twice is passed once
  for (const auto& p : t.parts) {
    if (!p.is_expr) {
      r.text += p.literal;
      r.shown += p.literal;
      continue;
    }
    std::optional<std::string> secret;  // the secret input this template reads
    if (secrets && p.expr->kind == Expr::Kind::kRef) {
      const Ref& ref = p.expr->ref;
      if (ref.scope == Ref::Scope::kInputs && std::find(secrets->begin(), secrets->end(), ref.field) != secrets->end())
        secret = ref.field;
      if (auto it = secret_env.find(ref.field); ref.scope == Ref::Scope::kEnv && it != secret_env.end())
        secret = it->second;
    }
    if (secret) {
      // A secret never appears on a command line: reference its variable.
      std::string var = InputEnvName(*secret);
      std::string ref = p.context == ShellContext::kWord ? "\"${" + var + "}\"" : "${" + var + "}";
      r.text += ref;
      r.shown += ref;
      continue;
    }
    EvalResult v = Evaluate(*p.expr, ctx);
    if (!v.ok()) {
      r.error = "{{ " + ToString(*p.expr) + " }}: " + *v.error;
      return r;
    }
    std::string value = v.value.ToText();
    r.shown += value;
    if (!secrets) {
      r.text += value;
      continue;
    }
    if (value.find('\0') != std::string::npos) {
      r.error = "{{ " + ToString(*p.expr) + " }}: the value holds a NUL byte, which no command can be given";
      return r;
    }
    auto known = var_of.find(value);
    std::string var = known != var_of.end() ? known->second : ValueEnvName(static_cast<int>(r.values.size()) + 1);
    if (var.size() + 1 + value.size() + 1 > kMaxEnvString) {
      r.error = "{{ " + ToString(*p.expr) + " }}: the value is " + std::to_string(value.size()) +
                " bytes, more than a command's environment variable can hold (128 KiB); pass it in a file";
      return r;
    }
    switch (p.context) {
      case ShellContext::kWord: r.text += "\"${" + var + "}\""; break;
      case ShellContext::kDoubleQuoted:
      case ShellContext::kHeredoc: r.text += "${" + var + "}"; break;
      case ShellContext::kArithmetic:
        // Bash evaluates a variable's value in arithmetic as an expression
        // (a[$(cmd)] runs cmd): only a number may stand there.
        if (!IsInteger(value)) {
          r.error = "{{ " + ToString(*p.expr) + " }}: '" + value.substr(0, 40) +
                    "' is not an integer, and in arithmetic bash would evaluate it as code";
          return r;
        }
        r.text += "${" + var + "}";
        break;
      default:  // the validator refuses these places
        r.error = "{{ " + ToString(*p.expr) + " }}: no value can stand in " + ToString(p.context);
        return r;
    }
    if (known == var_of.end()) {
      var_of.emplace(value, var);
      r.values.push_back({var, value});
    }
  }
  if (!secrets) r.shown.clear();  // plain text: `text` is what is shown
  return r;
}

}  // namespace

RenderResult RenderText(const Template& t, const EvalContext& ctx) { return Render(t, ctx, nullptr, {}); }

RenderResult RenderCommand(const Template& t, const EvalContext& ctx, const std::vector<std::string>& secret_inputs,
                           const std::map<std::string, std::string>& secret_env) {
  return Render(t, ctx, &secret_inputs, secret_env);
}

RuleChoice ChooseByRules(const Decision& d, const EvalContext& ctx) {
  for (const auto& c : d.choices) {
    if (!c.when) {
      if (!d.prompt) return {c.value, std::nullopt};
      continue;
    }
    EvalResult r = Evaluate(*c.when, ctx);
    if (!r.ok()) return {std::nullopt, "choice " + c.value + ": " + *r.error};
    if (r.value.Truthy()) return {c.value, std::nullopt};
  }
  return {};
}

}  // namespace runbook
