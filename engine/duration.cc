#include "engine/duration.h"

#include <cctype>
#include <cstdint>

namespace runbook {
namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};
// Largest first: the order a duration must be written in.
constexpr Unit kUnits[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000},
                           {"s", 1000},     {"ms", 1}};
constexpr int64_t kMaxMs = int64_t{1} << 52;  // ~142,000 years: no overflow below

}  // namespace

std::optional<Millis> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  size_t i = 0;
  auto number = [&]() -> std::optional<int64_t> {
    if (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i++] - '0');
      if (n > kMaxMs) return std::nullopt;
    }
    return n;
  };
  auto first = number();
  if (!first) return std::nullopt;
  if (i == text.size()) {  // bare seconds, within the same bound as with units
    if (*first > kMaxMs / 1000) return std::nullopt;
    return Millis(*first * 1000);
  }

  int64_t total = 0;
  size_t next_unit = 0;  // index into kUnits: units only get smaller
  int64_t n = *first;
  while (true) {
    // "ms" must be tried before "m".
    auto matches = [&](const Unit& unit) { return text.substr(i, unit.name.size()) == unit.name; };
    std::optional<size_t> found;
    for (size_t k = next_unit; k < std::size(kUnits); ++k) {
      if (kUnits[k].name == "m" && text.substr(i, 2) == "ms") continue;
      if (matches(kUnits[k])) {
        found = k;
        break;
      }
    }
    if (!found) return std::nullopt;
    if (n > kMaxMs / kUnits[*found].ms) return std::nullopt;  // 9999999999999999999d: no overflow
    total += n * kUnits[*found].ms;
    if (total > kMaxMs) return std::nullopt;
    i += kUnits[*found].name.size();
    next_unit = *found + 1;
    if (i == text.size()) return Millis(total);
    auto more = number();
    if (!more) return std::nullopt;
    n = *more;
  }
}

std::string FormatDuration(Millis d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (const auto& unit : kUnits) {
    if (ms >= unit.ms) {
      out += std::to_string(ms / unit.ms) + std::string(unit.name);
      ms %= unit.ms;
    }
  }
  return out;
}

}  // namespace runbook
