#include "engine/step_io.h"

#include <gtest/gtest.h>

#include "engine/test_util.h"

namespace runbook {
namespace {

TEST(StepIoTest, MasksEveryOccurrenceLongestSecretFirst) {
  Masker m;
  m.Add("abc");
  m.Add("abcdef");
  m.Add("");
  EXPECT_EQ(m.Mask("x abcdef y abc abcabc"), "x *** y *** ******");
  EXPECT_TRUE(m.Contains("..abc.."));
  EXPECT_FALSE(m.Contains("ab"));
}

TEST(StepIoTest, BashGetsPipefailAndOtherShellsDashC) {
  EXPECT_EQ(ShellArgv("bash", "x"), (std::vector<std::string>{"bash", "-c", "set -eo pipefail\nx"}));
  EXPECT_EQ(ShellArgv("sh", "x"), (std::vector<std::string>{"/bin/sh", "-c", "x"}));
  EXPECT_EQ(ShellArgv("python3 -u", "x"), (std::vector<std::string>{"python3", "-u", "-c", "x"}));
}

TEST(StepIoTest, ExtractsDeclaredOutputsOverTheOutputFile) {
  auto c = testing::Check(
      "name: t\nsteps:\n  - id: a\n    run: x\n    outputs: { out: stdout, code: exit_code, ver: { regex: 'v([0-9.]+)' }, "
      "all: { regex: '[a-z]+' } }\n");
  ASSERT_FALSE(c.diags.HasErrors()) << c.Text();
  auto file = ParseOutputFile("from_file=1\nout=overridden\nnot a line\n=x\nk=a=b\r\n");
  auto r = ExtractOutputs(c.runbook.steps[0], "  release v1.2.3 ok\n", 0, file);
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.values["out"], "release v1.2.3 ok");
  EXPECT_EQ(r.values["code"], "0");
  EXPECT_EQ(r.values["ver"], "1.2.3");
  EXPECT_EQ(r.values["all"], "release");
  EXPECT_EQ(r.values["from_file"], "1");
  EXPECT_EQ(r.values["k"], "a=b");
  EXPECT_EQ(r.values.count(""), 0u);
  r = ExtractOutputs(c.runbook.steps[0], "no version here", 0, {});
  EXPECT_EQ(r.error.value_or(""), "output 'ver': /v([0-9.]+)/ matched nothing in stdout");
}

TEST(StepIoTest, ChecksExpectationsWithLineAnchors) {
  Expectation e;
  e.stdout_regex = "^ok$";
  EXPECT_FALSE(CheckExpectation(e, 0, "header\nok\ntrailer\n", ""));
  EXPECT_EQ(CheckExpectation(e, 0, "not ok\n", "").value_or(""), "stdout does not match /^ok$/");
  EXPECT_EQ(CheckExpectation(e, 2, "ok\n", "").value_or(""), "exit code 2, expected 0");
  e.exit_code.reset();
  EXPECT_FALSE(CheckExpectation(e, 2, "ok\n", ""));
  e.stderr_regex = "warn";
  EXPECT_EQ(CheckExpectation(e, 0, "ok", "").value_or(""), "stderr does not match /warn/");
}

// Issue 22: the summary kept the last 5 lines and dropped the first, the cause.
TEST(StepIoTest, FailureLinesKeepTheFirstLineWhereTheCauseIs) {
  EXPECT_EQ(FailureLines("a\nb\n", 5), "a\nb");
  EXPECT_EQ(FailureLines("1\n2\n3\n4\n5\n", 5), "1\n2\n3\n4\n5");
  EXPECT_EQ(FailureLines("ERROR: cause\nh1\nh2\nh3\nh4\nh5\nh6\n", 5),
            "ERROR: cause\n... (3 more lines)\nh4\nh5\nh6");
  EXPECT_EQ(FailureLines("c\n1\n2\n3\n4\n5\n", 5), "c\n... (2 more lines)\n3\n4\n5");
  EXPECT_EQ(FailureLines("", 5), "");
}

TEST(StepIoTest, TailLinesKeepsTheLastLines) {
  EXPECT_EQ(TailLines("a\nb\nc\nd\n", 2), "c\nd");
  EXPECT_EQ(TailLines("one", 3), "one");
  EXPECT_EQ(TailLines("", 3), "");
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

// What the terminal and --output json see arrives in chunks: a secret split
// across two reads, or a multi-line secret, is still masked.
TEST(LineBufferTest, ASecretSplitAcrossChunksOrLinesIsMasked) {
  Masker m;
  m.Add("hunter2-secret");
  m.Add("-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----");
  LineBuffer lines;
  std::string shown = lines.Take(1, false, "token=hunt", false, m);
  EXPECT_EQ(shown, "");  // no line yet: nothing shown, nothing half-masked
  shown += lines.Take(1, false, "er2-secret done\n", false, m);
  EXPECT_EQ(shown, "token=*** done\n");
  // A PEM reaches the terminal line by line: each line of it is masked.
  std::string pem;
  for (const char* chunk : {"-----BEGIN KEY-----\nMIIE", "vQIBADANBg\n-----END KEY-----\n"})
    pem += lines.Take(2, true, chunk, false, m);
  EXPECT_EQ(pem, "***\n***\n***\n");
  // What is left when the process ends is masked too.
  EXPECT_EQ(lines.Take(1, false, "last hunter2-secret", true, m), "last ***");
}

}  // namespace
}  // namespace runbook
