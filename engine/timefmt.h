// How times and durations are shown to people, in one place.
#pragma once

#include <cstdint>
#include <string>

namespace runbook {

// strftime of a UTC time in ms since the epoch; "" for 0 or less.
std::string FormatUtc(int64_t wall_ms, const char* format);
// "2026-11-25T15:33:00.123Z"; "" for 0 or less.
std::string Rfc3339(int64_t wall_ms);
// "1.2s", "3m05s", "1h02m"; "-" for a negative duration.
std::string HumanDuration(int64_t ms);

}  // namespace runbook
