// Markdown -> import: no page crashes it, and every draft it writes loads
// and validates.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "import/importer.h"
#include "engine/parser.h"
#include "engine/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string page(reinterpret_cast<const char*>(data), size);
  runbook::ImportResult r = runbook::ImportMarkdown(page, "fuzzed", "fuzz.md", nullptr);
  if (r.error) return 0;
  runbook::Diagnostics diags;
  runbook::Runbook rb = runbook::ParseRunbook(runbook::SourceFile("fuzzed.yaml", r.yaml), &diags);
  runbook::ValidateRunbook(rb, &diags);
  if (diags.HasErrors()) std::abort();  // the draft must validate
  return 0;
}
