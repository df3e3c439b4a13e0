// The JSON Schema given to editors and the keys the parser accepts are two
// descriptions of one format: this test keeps them equal.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include "engine/embedded.h"
#include "engine/keys.h"

namespace runbook {
namespace {

using nlohmann::json;

json Schema() { return json::parse(*embedded::Find(embedded::kSchema, "runbook.schema.json")); }

std::set<std::string> Keys(const json& object_schema) {
  std::set<std::string> out;
  for (auto& [k, v] : object_schema.at("properties").items()) out.insert(k);
  return out;
}

std::set<std::string> Set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// The object alternative of a oneOf (string-or-object shorthands).
const json& ObjectOf(const json& s) {
  if (s.contains("oneOf"))
    for (const auto& alt : s["oneOf"])
      if (alt.value("type", "") == "object") return alt;
  return s;
}

TEST(SchemaKeysTest, EveryMappingHasExactlyTheParsersKeys) {
  json s = Schema();
  const json& defs = s["$defs"];
  const json& step = defs["step"];
  EXPECT_EQ(Keys(s), Set(keys::kRunbook));
  EXPECT_EQ(Keys(s["properties"]["targets"]), Set(keys::kTargets));
  EXPECT_EQ(Keys(s["properties"]["escalation"]["items"]), Set(keys::kEscalation));
  EXPECT_EQ(Keys(s["properties"]["notify"]["items"]), Set(keys::kNotify));
  EXPECT_EQ(Keys(ObjectOf(s["properties"]["inputs"]["additionalProperties"])), Set(keys::kInput));
  EXPECT_EQ(Keys(s["properties"]["defaults"]), Set(keys::kDefaults));
  EXPECT_EQ(Keys(step), Set(keys::kStep));
  EXPECT_EQ(Keys(ObjectOf(defs["retry"])), Set(keys::kRetry));
  EXPECT_EQ(Keys(ObjectOf(defs["check"])), Set(keys::kCheck));
  EXPECT_EQ(Keys(ObjectOf(defs["check"])["properties"]["expect"]), Set(keys::kExpect));
  EXPECT_EQ(Keys(ObjectOf(step["properties"]["rollback"])), Set(keys::kRollback));
  EXPECT_EQ(Keys(step["properties"]["decision"]), Set(keys::kDecision));
  EXPECT_EQ(Keys(step["properties"]["decision"]["properties"]["choices"]["items"]), Set(keys::kChoice));
  EXPECT_EQ(Keys(ObjectOf(step["properties"]["outputs"]["additionalProperties"])), Set(keys::kOutput));
}

TEST(SchemaKeysTest, EveryMappingRejectsUnknownKeys) {
  json s = Schema();
  EXPECT_EQ(s["additionalProperties"], false);
  EXPECT_EQ(s["$defs"]["step"]["additionalProperties"], false);
  EXPECT_EQ(ObjectOf(s["$defs"]["check"])["additionalProperties"], false);
}

}  // namespace
}  // namespace runbook
