// runbook: the command line. Parses arguments with CLI11 and hands each
// subcommand to cli/commands.h. The only place that knows exit codes come
// from here; nothing below main calls exit().
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "engine/loader.h"

int main(int argc, char** argv) {
  using namespace runbook::cli;
  CLI::App app{"runbook: run operations runbooks as checked, recorded, resumable procedures"};
  app.set_version_flag("--version", std::string("runbook ") + RUNBOOK_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options (--state) also after the subcommand

  std::string state;
  app.add_option("--state", state, "state database (default .runbook/state.db)")->envname("RUNBOOK_STATE");

  auto* validate = app.add_subcommand("validate", "check runbooks; all errors as FILE:LINE:COL: message");
  std::vector<std::string> validate_targets;
  validate->add_option("runbook", validate_targets, "file or name on RUNBOOK_PATH")->required();

  auto* plan = app.add_subcommand("plan", "order, parallel waves, critical path against the RTO");
  std::string plan_target;
  std::vector<std::string> plan_inputs;
  plan->add_option("runbook", plan_target, "file or name on RUNBOOK_PATH")->required();
  plan->add_option("--input", plan_inputs, "input value K=V (repeatable)");

  auto* graph = app.add_subcommand("graph", "the step graph as Mermaid or Graphviz dot");
  std::string graph_target, graph_format = "mermaid";
  graph->add_option("runbook", graph_target, "file or name on RUNBOOK_PATH")->required();
  graph->add_option("--format", graph_format, "mermaid (default) or dot")
      ->check(CLI::IsMember({"mermaid", "dot"}));

  auto* list = app.add_subcommand("list", "runbooks on RUNBOOK_PATH with title and targets");
  auto* schema = app.add_subcommand("schema", "JSON Schema of the runbook format, for editors");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  Context ctx{runbook::RunbookPath(std::getenv("RUNBOOK_PATH")), &std::cout, &std::cerr};
  if (*validate) return Validate(ctx, validate_targets);
  if (*plan) return Plan(ctx, plan_target, plan_inputs);
  if (*graph) return Graph(ctx, graph_target, graph_format);
  if (*list) return List(ctx);
  if (*schema) return Schema(ctx);
  return kExitUsage;
}
