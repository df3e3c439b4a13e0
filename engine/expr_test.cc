#include "engine/expr.h"

#include <gtest/gtest.h>

namespace runbook {
namespace {

PosMapper Col() {
  return [](size_t off) { return Pos{1, static_cast<int>(off) + 1}; };
}

ExprPtr Parse(const std::string& text) {
  auto r = ParseExpr(text, Col());
  EXPECT_FALSE(r.error) << text << ": " << (r.error ? r.error->message : "");
  return r.expr;
}

std::string ErrorOf(const std::string& text) {
  auto r = ParseExpr(text, Col());
  if (!r.error) return "(no error)";
  return std::to_string(r.error->pos.col) + ": " + r.error->message;
}

TEST(ExprTest, ParsesTheSpecExamplesWithPrecedence) {
  EXPECT_EQ(ToString(*Parse("steps.health-check.exit_code != 0")), "steps.health-check.exit_code != 0");
  EXPECT_EQ(ToString(*Parse("!failed('restore') && skipped('x')")), "!failed('restore') && skipped('x')");
}

TEST(ExprTest, AndBindsTighterThanOr) {
  auto e = Parse("true || false && !false");
  ASSERT_EQ(e->kind, Expr::Kind::kBinary);
  EXPECT_EQ(e->op, Expr::Op::kOr);
  EXPECT_EQ(e->args[1]->op, Expr::Op::kAnd);
  EXPECT_EQ(e->args[1]->args[1]->kind, Expr::Kind::kNot);
  EXPECT_EQ(ToString(*e), "true || (false && !false)");
}

TEST(ExprTest, ParsesEveryLiteralAndReference) {
  EXPECT_EQ(ToString(*Parse("'s' == \"s\"")), "'s' == 's'");
  EXPECT_EQ(Parse("-5")->number, -5);
  EXPECT_EQ(Parse("2.5")->number, 2.5);
  EXPECT_EQ(Parse("null")->kind, Expr::Kind::kNull);
  EXPECT_EQ(ToString(*Parse("inputs.environment in ['staging', 'production']")),
            "inputs.environment in ['staging', 'production']");
  auto ref = Parse("steps.pick-backup.outputs.backup");
  EXPECT_EQ(ref->ref.scope, Ref::Scope::kSteps);
  EXPECT_EQ(ref->ref.step, "pick-backup");
  EXPECT_EQ(ref->ref.field, "outputs");
  EXPECT_EQ(ref->ref.output, "backup");
  EXPECT_EQ(Parse("steps.1st.status")->ref.step, "1st");
  EXPECT_EQ(Parse("run.status")->ref.field, "status");
  EXPECT_EQ(Parse("env.HOME")->ref.field, "HOME");
  EXPECT_EQ(ToString(*Parse("(int(inputs.n) >= 3) && matches(env.X, '^a$')")),
            "(int(inputs.n) >= 3) && matches(env.X, '^a$')");
}

TEST(ExprTest, KeepsTheColumnOfEveryNode) {
  auto e = Parse("inputs.a == steps.b.status");
  EXPECT_EQ(e->pos.col, 10);  // the operator
  EXPECT_EQ(e->args[0]->pos.col, 1);
  EXPECT_EQ(e->args[1]->ref.pos.col, 13);
}

TEST(ExprTest, ReportsSyntaxErrorsAtTheirColumn) {
  EXPECT_EQ(ErrorOf("a == 1"), "1: unknown name 'a'; expected inputs.NAME, env.NAME, steps.ID..., run.id, run.status or a function call");
  EXPECT_EQ(ErrorOf("inputs.x =="), "12: expected a value, found end of expression");
  EXPECT_EQ(ErrorOf("inputs.x = 1"), "10: unexpected '=' (use '==' to compare)");
  EXPECT_EQ(ErrorOf("(true"), "6: expected ')' to close '(', found end of expression");
  EXPECT_EQ(ErrorOf("'open"), "1: unterminated string");
  EXPECT_EQ(ErrorOf("steps.a.stauts"), "9: unknown step field 'stauts' (did you mean 'status'?); expected status, exit_code or outputs.NAME");
  EXPECT_EQ(ErrorOf("run.name"), "5: unknown run field 'name'; expected run.id or run.status");
  EXPECT_EQ(ErrorOf("succeded('a')"), "1: unknown function 'succeded' (did you mean 'succeeded'?)");
  EXPECT_EQ(ErrorOf("contains('a')"), "1: contains() takes 2 arguments, got 1");
  EXPECT_EQ(ErrorOf("failed(inputs.x)"), "1: failed() takes a step id as a string, like failed('restore')");
  EXPECT_EQ(ErrorOf("matches('a', '(')"), "1: invalid regex in matches(): missing ): (");
  EXPECT_EQ(ErrorOf("true true"), "6: unexpected 'true' after expression");
  EXPECT_EQ(ErrorOf("   "), "1: empty expression");
  EXPECT_EQ(ErrorOf("1 - 2"), "3: unexpected '-' (there is no minus operator; a step id may contain '-')");
}

TEST(ExprTest, CollectsReferencesIncludingStepFunctions) {
  std::vector<Ref> refs;
  CollectRefs(*Parse("succeeded('a') && steps.b.exit_code == 0 || inputs.c == env.D"), &refs);
  ASSERT_EQ(refs.size(), 4u);
  EXPECT_EQ(refs[0].ToString(), "steps.a.status");
  EXPECT_EQ(refs[0].pos.col, 11);  // the string naming the step
  EXPECT_EQ(refs[1].ToString(), "steps.b.exit_code");
  EXPECT_EQ(refs[2].ToString(), "inputs.c");
  EXPECT_EQ(refs[3].ToString(), "env.D");
}

}  // namespace
}  // namespace runbook
