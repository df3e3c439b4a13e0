// Durations as runbooks write them: "250ms", "30s", "5m", "2h", "1h30m",
// "7d", or a bare integer of seconds.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace runbook {

using Millis = std::chrono::milliseconds;

// Units must come largest first, each at most once ("1h30m", not "30m1h").
// Returns nullopt for anything else, including negative numbers and "".
std::optional<Millis> ParseDuration(std::string_view text);

// The shortest exact spelling ParseDuration accepts: 5400000ms -> "1h30m",
// 250ms -> "250ms", 0 -> "0s".
std::string FormatDuration(Millis d);

}  // namespace runbook
