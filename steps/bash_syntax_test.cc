#include "steps/bash_syntax.h"

#include <gtest/gtest.h>

#include <random>

#include "engine/test_util.h"

namespace runbook {
namespace {

TEST(BashSyntaxTest, SaysWhichScriptsDoNotParseAndWhere) {
  BashSyntax bash;
  ASSERT_TRUE(bash.available());
  auto r = bash.Check({"echo ok\n", "echo 'unterminated\n", "if true; then\n  echo\n", "for x in 1 2; do :; done\n",
                       "echo a |\n| b\n", ""});
  ASSERT_EQ(r.size(), 6u);
  EXPECT_FALSE(r[0]);
  ASSERT_TRUE(r[1]);
  EXPECT_NE(r[1]->message.find("unexpected EOF"), std::string::npos) << r[1]->message;
  ASSERT_TRUE(r[2]);
  EXPECT_FALSE(r[3]);
  ASSERT_TRUE(r[4]);
  EXPECT_EQ(r[4]->line, 2);
  EXPECT_FALSE(r[5]);
}

// The batch (scripts wrapped in functions, split in two on failure) must
// judge each script exactly as bash -n judges it alone: scripts that end in a
// continuation or an open heredoc, or that close a brace early, included.
TEST(BashSyntaxTest, ABatchJudgesEachScriptAsBashAloneWould) {
  std::vector<std::string> pieces = {"echo ok\n", "echo 'open\n", "cat <<EOF\nbody\n", "echo a \\\n", "fi\n",
                                     "x=$(\n", "case a in a) ;; esac\n", "f() { :; }\n", "echo }\n", "( echo\n",
                                     "[[ -n x ]] && echo\n", "echo \"$(date)\"\n", "done\n", "{ echo; }\n"};
  std::mt19937 rng(14);
  std::vector<std::string> scripts;
  for (int i = 0; i < 300; ++i) scripts.push_back(pieces[rng() % pieces.size()] + pieces[rng() % pieces.size()]);
  BashSyntax batch;
  auto together = batch.Check(scripts);
  int bad = 0;
  for (size_t i = 0; i < scripts.size(); ++i) {
    BashSyntax alone;
    auto one = alone.Check({scripts[i]});
    EXPECT_EQ(together[i].has_value(), one[0].has_value()) << scripts[i];
    bad += one[0].has_value();
  }
  EXPECT_GT(bad, 0);
  EXPECT_LT(bad, static_cast<int>(scripts.size()));
}

TEST(BashSyntaxTest, AThousandGoodScriptsCostOneBash) {
  BashSyntax bash;
  std::vector<std::string> scripts(1000, "systemctl restart app\ncurl -fsS http://127.0.0.1/health\n");
  auto r = bash.Check(scripts);
  for (const auto& e : r) EXPECT_FALSE(e);
  EXPECT_EQ(bash.processes(), 1);
}

TEST(BashSyntaxTest, NothingRunsWhileChecking) {
  BashSyntax bash;
  std::string canary = ::testing::TempDir() + "/runbook-syntax-canary";
  std::remove(canary.c_str());
  auto r = bash.Check({"touch " + canary + "\n", "touch " + canary + "; echo 'bad\n"});
  EXPECT_FALSE(r[0]);
  EXPECT_TRUE(r[1]);
  FILE* f = std::fopen(canary.c_str(), "r");
  EXPECT_EQ(f, nullptr) << "bash -n ran the script";
  if (f) std::fclose(f);
}

TEST(LintShellSyntaxTest, AScriptThatDoesNotParseIsAWarningAtItsLine) {
  auto c = testing::Check(R"Y(name: t
preflight:
  - name: p
    run: test -d /x
steps:
  - id: a
    run: |
      echo start
      if [ -f x ]; then
        echo no fi
  - id: b
    run: echo "{{ run.id }}" 'ok'
    rollback: echo 'unterminated
    verify:
      - run: curl -f http://x/ )
)Y");
  ASSERT_FALSE(c.diags.HasErrors()) << c.Text();
  BashSyntax bash;
  Diagnostics lint;
  LintShellSyntax(c.runbook, bash, &lint);
  lint.SortByPosition();
  std::string out;
  for (const auto& d : lint.items()) out += Format(c.runbook.source, d).substr(0, Format(c.runbook.source, d).find('\n')) + "\n";
  EXPECT_EQ(out,
            "t.yaml:10:1: warning: the run script of step 'a' does not parse as shell (bash -n: syntax error: "
            "unexpected end of file): it would fail before running anything\n"
            "t.yaml:13:15: warning: the rollback of step 'b' does not parse as shell (bash -n: unexpected EOF while "
            "looking for matching `''): it would fail before running anything\n"
            "t.yaml:15:14: warning: verification 'curl -f http://x/ )' of step 'b' does not parse as shell (bash -n: syntax error near "
            "unexpected token `)'): it would fail before running anything\n");
}

}  // namespace
}  // namespace runbook
