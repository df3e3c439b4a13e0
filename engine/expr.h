// The expression language of runbooks (SPEC section 5), parsed to a typed AST
// that keeps the source position of every node.
//
//   expr    := or
//   or      := and ('||' and)*
//   and     := compare ('&&' compare)*
//   compare := unary (('=='|'!='|'<'|'<='|'>'|'>='|'in') unary)?
//   unary   := '!' unary | primary
//   primary := literal | list | '(' expr ')' | call | reference
//   literal := 'str' | "str" | -?number | true | false | null
//   list    := '[' (expr (',' expr)*)? ']'
//   call    := NAME '(' (expr (',' expr)*)? ')'
//   reference := inputs.NAME | env.NAME | run.(id|status)
//              | steps.ID.(status|exit_code) | steps.ID.outputs.NAME
//
// A step ID may contain '-': there is no minus operator, and a number literal
// may start with '-'. Evaluation lives with the executor; this file only
// parses and describes.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/diagnostic.h"

namespace runbook {

// A reference to a value the engine provides.
struct Ref {
  enum class Scope { kInputs, kEnv, kRun, kSteps };
  Scope scope = Scope::kInputs;
  std::string step;    // kSteps: the step id
  std::string field;   // kInputs/kEnv: the name; kRun: id|status; kSteps: status|exit_code|outputs
  std::string output;  // kSteps + outputs: the output name
  Pos pos;
  std::string ToString() const;
};

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind { kNull, kBool, kNumber, kString, kList, kRef, kNot, kBinary, kCall };
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kAnd, kOr };

  Kind kind = Kind::kNull;
  Pos pos;
  bool boolean = false;   // kBool
  double number = 0;      // kNumber
  std::string text;       // kString: value; kCall: function name
  Op op = Op::kEq;        // kBinary
  Ref ref;                // kRef
  std::vector<ExprPtr> args;  // kList items, kNot/kBinary operands, kCall arguments
  int height = 1;             // of the tree: at most kMaxExprDepth
};

// How deep an expression may nest, by parentheses, `!`, lists, calls or a
// chain of && / || (each link one level): deeper is a syntax error, so no
// evaluation, printing or freeing of a tree can overflow the stack.
constexpr int kMaxExprDepth = 100;

// Maps a byte offset in the expression text to its position in the file.
using PosMapper = std::function<Pos(size_t offset)>;

struct ExprParseResult {
  ExprPtr expr;  // null on error
  std::optional<Diagnostic> error;
};

// Parses `text`. Unknown functions and wrong argument counts are reported
// here too, since they need no knowledge of the runbook.
ExprParseResult ParseExpr(std::string_view text, const PosMapper& map);

// Every reference in the tree, including the step ids named as string
// literals by succeeded('x'), failed('x') and skipped('x') (as kSteps refs
// with field "status").
void CollectRefs(const Expr& e, std::vector<Ref>* out);

// Source-like text of an expression, for plans and messages.
std::string ToString(const Expr& e);

// The functions of section 5 and their argument counts.
struct FunctionInfo {
  std::string_view name;
  int arity;
};
const std::vector<FunctionInfo>& Functions();

}  // namespace runbook
