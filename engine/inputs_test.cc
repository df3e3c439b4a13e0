#include "engine/inputs.h"

#include <gtest/gtest.h>

#include "engine/test_util.h"

namespace runbook {
namespace {

const char* kRunbook = R"Y(name: t
inputs:
  environment: { enum: [staging, production], required: true }
  backup_dir: { default: ./backups }
  token: { secret: true, from_env: API_TOKEN }
  count: { type: number, default: 3 }
  flag: { type: boolean }
  ticket: { pattern: "INC-[0-9]+" }
steps:
  - { id: a, run: x }
)Y";

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(InputsTest, GivenBeatsEnvironmentBeatsDefault) {
  auto c = testing::Check(kRunbook);
  ASSERT_FALSE(c.diags.HasErrors()) << c.Text();
  auto v = ResolveInputs(c.runbook, {{"environment", "staging"}, {"token", "given"}}, Env({{"API_TOKEN", "env"}}));
  EXPECT_TRUE(v.errors.empty());
  EXPECT_EQ(v.values["token"], "given");
  EXPECT_EQ(v.values["backup_dir"], "./backups");
  v = ResolveInputs(c.runbook, {{"environment", "staging"}}, Env({{"API_TOKEN", "env"}}));
  EXPECT_EQ(v.values["token"], "env");
}

TEST(InputsTest, ReportsMissingUnknownAndInvalidValues) {
  auto c = testing::Check(kRunbook);
  auto v = ResolveInputs(c.runbook,
                         {{"enviroment", "x"}, {"count", "three"}, {"flag", "yes"}, {"ticket", "INC-12\nrm"}},
                         Env({}));
  EXPECT_EQ(v.missing, std::vector<std::string>{"environment"});
  EXPECT_EQ(v.errors, (std::vector<std::string>{
                          "unknown input 'enviroment' (did you mean 'environment'?)",
                          "input 'count': 'three' is not a number",
                          "input 'flag': 'yes' is not a boolean (true or false)",
                          "input 'ticket': 'INC-12\nrm' does not match the pattern INC-[0-9]+",
                      }));
  v = ResolveInputs(c.runbook, {{"environment", "prod"}}, Env({}));
  EXPECT_EQ(v.errors, std::vector<std::string>{
                          "input 'environment': 'prod' is not one of the allowed values: staging, production"});
}

TEST(InputsTest, NeverEchoesARejectedSecret) {
  auto c = testing::Check(R"Y(name: t
inputs: { token: { secret: true, pattern: "[a-f0-9]{8}" } }
steps: [{ id: a, run: x }]
)Y");
  auto v = ResolveInputs(c.runbook, {{"token", "hunter2-oops"}}, Env({}));
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_EQ(v.errors[0].find("hunter2"), std::string::npos) << v.errors[0];
}

TEST(InputsTest, SplitsAssignmentsAtTheFirstEquals) {
  EXPECT_EQ(SplitAssignment("a=b=c")->second, "b=c");
  EXPECT_EQ(SplitAssignment("a=")->second, "");
  EXPECT_FALSE(SplitAssignment("=b"));
  EXPECT_FALSE(SplitAssignment("ab"));
}

}  // namespace
}  // namespace runbook
