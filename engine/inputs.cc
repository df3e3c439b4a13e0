#include "engine/inputs.h"

#include "engine/suggest.h"
#include "engine/validate.h"

namespace runbook {

std::optional<std::pair<std::string, std::string>> SplitAssignment(const std::string& kv) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return std::nullopt;
  return std::make_pair(kv.substr(0, eq), kv.substr(eq + 1));
}

InputValues ResolveInputs(const Runbook& rb, const std::map<std::string, std::string>& given,
                          const EnvLookup& env) {
  InputValues out;
  std::vector<std::string> names;
  for (const auto& d : rb.inputs) names.push_back(d.name);
  for (const auto& [name, value] : given) {
    if (!rb.FindInput(name))
      out.errors.push_back("unknown input '" + name + "'" + DidYouMean(name, names) +
                           (names.empty() ? "; this runbook takes no inputs" : ""));
  }
  for (const auto& d : rb.inputs) {
    std::optional<std::string> value;
    if (auto it = given.find(d.name); it != given.end())
      value = it->second;
    else if (!d.from_env.empty())
      value = env(d.from_env);
    if (!value) value = d.default_value;
    if (!value) {
      if (d.required) out.missing.push_back(d.name);
      continue;
    }
    if (auto why = CheckInputValue(d, *value)) {
      // Never echo a secret back.
      out.errors.push_back("input '" + d.name + "': " + (d.secret ? "the secret value is not acceptable" : *why));
      continue;
    }
    out.values[d.name] = *value;
  }
  return out;
}

}  // namespace runbook
