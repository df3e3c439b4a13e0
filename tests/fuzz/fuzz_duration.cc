// Durations: no text overflows; what parses prints back to the same duration.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/duration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto d = runbook::ParseDuration(text);
  if (!d) return 0;
  if (d->count() < 0) std::abort();
  auto again = runbook::ParseDuration(runbook::FormatDuration(*d));
  if (!again || *again != *d) std::abort();
  return 0;
}
