// Shell completion (bash, zsh) and the manual page, generated from the one
// command-line definition in cli/main.cc: a subcommand or option added there
// is completed and documented without another list to keep in step.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace runbook::cli {

// `runbook completion bash`: a script for `source` or bash-completion's
// folder. Plain bash (compgen, COMP_WORDS), no bash-completion helpers.
std::string BashCompletion(CLI::App& app);

// `runbook completion zsh`: a `#compdef runbook` function for $fpath.
std::string ZshCompletion(CLI::App& app);

// `runbook man`: runbook(1) in roff.
std::string ManPage(CLI::App& app, const std::string& version, const std::string& date);

}  // namespace runbook::cli
