#include "engine/expr.h"

#include <cctype>
#include <cstdlib>
#include <sstream>

#include "engine/regex.h"
#include "engine/suggest.h"

namespace runbook {
namespace {

enum class Tok { kEnd, kIdent, kNumber, kString, kPunct, kError };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // identifier, punctuation, decoded string, number spelling
  size_t offset = 0;
};

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsSegmentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  // After a '.', a path segment may start with a digit (step ids may).
  Token Next(bool after_dot) {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    Token t;
    t.offset = i_;
    if (i_ >= s_.size()) return t;
    char c = s_[i_];
    if (after_dot && IsSegmentChar(c)) {
      size_t b = i_;
      while (i_ < s_.size() && IsSegmentChar(s_[i_])) ++i_;
      return {Tok::kIdent, std::string(s_.substr(b, i_ - b)), b};
    }
    if (IsIdentStart(c)) {
      size_t b = i_;
      while (i_ < s_.size() && IsSegmentChar(s_[i_])) ++i_;
      return {Tok::kIdent, std::string(s_.substr(b, i_ - b)), b};
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '-' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
      size_t b = i_++;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      if (i_ + 1 < s_.size() && s_[i_] == '.' && std::isdigit(static_cast<unsigned char>(s_[i_ + 1]))) {
        ++i_;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      }
      return {Tok::kNumber, std::string(s_.substr(b, i_ - b)), b};
    }
    if (c == '\'' || c == '"') return String(c);
    static const char* kTwo[] = {"==", "!=", "<=", ">=", "&&", "||"};
    for (const char* op : kTwo) {
      if (s_.substr(i_, 2) == op) {
        i_ += 2;
        return {Tok::kPunct, op, t.offset};
      }
    }
    if (std::string_view("!<>()[],.").find(c) != std::string_view::npos) {
      ++i_;
      return {Tok::kPunct, std::string(1, c), t.offset};
    }
    std::string what = c == '-' ? "'-' (there is no minus operator; a step id may contain '-')"
                       : c == '=' ? "'=' (use '==' to compare)"
                       : c == '&' ? "'&' (use '&&')"
                       : c == '|' ? "'|' (use '||')"
                                  : "character '" + std::string(1, c) + "'";
    return {Tok::kError, "unexpected " + what, t.offset};
  }

 private:
  Token String(char quote) {
    size_t b = i_++;
    std::string value;
    while (i_ < s_.size() && s_[i_] != quote) {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
        char e = s_[++i_];
        value += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        ++i_;
        continue;
      }
      value += s_[i_++];
    }
    if (i_ >= s_.size()) return {Tok::kError, "unterminated string", b};
    ++i_;
    return {Tok::kString, value, b};
  }

  std::string_view s_;
  size_t i_ = 0;
};

struct ParseError {
  size_t offset;
  std::string message;
};

class Parser {
 public:
  Parser(std::string_view text, const PosMapper& map) : lexer_(text), map_(map) { Advance(false); }

  ExprPtr ParseAll() {
    ExprPtr e = Or();
    if (tok_.kind != Tok::kEnd) Fail(tok_.offset, "unexpected " + Describe(tok_) + " after expression");
    return e;
  }

 private:
  void Advance(bool after_dot) {
    tok_ = lexer_.Next(after_dot);
    if (tok_.kind == Tok::kError) throw ParseError{tok_.offset, tok_.text};
  }
  [[noreturn]] void Fail(size_t offset, std::string message) {
    throw ParseError{offset, std::move(message)};
  }
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd: return "end of expression";
      case Tok::kString: return "string";
      default: return "'" + t.text + "'";
    }
  }
  bool IsPunct(std::string_view p) const { return tok_.kind == Tok::kPunct && tok_.text == p; }
  void Expect(std::string_view p, std::string_view what) {
    if (!IsPunct(p)) Fail(tok_.offset, "expected '" + std::string(p) + "' " + std::string(what) + ", found " + Describe(tok_));
    Advance(false);
  }
  std::shared_ptr<Expr> Node(Expr::Kind kind, size_t offset) {
    auto e = std::make_shared<Expr>();
    e->kind = kind;
    e->pos = map_(offset);
    return e;
  }
  // A node with its operands: its height checked before the tree can grow.
  std::shared_ptr<Expr> Seal(std::shared_ptr<Expr> e, size_t offset) {
    for (const auto& a : e->args) e->height = std::max(e->height, a->height + 1);
    if (e->height > kMaxExprDepth)
      Fail(offset, "expression nested deeper than " + std::to_string(kMaxExprDepth) +
                       " levels (parentheses, '!', lists, calls or a chain of && and ||): split it");
    return e;
  }
  ExprPtr Binary(Expr::Op op, size_t offset, ExprPtr l, ExprPtr r) {
    auto e = Node(Expr::Kind::kBinary, offset);
    e->op = op;
    e->args = {std::move(l), std::move(r)};
    return Seal(e, offset);
  }
  // Recursion goes through Unary: its depth is bounded before the parse
  // itself can overflow the stack.
  struct Deeper {
    Deeper(Parser* p, size_t offset) : p_(p) {
      if (++p_->depth_ > kMaxExprDepth)
        p_->Fail(offset, "expression nested deeper than " + std::to_string(kMaxExprDepth) +
                             " levels (parentheses, '!', lists, calls or a chain of && and ||): split it");
    }
    ~Deeper() { --p_->depth_; }
    Parser* p_;
  };
  int depth_ = 0;

  ExprPtr Or() {
    ExprPtr l = And();
    while (IsPunct("||")) {
      size_t at = tok_.offset;
      Advance(false);
      l = Binary(Expr::Op::kOr, at, l, And());
    }
    return l;
  }
  ExprPtr And() {
    ExprPtr l = Compare();
    while (IsPunct("&&")) {
      size_t at = tok_.offset;
      Advance(false);
      l = Binary(Expr::Op::kAnd, at, l, Compare());
    }
    return l;
  }
  ExprPtr Compare() {
    ExprPtr l = Unary();
    static const std::pair<const char*, Expr::Op> kOps[] = {
        {"==", Expr::Op::kEq}, {"!=", Expr::Op::kNe}, {"<", Expr::Op::kLt}, {"<=", Expr::Op::kLe},
        {">", Expr::Op::kGt},  {">=", Expr::Op::kGe}};
    for (auto& [text, op] : kOps) {
      if (IsPunct(text)) {
        size_t at = tok_.offset;
        Advance(false);
        return Binary(op, at, l, Unary());
      }
    }
    if (tok_.kind == Tok::kIdent && tok_.text == "in") {
      size_t at = tok_.offset;
      Advance(false);
      return Binary(Expr::Op::kIn, at, l, Unary());
    }
    return l;
  }
  ExprPtr Unary() {
    Deeper deeper(this, tok_.offset);
    if (IsPunct("!")) {
      size_t at = tok_.offset;
      auto e = Node(Expr::Kind::kNot, at);
      Advance(false);
      e->args = {Unary()};
      return Seal(e, at);
    }
    return Primary();
  }
  ExprPtr Primary() {
    Token t = tok_;
    switch (t.kind) {
      case Tok::kString: {
        auto e = Node(Expr::Kind::kString, t.offset);
        e->text = t.text;
        Advance(false);
        return e;
      }
      case Tok::kNumber: {
        auto e = Node(Expr::Kind::kNumber, t.offset);
        e->number = std::strtod(t.text.c_str(), nullptr);
        e->text = t.text;
        Advance(false);
        return e;
      }
      case Tok::kIdent: return Identifier();
      case Tok::kPunct:
        if (t.text == "(") {
          Advance(false);
          ExprPtr e = Or();
          Expect(")", "to close '('");
          return e;
        }
        if (t.text == "[") return List();
        break;
      default: break;
    }
    Fail(t.offset, "expected a value, found " + Describe(t));
  }
  ExprPtr List() {
    size_t at = tok_.offset;
    auto e = Node(Expr::Kind::kList, at);
    Advance(false);
    if (!IsPunct("]")) {
      e->args.push_back(Or());
      while (IsPunct(",")) {
        Advance(false);
        e->args.push_back(Or());
      }
    }
    Expect("]", "to close the list");
    return Seal(e, at);
  }
  ExprPtr Identifier() {
    Token t = tok_;
    Advance(false);
    if (t.text == "true" || t.text == "false") {
      auto e = Node(Expr::Kind::kBool, t.offset);
      e->boolean = t.text == "true";
      return e;
    }
    if (t.text == "null") return Node(Expr::Kind::kNull, t.offset);
    if (IsPunct("(")) return Call(t);
    if (t.text == "inputs" || t.text == "env" || t.text == "run" || t.text == "steps")
      return Reference(t);
    std::vector<std::string> names = {"inputs", "env", "run", "steps", "true", "false", "null"};
    for (auto& f : Functions()) names.emplace_back(f.name);
    Fail(t.offset, "unknown name '" + t.text + "'" + DidYouMean(t.text, names) +
                       "; expected inputs.NAME, env.NAME, steps.ID..., run.id, run.status or a function call");
  }
  ExprPtr Reference(const Token& head) {
    auto e = Node(Expr::Kind::kRef, head.offset);
    Ref& r = e->ref;
    r.pos = e->pos;
    auto segment = [&](std::string_view after) {
      if (!IsPunct(".")) Fail(tok_.offset, "expected '.' after '" + std::string(after) + "'");
      tok_ = lexer_.Next(true);  // a segment may start with a digit: re-lex from here
      if (tok_.kind == Tok::kError) Fail(tok_.offset, tok_.text);
      // The token just read is the one after '.': lex it as a segment.
      Token t = tok_;
      if (t.kind != Tok::kIdent && t.kind != Tok::kNumber)
        Fail(t.offset, "expected a name after '" + std::string(after) + ".', found " + Describe(t));
      Advance(false);
      return t.text;
    };
    if (head.text == "inputs") {
      r.scope = Ref::Scope::kInputs;
      r.field = segment("inputs");
    } else if (head.text == "env") {
      r.scope = Ref::Scope::kEnv;
      r.field = segment("env");
    } else if (head.text == "run") {
      r.scope = Ref::Scope::kRun;
      size_t at = tok_.offset + 1;
      r.field = segment("run");
      if (r.field != "id" && r.field != "status")
        Fail(at, "unknown run field '" + r.field + "'" + DidYouMean(r.field, {"id", "status"}) +
                     "; expected run.id or run.status");
    } else {
      r.scope = Ref::Scope::kSteps;
      r.step = segment("steps");
      size_t at = tok_.offset + 1;
      r.field = segment("steps." + r.step);
      const std::vector<std::string> fields = {"status", "exit_code", "outputs"};
      if (r.field != "status" && r.field != "exit_code" && r.field != "outputs")
        Fail(at, "unknown step field '" + r.field + "'" + DidYouMean(r.field, fields) +
                     "; expected status, exit_code or outputs.NAME");
      if (r.field == "outputs") r.output = segment("outputs");
    }
    return e;
  }
  ExprPtr Call(const Token& name) {
    auto e = Node(Expr::Kind::kCall, name.offset);
    e->text = name.text;
    Advance(false);  // '('
    if (!IsPunct(")")) {
      e->args.push_back(Or());
      while (IsPunct(",")) {
        Advance(false);
        e->args.push_back(Or());
      }
    }
    Expect(")", "to close the arguments of " + name.text + "()");
    CheckCall(*e, name.offset);
    return Seal(e, name.offset);
  }
  void CheckCall(const Expr& e, size_t offset) {
    const FunctionInfo* info = nullptr;
    std::vector<std::string> names;
    for (auto& f : Functions()) {
      names.emplace_back(f.name);
      if (f.name == e.text) info = &f;
    }
    if (!info) Fail(offset, "unknown function '" + e.text + "'" + DidYouMean(e.text, names));
    if (static_cast<int>(e.args.size()) != info->arity)
      Fail(offset, e.text + "() takes " + std::to_string(info->arity) + " argument" +
                       (info->arity == 1 ? "" : "s") + ", got " + std::to_string(e.args.size()));
    bool step_function = e.text == "succeeded" || e.text == "failed" || e.text == "skipped";
    if (step_function && e.args[0]->kind != Expr::Kind::kString)
      Fail(offset, e.text + "() takes a step id as a string, like " + e.text + "('restore')");
    if (e.text == "matches" && e.args[1]->kind == Expr::Kind::kString) {
      if (auto err = RegexError(e.args[1]->text))
        Fail(offset, "invalid regex in matches(): " + *err);
    }
  }

  Lexer lexer_;
  const PosMapper& map_;
  Token tok_;
};

const char* OpText(Expr::Op op) {
  switch (op) {
    case Expr::Op::kEq: return "==";
    case Expr::Op::kNe: return "!=";
    case Expr::Op::kLt: return "<";
    case Expr::Op::kLe: return "<=";
    case Expr::Op::kGt: return ">";
    case Expr::Op::kGe: return ">=";
    case Expr::Op::kIn: return "in";
    case Expr::Op::kAnd: return "&&";
    case Expr::Op::kOr: return "||";
  }
  return "?";
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

std::string Ref::ToString() const {
  switch (scope) {
    case Scope::kInputs: return "inputs." + field;
    case Scope::kEnv: return "env." + field;
    case Scope::kRun: return "run." + field;
    case Scope::kSteps:
      return "steps." + step + "." + field + (field == "outputs" ? "." + output : "");
  }
  return "";
}

const std::vector<FunctionInfo>& Functions() {
  static const std::vector<FunctionInfo> kFunctions = {
      {"succeeded", 1}, {"failed", 1},     {"skipped", 1}, {"contains", 2},
      {"matches", 2},   {"startsWith", 2}, {"int", 1},     {"duration", 1}};
  return kFunctions;
}

ExprParseResult ParseExpr(std::string_view text, const PosMapper& map) {
  ExprParseResult result;
  try {
    Parser parser(text, map);
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
      throw ParseError{0, "empty expression"};
    result.expr = parser.ParseAll();
  } catch (const ParseError& e) {
    result.error = Diagnostic{map(e.offset), Severity::kError, e.message};
  }
  return result;
}

void CollectRefs(const Expr& e, std::vector<Ref>* out) {
  if (e.kind == Expr::Kind::kRef) out->push_back(e.ref);
  if (e.kind == Expr::Kind::kCall &&
      (e.text == "succeeded" || e.text == "failed" || e.text == "skipped")) {
    Ref r;
    r.scope = Ref::Scope::kSteps;
    r.step = e.args[0]->text;
    r.field = "status";
    r.pos = e.args[0]->pos;
    out->push_back(r);
    return;
  }
  for (const auto& a : e.args) CollectRefs(*a, out);
}

std::string ToString(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kNull: return "null";
    case Expr::Kind::kBool: return e.boolean ? "true" : "false";
    case Expr::Kind::kNumber: return e.text;
    case Expr::Kind::kString: return Quote(e.text);
    case Expr::Kind::kRef: return e.ref.ToString();
    case Expr::Kind::kNot:  // !(1 > 1), not !1 > 1: printed back, it means the same
      return e.args[0]->kind == Expr::Kind::kBinary ? "!(" + ToString(*e.args[0]) + ")" : "!" + ToString(*e.args[0]);
    case Expr::Kind::kList:
    case Expr::Kind::kCall: {
      std::string out = e.kind == Expr::Kind::kList ? "[" : e.text + "(";
      for (size_t i = 0; i < e.args.size(); ++i) out += (i ? ", " : "") + ToString(*e.args[i]);
      return out + (e.kind == Expr::Kind::kList ? "]" : ")");
    }
    case Expr::Kind::kBinary: {
      auto side = [](const Expr& x) {
        return x.kind == Expr::Kind::kBinary ? "(" + ToString(x) + ")" : ToString(x);
      };
      return side(*e.args[0]) + " " + OpText(e.op) + " " + side(*e.args[1]);
    }
  }
  return "";
}

}  // namespace runbook
