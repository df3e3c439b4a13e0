// How both stores keep a record's maps and lists in a column (JSON text),
// and read a name this binary does not know. Internal to state/.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/lifecycle.h"

namespace runbook::record_json {

// Invalid UTF-8 in a value becomes U+FFFD rather than an exception.
inline std::string ToJson(const std::map<std::string, std::string>& m) {
  return nlohmann::json(m).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
inline std::string ToJson(const std::vector<std::string>& v) {
  return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
// An empty or unreadable column reads as empty: the record stays readable.
template <class T>
T FromJson(const std::string& s) {
  if (s.empty()) return T{};
  try {
    return nlohmann::json::parse(s).get<T>();
  } catch (const nlohmann::json::exception&) {
    return T{};
  }
}
// A name this binary does not know reads as `fallback` (a newer schema is
// refused before this).
template <class E>
E ParseOr(const std::string& text, E fallback) {
  return Parse<E>(text).value_or(fallback);
}

}  // namespace runbook::record_json
