// Templates in commands: the property of issue 13 without a shell. Whatever
// the command text and whatever the value, the value never enters the text
// the shell runs: rendering with two different values gives the same text,
// and each template's value is handed over exactly, once.
#include <cstdint>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "engine/eval.h"
#include "engine/template.h"

namespace {
class OneValue : public runbook::EvalContext {
 public:
  explicit OneValue(std::string v) : v_(std::move(v)) {}
  std::optional<runbook::Value> Input(const std::string&) const override { return runbook::Value::String(v_); }
  std::optional<std::string> Env(const std::string&) const override { return v_; }
  std::string RunField(const std::string&) const override { return v_; }
  std::optional<runbook::StepFacts> Step(const std::string&) const override {
    runbook::StepFacts f;
    f.status = runbook::StepStatus::kSucceeded;
    f.outputs = {{"o", v_}};
    return f;
  }

 private:
  std::string v_;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first line is the value, the rest the command.
  std::string all(reinterpret_cast<const char*>(data), size);
  size_t nl = all.find('\n');
  std::string value = nl == std::string::npos ? all : all.substr(0, nl);
  std::string command = nl == std::string::npos ? "echo {{ inputs.v }}" : all.substr(nl + 1);
  if (value.find('\0') != std::string::npos) return 0;
  runbook::Diagnostics diags;
  runbook::Template t =
      runbook::ParseTemplate(command, runbook::Pos{1, 1}, [](size_t) { return runbook::Pos{1, 1}; }, true, &diags);
  OneValue a(value), b(value + "x`$(");
  auto ra = runbook::RenderCommand(t, a, {});
  auto rb = runbook::RenderCommand(t, b, {});
  if (ra.ok() != rb.ok()) {
    // Only an arithmetic place may refuse one value and take another, or an
    // expression that evaluates for one value and not the other (int()).
    bool arithmetic = false;
    for (const auto& p : t.parts) {
      arithmetic |= p.is_expr && p.context == runbook::ShellContext::kArithmetic;
      arithmetic |= p.is_expr && runbook::Evaluate(*p.expr, a).ok() != runbook::Evaluate(*p.expr, b).ok();
    }
    if (!arithmetic) {
      std::fprintf(stderr, "one value refused, not the other: %s / %s\n", ra.error.value_or("-").c_str(),
                   rb.error.value_or("-").c_str());
      std::abort();
    }
    return 0;
  }
  if (!ra.ok()) return 0;
  // Values equal in one rendering may differ in the other, which numbers
  // their variables differently: compare the texts with the numbers out.
  auto unnumbered = [](std::string text) {
    for (size_t at = 0; (at = text.find("RUNBOOK_V_", at)) != std::string::npos;) {
      size_t end = at + 10;
      while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
      text.erase(at + 10, end - at - 10);
      at += 10;
    }
    return text;
  };
  if (unnumbered(ra.text) != unnumbered(rb.text)) std::abort();  // a value entered the shell text
  // What is handed over is exactly each template's value, once per distinct value.
  std::set<std::string> expected, handed;
  for (const auto& p : t.parts)
    if (p.is_expr) expected.insert(runbook::Evaluate(*p.expr, a).value.ToText());
  for (const auto& [name, v] : ra.values) handed.insert(v);
  if (handed != expected || handed.size() != ra.values.size()) std::abort();
  return 0;
}
