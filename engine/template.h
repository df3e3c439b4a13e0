// `{{ EXPR }}` templates (SPEC section 4).
//
// A Template is the raw text split into literal parts and expression parts.
// For shell commands (`run`, `rollback`, `verify.run`, preflight `run`) each
// expression part also knows where it sits in the shell text, because that
// decides how its value is escaped when the command is rendered:
//
//   kWord          outside quotes: becomes one single-quoted word
//   kDoubleQuoted  inside "...": $ ` " \ are backslash-escaped
//   kHeredoc       in an unquoted here-document body: $ ` \ are escaped
//   kSingleQuoted  inside '...': cannot be escaped: a validation error
//   kQuotedHeredoc in a <<'EOF' body: cannot be escaped: a validation error
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/diagnostic.h"
#include "engine/expr.h"

namespace runbook {

enum class ShellContext { kNotShell, kWord, kDoubleQuoted, kHeredoc, kSingleQuoted, kQuotedHeredoc };

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
// be in, as bash reads it: quotes, backslashes, comments, $(...), backquotes
// and here-documents. Size text.size() + 1.
std::vector<ShellContext> ScanShellContexts(std::string_view text);

const char* ToString(ShellContext c);

}  // namespace runbook
