// Regexes in runbooks (input `pattern`, output `regex`, `expect`, matches())
// run on RE2: no backtracking, so a match takes time linear in the text,
// whatever the pattern (`.**`, `(a+)+$`). The syntax is RE2's (close to
// Perl's and ECMAScript's, without backreferences or lookaround); ^ and $
// match at line ends, except in an input's `pattern`, which must match the
// whole value. One place compiles them so the options never differ.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace runbook {

// Why `pattern` does not compile, or nullopt when it does.
std::optional<std::string> RegexError(const std::string& pattern);

// Whether `pattern` matches somewhere in `text` (^ $ at line ends). With
// `group`, the first capture group (or the whole match when it has none).
// A pattern that does not compile matches nothing; `error` says why.
bool RegexSearch(const std::string& pattern, std::string_view text, std::string* group = nullptr,
                 std::string* error = nullptr);

// Whether `pattern` matches all of `text` (no line anchoring).
bool RegexFullMatch(const std::string& pattern, std::string_view text, std::string* error = nullptr);

}  // namespace runbook
