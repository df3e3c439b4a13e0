// Resolving a run's input values (SPEC section 6): --input beats the input's
// from_env variable, which beats its default. Pure: the environment comes in
// as a function.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.h"

namespace runbook {

struct InputValues {
  std::map<std::string, std::string> values;
  std::vector<std::string> missing;  // required inputs with no value
  std::vector<std::string> errors;   // unknown inputs, values that break their rules
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Splits "key=value" at the first '='; nullopt without one or with no key.
std::optional<std::pair<std::string, std::string>> SplitAssignment(const std::string& kv);

InputValues ResolveInputs(const Runbook& rb, const std::map<std::string, std::string>& given,
                          const EnvLookup& env);

}  // namespace runbook
