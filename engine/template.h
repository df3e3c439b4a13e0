// `{{ EXPR }}` templates (SPEC section 4).
//
// A Template is the raw text split into literal parts and expression parts.
// For shell commands (`run`, `rollback`, `verify.run`, preflight `run`) each
// expression part also knows where it sits in the shell text. A value never
// enters shell text: the template becomes a reference to an environment
// variable holding the value, which the shell expands without reading it
// as code. Where it sits decides the form of that reference, or forbids it:
//
//   kWord          outside quotes (also in comments, backquotes, $( ),
//                  ${V:-...}, case patterns, here-strings): "${RUNBOOK_V_1}"
//   kDoubleQuoted  inside "...": ${RUNBOOK_V_1}
//   kHeredoc       in an unquoted here-document body: ${RUNBOOK_V_1}
//   kArithmetic    where bash evaluates even a variable's value as code:
//                  $(( )), (( )), $[ ], let, [[ ]] with -eq/-lt/..., array
//                  subscripts and ${V:offset}: only a number input or int()
//   kSingleQuoted  inside '...': nothing expands there: a validation error
//   kQuotedHeredoc in a <<'EOF' body: nothing expands there: an error
//   kHeredocDelimiter  in the word after <<: a validation error
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/diagnostic.h"
#include "engine/expr.h"

namespace runbook {

enum class ShellContext {
  kNotShell,
  kWord,
  kDoubleQuoted,
  kHeredoc,
  kArithmetic,
  kSingleQuoted,
  kQuotedHeredoc,
  kHeredocDelimiter
};

struct TemplatePart {
  bool is_expr = false;
  std::string literal;  // !is_expr
  ExprPtr expr;         // is_expr
  size_t begin = 0, end = 0;  // byte range of the part in the raw text ("{{" to "}}")
  Pos pos;                    // of the "{{"
  ShellContext context = ShellContext::kNotShell;
};

struct Template {
  std::string raw;
  Pos pos;  // of the value in the file
  std::vector<TemplatePart> parts;
  bool HasExprs() const;
};

// Splits `raw` into parts and parses every expression. With `shell`, also
// finds each expression's ShellContext. Errors (unterminated "{{", bad
// expressions) are appended to `diags`; parts that failed are dropped.
Template ParseTemplate(std::string_view raw, Pos pos, const PosMapper& map, bool shell,
                       Diagnostics* diags);

// For every byte of `text`, the quoting context a word starting there would
// be in, as bash reads it: quotes, backslashes, comments, $(...), backquotes,
// here-documents and arithmetic. Size text.size() + 1. Iterative: no input
// nests it deeper than its own heap-allocated stack.
std::vector<ShellContext> ScanShellContexts(std::string_view text);

// Whether `text` ends outside every quote, substitution and here-document
// it opens, as the scanner above reads it: then text after it is read as
// its own (steps/bash_syntax.h checks such scripts together).
bool ShellTextCloses(std::string_view text);

const char* ToString(ShellContext c);

// The length of a shell prompt at the start of `line`, with its space: "$ ",
// "user@host:path$ " or "user@host:path# ", and with `hash` a lone "# " (a
// root prompt in a console transcript; in a script it is a comment). 0: none.
size_t ShellPromptLength(std::string_view line, bool hash);

}  // namespace runbook
