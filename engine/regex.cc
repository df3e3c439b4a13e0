#include "engine/regex.h"

#include <re2/re2.h>

#include <memory>

namespace runbook {
namespace {

// Perl-like syntax; bounded memory for a compiled pattern (a{1000}{1000}
// is refused, not built).
RE2::Options Options() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(8 << 20);
  return o;
}

std::unique_ptr<RE2> Compile(const std::string& pattern, bool multiline, std::string* error) {
  // (?m): ^ and $ at line ends. The group keeps the flag off the pattern's
  // own alternatives' meaning: (?m:a|b) is (a|b).
  auto re = std::make_unique<RE2>(multiline ? "(?m:" + pattern + ")" : pattern, Options());
  if (!re->ok()) {
    if (error) *error = re->error();
    return nullptr;
  }
  return re;
}

}  // namespace

std::optional<std::string> RegexError(const std::string& pattern) {
  std::string error;
  if (!Compile(pattern, false, &error)) return error;  // said of the pattern as written
  if (!Compile(pattern, true, &error)) return error;
  return std::nullopt;
}

bool RegexSearch(const std::string& pattern, std::string_view text, std::string* group, std::string* error) {
  if (error) {
    if (auto why = RegexError(pattern)) {
      *error = *why;
      return false;
    }
  }
  auto re = Compile(pattern, true, error);
  if (!re) return false;
  if (!group) return RE2::PartialMatch(text, *re);
  if (re->NumberOfCapturingGroups() == 0) {
    re2::StringPiece whole;
    std::string wrapped = "(" + pattern + ")";
    auto outer = Compile(wrapped, true, error);
    if (!outer || !RE2::PartialMatch(text, *outer, &whole)) return false;
    *group = std::string(whole.data(), whole.size());
    return true;
  }
  re2::StringPiece first;
  if (!RE2::PartialMatch(text, *re, &first)) return false;
  *group = std::string(first.data(), first.size());
  return true;
}

bool RegexFullMatch(const std::string& pattern, std::string_view text, std::string* error) {
  auto re = Compile(pattern, false, error);
  return re && RE2::FullMatch(text, *re);
}

}  // namespace runbook
