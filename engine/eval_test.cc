#include "engine/eval.h"

#include <gtest/gtest.h>

namespace runbook {
namespace {

class FakeContext : public EvalContext {
 public:
  std::map<std::string, Value> inputs;
  std::map<std::string, std::string> env;
  std::map<std::string, StepFacts> steps;
  std::string status = "running";

  std::optional<Value> Input(const std::string& n) const override {
    auto it = inputs.find(n);
    return it == inputs.end() ? std::nullopt : std::optional<Value>(it->second);
  }
  std::optional<std::string> Env(const std::string& n) const override {
    auto it = env.find(n);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  std::string RunField(const std::string& f) const override { return f == "id" ? "run-1" : status; }
  std::optional<StepFacts> Step(const std::string& id) const override {
    auto it = steps.find(id);
    return it == steps.end() ? std::nullopt : std::optional<StepFacts>(it->second);
  }
};

class EvalTest : public ::testing::Test {
 protected:
  EvalTest() {
    ctx_.inputs["environment"] = Value::String("staging");
    ctx_.inputs["count"] = Value::Number(3);
    ctx_.env["HOME"] = "/root";
    StepFacts check;
    check.status = StepStatus::kFailed;
    check.exit_code = 7;
    check.outputs["bytes"] = "42\n";
    check.outputs["version"] = "1.10";
    ctx_.steps["health-check"] = check;
    StepFacts skipped;
    skipped.status = StepStatus::kSkipped;
    ctx_.steps["other"] = skipped;
  }

  Value Eval(const std::string& text) {
    auto parsed = ParseExpr(text, [](size_t) { return Pos{}; });
    EXPECT_FALSE(parsed.error) << text;
    auto r = Evaluate(*parsed.expr, ctx_);
    EXPECT_TRUE(r.ok()) << text << ": " << r.error.value_or("");
    return r.value;
  }
  bool True(const std::string& text) { return Eval(text).Truthy(); }
  std::string Error(const std::string& text) {
    auto parsed = ParseExpr(text, [](size_t) { return Pos{}; });
    return Evaluate(*parsed.expr, ctx_).error.value_or("(no error)");
  }

  FakeContext ctx_;
};

TEST_F(EvalTest, ComparesStringsAsStringsAndNumbersWithStringsAsNumbers) {
  EXPECT_TRUE(True("steps.health-check.exit_code != 0"));
  EXPECT_TRUE(True("steps.health-check.exit_code == 7"));
  EXPECT_TRUE(True("steps.health-check.exit_code == '7'"));
  EXPECT_TRUE(True("steps.health-check.outputs.bytes > 10"));  // "42\n" read as a number
  EXPECT_TRUE(True("'10' < '9'"));                             // two strings: lexicographic
  EXPECT_TRUE(True("steps.health-check.outputs.version < 2"));
  EXPECT_FALSE(True("'abc' == 1"));
  EXPECT_TRUE(True("null == null"));
  EXPECT_FALSE(True("null == ''"));
  EXPECT_TRUE(True("inputs.count >= 3 && inputs.count < 4"));
}

TEST_F(EvalTest, LogicShortCircuitsSoTheUnneededSideIsNeverEvaluated) {
  EXPECT_TRUE(True("true || steps.health-check.outputs.missing == 'x'"));
  EXPECT_FALSE(True("false && steps.health-check.outputs.missing == 'x'"));
  EXPECT_TRUE(True("!false && !(1 == 2)"));
}

TEST_F(EvalTest, InAndFunctions) {
  EXPECT_TRUE(True("inputs.environment in ['staging', 'production']"));
  EXPECT_FALSE(True("'dev' in ['staging', 'production']"));
  EXPECT_TRUE(True("'tag' in 'staging'"));
  EXPECT_TRUE(True("failed('health-check') && skipped('other') && !succeeded('other')"));
  EXPECT_TRUE(True("contains(inputs.environment, 'stag') && startsWith(env.HOME, '/ro')"));
  EXPECT_TRUE(True("matches(steps.health-check.outputs.bytes, '^[0-9]+$')"));
  EXPECT_TRUE(True("int(steps.health-check.outputs.bytes) == 42"));
  EXPECT_EQ(Eval("int('  12 ')").number, 12);
  EXPECT_EQ(Eval("duration('1h30m')").number, 5400);
  EXPECT_EQ(Eval("run.id").text, "run-1");
  EXPECT_EQ(Eval("env.NOPE").kind, Value::Kind::kNull);
}

TEST_F(EvalTest, ReportsWhatCannotBeEvaluated) {
  EXPECT_EQ(Error("steps.health-check.outputs.missing == 1"),
            "step 'health-check' did not produce output 'missing' (it is failed)");
  EXPECT_EQ(Error("int('abc') == 1"), "int() cannot convert 'abc' to a number");
  EXPECT_EQ(Error("'abc' < 1"), "cannot compare 'abc' with a number");
  EXPECT_EQ(Error("duration('soon') > 1"), "duration() cannot read 'soon' as a duration");
}

TEST_F(EvalTest, AMaskedOutputCannotBeUsed) {
  ctx_.steps["health-check"].masked_outputs = {"bytes"};
  EXPECT_EQ(Error("steps.health-check.outputs.bytes == 1"),
            "output 'bytes' of step 'health-check' held a secret and was stored masked: re-run that step "
            "(resume --rerun health-check)");
}

TEST(RenderTest, EachTemplateBecomesAVariableReferenceForItsPlaceAndSecretsTheirOwn) {
  FakeContext ctx;
  ctx.inputs["x"] = Value::String("a b");
  ctx.inputs["token"] = Value::String("s3cret");
  Diagnostics d;
  auto map = [](size_t) { return Pos{}; };
  Template t = ParseTemplate("echo {{ inputs.x }} \"{{ inputs.x }}!\" {{ inputs.token }} \"{{ inputs.token }}\"", {}, map,
                             true, &d);
  auto r = RenderCommand(t, ctx, {"token"});
  ASSERT_TRUE(r.ok());
  // One variable per distinct value.
  EXPECT_EQ(r.text, "echo \"${RUNBOOK_V_1}\" \"${RUNBOOK_V_1}!\" \"${RUNBOOK_INPUT_TOKEN}\" \"${RUNBOOK_INPUT_TOKEN}\"");
  EXPECT_EQ(r.values, (std::vector<std::pair<std::string, std::string>>{{"RUNBOOK_V_1", "a b"}}));
  EXPECT_EQ(r.shown, "echo a b \"a b!\" \"${RUNBOOK_INPUT_TOKEN}\" \"${RUNBOOK_INPUT_TOKEN}\"");
  EXPECT_EQ(r.text.find("s3cret"), std::string::npos);
  EXPECT_EQ(r.shown.find("s3cret"), std::string::npos);
  Template name = ParseTemplate("Deploy {{ inputs.x }} #{{ 1 }}", {}, map, false, &d);
  EXPECT_EQ(RenderText(name, ctx).text, "Deploy a b #1");
}

TEST(RenderTest, AnEvaluationErrorNamesTheTemplate) {
  FakeContext ctx;
  Diagnostics d;
  Template t = ParseTemplate("cp {{ steps.pick.outputs.file }} .", {}, [](size_t) { return Pos{}; }, true, &d);
  ctx.steps["pick"].status = StepStatus::kSkipped;
  auto r = RenderCommand(t, ctx, {});
  EXPECT_EQ(r.error.value_or(""), "{{ steps.pick.outputs.file }}: step 'pick' did not produce output 'file' (it is skipped)");
}

}  // namespace
}  // namespace runbook
