// What a code block on a page is: commands to run, or something a person
// reads (output, logs, configuration, another language, another tool's
// console). And the placeholders and unset variables in a command, which
// become the draft's inputs.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "import/page.h"

namespace runbook::import {

struct CodeReading {
  bool command = false;  // a shell command: `script` may become a run step
  std::string script;    // the commands, prompts removed
  std::string output;    // what the page shows after prompted commands
  std::string lead;      // !command: how a person uses it ("Run in psql:")
};

// Shell blocks (bash, sh, console...) and untagged ones are commands only
// if they start with one: prompts are stripped and only prompted lines kept;
// a console block without a prompt, a pasted log line or configuration is
// not. Other languages and other tools' consoles (psql, mysql, redis-cli)
// are shown. Whether the script parses is the caller's check (bash -n).
CodeReading ReadCode(const Block& code);

// The first word of the script's first command is a command: a shell
// keyword or builtin, a path, an assignment alone, or a well-known tool.
bool StartsWithCommand(const std::string& script);

// Whether every command of the script only looks (get, describe, status,
// history, curl without a body...): nothing for a rollback to undo.
bool ReadOnly(const std::string& script);

struct Placeholder {
  std::string input;  // the input's name: "rds_hostname"
  std::string shown;  // as the page wrote it: "[rds-hostname]"
};

// `script` with every placeholder (<x>, [x], {x}) as {{ inputs.x }} and
// every "{{" escaped, each in the form its place in the shell allows (out
// of single quotes by closing and reopening them). nullopt: a "{{" sits
// where no template may (a quoted heredoc, arithmetic): not runnable as a
// template. Found placeholders are added to `found`.
std::optional<std::string> Templated(const std::string& script, std::map<std::string, Placeholder>* found);

// Upper-case variables the script reads ($NAME, ${NAME}) outside single
// quotes, and those a text sets (NAME=, export/read/for/local NAME, or a
// ${NAME:-default}); well-known ones (HOME, PATH...) are never reported.
std::set<std::string> VariablesRead(const std::string& script);
std::set<std::string> VariablesSet(const std::string& text);
// NAME=value assignments of a literal value (no $, backquote or space in
// it; quotes around it removed), the first of each name.
std::map<std::string, std::string> LiteralAssignments(const std::string& text);

// Lower-case ASCII letters and digits of `text`, runs of anything else one
// `separator`, at most `max` bytes: ids, choice values, input names.
std::string Slug(const std::string& text, char separator, size_t max);

// An input name from a placeholder or variable: lower case, [a-z0-9_].
std::string InputName(const std::string& word);

}  // namespace runbook::import
