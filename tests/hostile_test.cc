// Hostile values through the real binary: an input from a file, a step's
// output, and a person's answer reach later commands in a real bash, in
// heredocs, comments, backquotes and quotes; each command receives exactly
// the value and the canary hidden in the values never runs. (The property
// over 10,000 generated values is engine/shell_property_test.cc.)
#include <gtest/gtest.h>

#include "tests/cli_harness.h"

namespace runbook::testing {
namespace {

class HostileTest : public ::testing::Test {
 protected:
  bool Canary() const { return std::filesystem::exists(dir_.path() / "CANARY"); }
  std::string Read(const std::string& f) const { return ReadAll(dir_.path() / f); }
  TempDir dir_;
};

// Every line a value of the issue: ends a heredoc, ends a comment, ends a
// backquote, runs in arithmetic, ends a double-quoted ${V:-...}.
const char* const kValue =
    "x\nEOF\ntouch CANARY\ncat <<EOF\n"
    "`touch CANARY` $(touch CANARY) a[$(touch CANARY)] \"; touch CANARY; \" '; touch CANARY; '}";

TEST_F(HostileTest, InputsOutputsAndAnswersReachCommandsAsExactlyTheirValue) {
  // The input arrives from a YAML file, the output from a step's stdout (a
  // file with the same bytes), the answer is a choice a person picks.
  dir_.Write("value.txt", kValue);
  std::string yaml_value;
  for (char c : std::string(kValue)) yaml_value += c == '\n' ? std::string("\\n") : c == '"' ? "\\\"" : std::string(1, c);
  dir_.Write("inputs.yaml", "v: \"" + yaml_value + "\"\n");
  dir_.Write("rb.yaml", R"Y(name: rb
inputs: { v: { required: true } }
steps:
  - id: produce
    run: cat value.txt
    outputs: { o: stdout }
  - id: pick
    needs: [produce]
    decision:
      prompt: Which?
      choices:
        - { value: "a'b\"$(touch CANARY)`touch CANARY`", goto: [use] }
        - { value: plain, goto: [other] }
  - { id: other, run: "true" }
  - id: use
    run: |
      # a comment holding {{ inputs.v }}
      cat > heredoc.txt <<EOF
      {{ inputs.v }}
      EOF
      printf '%s' {{ steps.produce.outputs.o }} > word.txt
      printf '%s' "{{ inputs.v }}" > quoted.txt
      v=`printf '%s' {{ inputs.v }}`; printf '%s' "$v" > backquoted.txt
      printf '%s' "${NOT_SET:-{{ steps.produce.outputs.o }}}" > default.txt
      printf '%s' {{ steps.pick.outputs.choice }} > answer.txt
)Y");
  auto r = RunCli({"run", "rb.yaml", "--inputs-file", "inputs.yaml", "--answer",
                   "pick=a'b\"$(touch CANARY)`touch CANARY`"},
                  dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(Canary()) << "a value ran as code";
  EXPECT_EQ(Read("heredoc.txt"), std::string(kValue) + "\n");
  EXPECT_EQ(Read("quoted.txt"), kValue);
  EXPECT_EQ(Read("backquoted.txt"), kValue);
  // $(cat) drops the trailing newline, as stdout outputs are trimmed
  EXPECT_EQ(Read("word.txt"), kValue);
  EXPECT_EQ(Read("default.txt"), kValue);
  EXPECT_EQ(Read("answer.txt"), "a'b\"$(touch CANARY)`touch CANARY`");
  // What was recorded shows the command as a person reads it: the value in place.
  auto logs = RunCli({"logs", "last", "use"}, dir_.path());
  EXPECT_NE(logs.out.find("printf '%s' \"x\nEOF\ntouch CANARY\n"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("RUNBOOK_V_"), std::string::npos) << logs.out;
}

TEST_F(HostileTest, ArithmeticTakesANumberInputButNeverAString) {
  dir_.Write("rb.yaml", "name: rb\ninputs: { n: { type: number, default: 41 }, s: { default: x } }\nsteps:\n"
                        "  - { id: a, run: 'echo $(( {{ inputs.n }} + 1 )) > n.txt' }\n");
  auto r = RunCli({"run", "rb.yaml"}, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Read("n.txt"), "42\n");
  dir_.Write("bad.yaml", "name: bad\ninputs: { s: { default: x } }\nsteps:\n"
                         "  - { id: a, run: 'echo $(( {{ inputs.s }} + 1 ))' }\n");
  r = RunCli({"validate", "bad.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml:4:29: error: template in arithmetic"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace runbook::testing
