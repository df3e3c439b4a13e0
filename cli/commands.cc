#include "cli/commands.h"

#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <map>
#include <ostream>

#include "cli/plan_view.h"
#include "engine/embedded.h"
#include "engine/graph.h"
#include "engine/inputs.h"
#include "engine/loader.h"

namespace runbook::cli {
namespace {

// Resolves and loads a runbook, printing every diagnostic. Returns nullopt
// (after printing why) when it cannot be used.
std::optional<LoadedRunbook> LoadValid(const Context& ctx, const std::string& target) {
  std::string error;
  auto file = ResolveRunbook(target, ctx.runbook_path, &error);
  if (!file) {
    *ctx.err << "runbook: " << error << "\n";
    return std::nullopt;
  }
  LoadedRunbook loaded = LoadRunbook(*file, ctx.runbook_path);
  *ctx.err << loaded.FormatDiagnostics();
  if (!loaded.ok()) {
    *ctx.err << *file << ": " << loaded.diags.ErrorCount() << " error"
             << (loaded.diags.ErrorCount() == 1 ? "" : "s") << "; nothing was run\n";
    return std::nullopt;
  }
  return loaded;
}

}  // namespace

int Validate(const Context& ctx, const std::vector<std::string>& targets) {
  int status = kExitOk;
  for (const auto& target : targets) {
    std::string error;
    auto file = ResolveRunbook(target, ctx.runbook_path, &error);
    if (!file) {
      *ctx.err << "runbook: " << error << "\n";
      status = kExitUsage;
      continue;
    }
    LoadedRunbook loaded = LoadRunbook(*file, ctx.runbook_path);
    *ctx.err << loaded.FormatDiagnostics();
    int errors = loaded.diags.ErrorCount();
    if (errors > 0) {
      *ctx.err << *file << ": " << errors << " error" << (errors == 1 ? "" : "s") << "\n";
      status = kExitUsage;
    } else {
      size_t n = loaded.runbook.steps.size() + loaded.runbook.finally.size();
      *ctx.out << *file << ": ok (" << n << " step" << (n == 1 ? "" : "s") << ")\n";
    }
  }
  return status;
}

int Plan(const Context& ctx, const std::string& target, const std::vector<std::string>& inputs) {
  auto loaded = LoadValid(ctx, target);
  if (!loaded) return kExitUsage;
  std::map<std::string, std::string> given;
  for (const auto& kv : inputs) {
    auto pair = SplitAssignment(kv);
    if (!pair) {
      *ctx.err << "runbook: --input takes KEY=VALUE, got '" << kv << "'\n";
      return kExitUsage;
    }
    given[pair->first] = pair->second;
  }
  InputValues values = ResolveInputs(loaded->runbook, given, [](const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  });
  for (const auto& e : values.errors) *ctx.err << "runbook: " << e << "\n";
  if (!values.errors.empty()) return kExitUsage;
  *ctx.out << RenderPlan(loaded->runbook, values);
  return kExitOk;
}

int Graph(const Context& ctx, const std::string& target, const std::string& format) {
  auto loaded = LoadValid(ctx, target);
  if (!loaded) return kExitUsage;
  // finally steps form their own graph; draw both in one picture.
  std::vector<Step> all = loaded->runbook.steps;
  all.insert(all.end(), loaded->runbook.finally.begin(), loaded->runbook.finally.end());
  StepGraph graph(all);
  *ctx.out << (format == "dot" ? graph.Dot(loaded->runbook.name) : graph.Mermaid());
  return kExitOk;
}

int List(const Context& ctx) {
  auto files = ListRunbookFiles(ctx.runbook_path);
  if (files.empty()) {
    std::string folders;
    for (const auto& d : ctx.runbook_path) folders += (folders.empty() ? "" : ":") + d;
    *ctx.out << "no runbooks in " << folders << " (set RUNBOOK_PATH)\n";
    return kExitOk;
  }
  *ctx.out << std::left << std::setw(26) << "NAME" << std::setw(44) << "TITLE" << std::setw(8) << "RTO"
           << "RPO\n";
  for (const auto& file : files) {
    LoadedRunbook loaded = LoadRunbook(file, ctx.runbook_path);
    const Runbook& rb = loaded.runbook;
    std::string name = std::filesystem::path(file).stem().string();
    std::string title = loaded.ok() ? rb.Title()
                                    : "(invalid: " + std::to_string(loaded.diags.ErrorCount()) +
                                          " errors; see runbook validate " + name + ")";
    *ctx.out << std::setw(26) << name << std::setw(44) << title << std::setw(8)
             << (rb.rto ? FormatDuration(*rb.rto) : "-") << (rb.rpo ? FormatDuration(*rb.rpo) : "-")
             << "\n";
  }
  return kExitOk;
}

int Schema(const Context& ctx) {
  auto schema = embedded::Find(embedded::kSchema, "runbook.schema.json");
  *ctx.out << *schema;
  return kExitOk;
}

}  // namespace runbook::cli
