#include "engine/regex.h"

namespace runbook {

std::regex CompileRegex(const std::string& pattern) {
  return std::regex(pattern, std::regex::ECMAScript | std::regex::multiline);
}

std::optional<std::string> RegexError(const std::string& pattern) {
  try {
    CompileRegex(pattern);
    return std::nullopt;
  } catch (const std::regex_error& e) {
    return std::string(e.what());
  }
}

}  // namespace runbook
