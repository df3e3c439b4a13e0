// Regexes everywhere in runbooks are ECMAScript, with ^ and $ matching at line
// ends (SPEC 3.1). One place compiles them so the flags never differ.
#pragma once

#include <optional>
#include <regex>
#include <string>

namespace runbook {

std::regex CompileRegex(const std::string& pattern);  // throws std::regex_error

// Why `pattern` does not compile, or nullopt when it does.
std::optional<std::string> RegexError(const std::string& pattern);

}  // namespace runbook
