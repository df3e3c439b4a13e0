// YAML -> parse -> validate -> the graph a plan draws: no input crashes,
// hangs or exhausts memory (the limits of engine/limits.h hold), and every
// diagnostic has a position.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/graph.h"
#include "engine/parser.h"
#include "engine/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  runbook::Diagnostics diags;
  runbook::Runbook rb = runbook::ParseRunbook(runbook::SourceFile("fuzz.yaml", text), &diags);
  runbook::ValidateRunbook(rb, &diags);
  for (const auto& d : diags.items())
    if (d.severity == runbook::Severity::kError && !d.pos.known()) std::abort();  // every error says where
  if (!diags.HasErrors()) {
    runbook::StepGraph graph(rb.steps);
    (void)graph.Waves();
    (void)graph.Mermaid();
    (void)graph.Dot(rb.name);
    (void)graph.Critical([](const runbook::Step& s) { return s.estimate; });
  }
  return 0;
}
