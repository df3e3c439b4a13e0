#include "engine/template.h"

#include <gtest/gtest.h>

namespace runbook {
namespace {

PosMapper Col() {
  return [](size_t off) { return Pos{1, static_cast<int>(off) + 1}; };
}

// The context of each template in a shell command, in order.
std::vector<ShellContext> Contexts(const std::string& cmd) {
  Diagnostics d;
  Template t = ParseTemplate(cmd, {1, 1}, Col(), true, &d);
  EXPECT_FALSE(d.HasErrors()) << cmd;
  std::vector<ShellContext> out;
  for (const auto& p : t.parts)
    if (p.is_expr) out.push_back(p.context);
  return out;
}

using C = ShellContext;

TEST(TemplateTest, SplitsLiteralsAndExpressions) {
  Diagnostics d;
  Template t = ParseTemplate("a {{ inputs.x }}b{{run.id}}", {1, 1}, Col(), false, &d);
  ASSERT_EQ(t.parts.size(), 4u);
  EXPECT_EQ(t.parts[0].literal, "a ");
  EXPECT_TRUE(t.parts[1].is_expr);
  EXPECT_EQ(t.parts[1].pos.col, 3);
  EXPECT_EQ(t.parts[2].literal, "b");
  EXPECT_EQ(ToString(*t.parts[3].expr), "run.id");
  EXPECT_EQ(t.parts[1].context, C::kNotShell);
}

TEST(TemplateTest, ReportsUnterminatedAndBadExpressions) {
  Diagnostics d;
  ParseTemplate("echo {{ inputs.x", {1, 1}, Col(), true, &d);
  ParseTemplate("echo {{ inputs. }}", {1, 1}, Col(), true, &d);
  ASSERT_EQ(d.items().size(), 2u);
  EXPECT_EQ(d.items()[0].message, "unterminated template: '{{' without '}}'");
  EXPECT_EQ(d.items()[0].pos.col, 6);
  EXPECT_EQ(d.items()[1].message, "expected a name after 'inputs.', found end of expression");
}

TEST(TemplateTest, FindsTheQuotingContextOfEachTemplate) {
  EXPECT_EQ(Contexts("echo {{ inputs.x }}"), std::vector<C>{C::kWord});
  EXPECT_EQ(Contexts("echo \"a {{ inputs.x }} b\""), std::vector<C>{C::kDoubleQuoted});
  EXPECT_EQ(Contexts("echo 'a {{ inputs.x }}'"), std::vector<C>{C::kSingleQuoted});
  EXPECT_EQ(Contexts("echo \"it's\" {{ inputs.x }}"), std::vector<C>{C::kWord});
  EXPECT_EQ(Contexts("echo \\' {{ inputs.x }}"), std::vector<C>{C::kWord});
  EXPECT_EQ(Contexts("echo \"$(cat '{{ inputs.x }}')\""), std::vector<C>{C::kSingleQuoted});
  EXPECT_EQ(Contexts("echo \"$(echo {{ inputs.x }})\""), std::vector<C>{C::kWord});
  EXPECT_EQ(Contexts("echo `echo \"{{ inputs.x }}\"`"), std::vector<C>{C::kDoubleQuoted});
}

TEST(TemplateTest, ACommentsApostropheDoesNotOpenAQuote) {
  EXPECT_EQ(Contexts("# don't panic\necho {{ inputs.x }}"), std::vector<C>{C::kWord});
  EXPECT_EQ(Contexts("echo a#b '{{ inputs.x }}'"), std::vector<C>{C::kSingleQuoted});
}

TEST(TemplateTest, KnowsHereDocuments) {
  EXPECT_EQ(Contexts("cat <<EOF\nit's {{ inputs.x }}\nEOF\necho {{ inputs.y }}"),
            (std::vector<C>{C::kHeredoc, C::kWord}));
  EXPECT_EQ(Contexts("cat <<'EOF'\n{{ inputs.x }}\nEOF"), std::vector<C>{C::kQuotedHeredoc});
  EXPECT_EQ(Contexts("cat <<-\"END\"\n\t{{ inputs.x }}\n\tEND\necho '{{ inputs.y }}'"),
            (std::vector<C>{C::kQuotedHeredoc, C::kSingleQuoted}));
  EXPECT_EQ(Contexts("cat <<<'{{ inputs.x }}'"), std::vector<C>{C::kSingleQuoted});
}

TEST(TemplateTest, QuotesInsideAnExpressionAreNotShellQuotes) {
  EXPECT_EQ(Contexts("echo {{ inputs.x == 'a' }} {{ inputs.y }}"), (std::vector<C>{C::kWord, C::kWord}));
}

}  // namespace
}  // namespace runbook
