// How big a runbook may be. Each limit is far above what a runbook written
// by people needs, and low enough that validate, plan, a dry run and import
// of a runbook at every limit at once finish in bounded time and memory
// (bench/goals.py limits). Past one, the runbook is refused with a
// file:line:col error naming the limit.
#pragma once

#include <cstddef>

namespace runbook {

constexpr size_t kMaxFileBytes = 4 << 20;     // a runbook file: 4 MiB
constexpr size_t kMaxSteps = 10'000;          // in `steps`, and again in `finally`
constexpr size_t kMaxYamlNodes = 1'000'000;   // after aliases: each use of an anchor counts again
constexpr int kMaxYamlFlowDepth = 64;         // [ and { nested in one value
constexpr size_t kMaxYamlIndent = 512;        // columns of indentation (block nesting)
constexpr size_t kMaxTemplatesPerText = 1'000;  // {{ }} in one command or text
constexpr int kMaxMarkdownDepth = 32;         // nested lists and quotes in an imported page

}  // namespace runbook
