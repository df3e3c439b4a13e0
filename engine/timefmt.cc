#include "engine/timefmt.h"

#include <cstdio>
#include <ctime>

namespace runbook {

std::string FormatUtc(int64_t wall_ms, const char* format) {
  if (wall_ms <= 0) return "";
  std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

std::string Rfc3339(int64_t wall_ms) {
  if (wall_ms <= 0) return "";
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(wall_ms % 1000));
  return FormatUtc(wall_ms, "%Y-%m-%dT%H:%M:%S") + ms;
}

std::string HumanDuration(int64_t ms) {
  if (ms < 0) return "-";
  char buf[32];
  if (ms < 60000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else if (ms < 3600000) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60000),
                  static_cast<long long>(ms / 1000 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3600000),
                  static_cast<long long>(ms / 60000 % 60));
  }
  return buf;
}

}  // namespace runbook
