// Expressions: parse; what parses prints back to text that parses to the same
// print (the meaning survives printing), and evaluates without crashing.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/eval.h"
#include "engine/expr.h"

namespace {
class Facts : public runbook::EvalContext {
 public:
  std::optional<runbook::Value> Input(const std::string& n) const override {
    return runbook::Value::String("v-" + n);
  }
  std::optional<std::string> Env(const std::string& n) const override { return "e-" + n; }
  std::string RunField(const std::string&) const override { return "running"; }
  std::optional<runbook::StepFacts> Step(const std::string&) const override {
    runbook::StepFacts f;
    f.status = runbook::StepStatus::kFailed;
    f.exit_code = 3;
    f.outputs = {{"x", "12"}};
    return f;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto map = [](size_t) { return runbook::Pos{1, 1}; };
  auto parsed = runbook::ParseExpr(text, map);
  if (!parsed.expr) return 0;
  std::string printed = runbook::ToString(*parsed.expr);
  auto again = runbook::ParseExpr(printed, map);
  if (!again.expr || runbook::ToString(*again.expr) != printed) std::abort();  // printing changed the meaning
  Facts facts;
  (void)runbook::Evaluate(*parsed.expr, facts);
  return 0;
}
