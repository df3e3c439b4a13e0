// The property of issue 13: a value never runs as code. 10,000 generated
// hostile values (quotes, $( ), backquotes, newlines, EOF lines, a[$(cmd)],
// globs, backslashes, invalid UTF-8, 100 KB) reach a command through inputs,
// step outputs and answers, in every place the validator accepts a template; a real
// bash runs each command, every place must receive exactly the value, and a
// canary command hidden in the values must never run.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/eval.h"
#include "engine/template.h"

extern char** environ;

namespace runbook {
namespace {

namespace fs = std::filesystem;

// Inputs v0..vN, outputs of step `s` (o0..oN) and the answers of decision
// steps d0..dN (their `choice`) hold the values.
class Values : public EvalContext {
 public:
  std::map<std::string, std::string> inputs, outputs, answers;
  std::optional<Value> Input(const std::string& name) const override {
    auto it = inputs.find(name);
    if (it == inputs.end()) return std::nullopt;
    return Value::String(it->second);
  }
  std::optional<std::string> Env(const std::string&) const override { return std::nullopt; }
  std::string RunField(const std::string&) const override { return ""; }
  std::optional<StepFacts> Step(const std::string& id) const override {
    StepFacts f;
    f.status = StepStatus::kSucceeded;
    if (id == "s") {
      f.outputs = outputs;
      return f;
    }
    auto answer = answers.find(id);
    if (answer == answers.end()) return std::nullopt;
    f.outputs = {{"choice", answer->second}};  // what a person answered
    return f;
  }
};

// A place in shell text, with what the command must write to its file for
// a value (X stands for the template).
struct Place {
  const char* name;
  const char* script;  // X: the template; F: the file it writes
  std::string (*expect)(const std::string& value);
};

std::string Same(const std::string& v) { return v; }
std::string WithNewline(const std::string& v) { return v + "\n"; }
std::string Substituted(const std::string& v) {  // $( ) and ` ` drop trailing newlines
  std::string out = v;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}
std::string Match(const std::string&) { return "match"; }
std::string Ok(const std::string&) { return "ok"; }
std::string Framed(const std::string& v) { return "pre-" + v + "-post"; }

// Each place writes what it received to fd 3, ended by a NUL byte (which no
// value holds). Builtins only, but for the substitutions, which fork.
const Place kPlaces[] = {
    {"word", "printf '%s\\0' X >&3", Same},
    {"double quotes", "printf '%s\\0' \"X\" >&3", Same},
    {"inside a double-quoted word", "printf '%s\\0' \"pre-X-post\" >&3", Framed},
    {"here-document", "IFS= read -r -d '' v <<EOF\nX\nEOF\nprintf '%s\\0' \"$v\" >&3", WithNewline},
    {"here-document <<-", "IFS= read -r -d '' v <<-EOF\n\tX\n\tEOF\nprintf '%s\\0' \"$v\" >&3", WithNewline},
    {"comment", "# X\nprintf 'ok\\0' >&3", Ok},
    {"comment after a command", "printf 'ok\\0' >&3 # X", Ok},
    {"backquotes", "v=`printf '%s' X`; printf '%s\\0' \"$v\" >&3", Substituted},
    {"backquotes in double quotes", "printf '%s\\0' \"`printf '%s' X`\" >&3", Substituted},
    {"command substitution", "v=$(printf '%s' X); printf '%s\\0' \"$v\" >&3", Substituted},
    {"${V:-...} in double quotes", "printf '%s\\0' \"${RUNBOOK_UNSET_:-X}\" >&3", Same},
    {"${V:-...}", "printf '%s\\0' ${RUNBOOK_UNSET_:-X} >&3", Same},
    {"case pattern", "case X in X) printf 'match\\0' >&3 ;; *) printf 'nomatch\\0' >&3 ;; esac", Match},
    {"here-string", "IFS= read -r -d '' v <<< X; printf '%s\\0' \"$v\" >&3", WithNewline},
    {"assignment", "v=X; printf '%s\\0' \"$v\" >&3", Same},
    {"array element", "a=(X b); printf '%s\\0' \"${a[0]}\" >&3", Same},
    {"[[ == ]]", "[[ X == X ]] && printf 'match\\0' >&3", Match},
    {"function argument", "f() { printf '%s\\0' \"$1\" >&3; }; f X", Same},
};

// Hostile pieces, joined at random into values.
std::string HostileValue(std::mt19937& rng, const std::string& canary) {
  const std::vector<std::string> pieces = {
      "'", "\"", "$(", ")", "`", "\n", "EOF", "\nEOF\n", "\tEOF", "a[$(touch " + canary + ")]",
      "$(touch " + canary + ")", "`touch " + canary + "`", "\ntouch " + canary + "\n", "; touch " + canary,
      "*", "?", "[", "]", "\\", "\\n", "$HOME", "${PATH}", "$RUNBOOK_V_1", ";", "&&", "|", "#", "~", " ", "\t",
      "\xff\xfe", "\xc3", "\x01", "!", "!!", "{", "}", "-n", "--", "=", "<<", ">", "%s", "$'\\x41'", "$((1+1))",
      "${IFS}", "\r", "é", "x"};
  std::uniform_int_distribution<size_t> count(1, 12), pick(0, pieces.size() - 1);
  std::string v;
  for (size_t n = count(rng); n > 0; --n) v += pieces[pick(rng)];
  return v;
}

class ShellPropertyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "runbook-shell-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    canary_ = (dir_ / "CANARY").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `script` in bash with `env` added; returns the exit status.
  int Bash(const std::string& script, const std::vector<std::pair<std::string, std::string>>& env) {
    std::ofstream(dir_ / "script.sh") << script;
    std::vector<std::string> vars = {"PATH=/usr/bin:/bin"};
    for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    std::string path = (dir_ / "script.sh").string();
    char bash[] = "bash";
    std::vector<char*> argv = {bash, path.data(), nullptr};
    pid_t pid;
    if (posix_spawnp(&pid, "bash", nullptr, nullptr, argv.data(), envp.data()) != 0) return -1;
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
  }

  // One bash run for a batch of values: every place, for each value, once
  // through an input, once through a step output, once as an answer.
  void Check(const std::vector<std::string>& values) {
    Values facts;
    std::string raw = "exec 3> " + (dir_ / "received").string() + "\n";
    std::vector<std::pair<std::string, std::string>> expected;  // what, content
    for (size_t i = 0; i < values.size(); ++i) {
      std::string in = "v" + std::to_string(i), out = "o" + std::to_string(i);
      facts.inputs[in] = values[i];
      facts.outputs[out] = values[i];
      facts.answers["d" + std::to_string(i)] = values[i];
      for (const Place& place : kPlaces) {
        for (const std::string& ref : {"{{ inputs." + in + " }}", "{{ steps.s.outputs." + out + " }}",
                                       "{{ steps.d" + std::to_string(i) + ".outputs.choice }}"}) {
          std::string snippet = place.script;
          for (size_t at; (at = snippet.find('X')) != std::string::npos;) snippet.replace(at, 1, ref);
          raw += snippet + "\n";
          expected.push_back({std::string(place.name) + " via " + ref, place.expect(values[i])});
        }
      }
    }
    Diagnostics diags;
    Template t = ParseTemplate(raw, Pos{1, 1}, [](size_t) { return Pos{1, 1}; }, true, &diags);
    ASSERT_EQ(diags.ErrorCount(), 0);
    for (const auto& part : t.parts) {
      if (part.is_expr) {
        ASSERT_NE(part.context, ShellContext::kSingleQuoted);
        ASSERT_NE(part.context, ShellContext::kArithmetic) << "a place of this test is not arithmetic";
      }
    }
    RenderResult r = RenderCommand(t, facts, {});
    ASSERT_TRUE(r.ok()) << *r.error;
    // No value is in the shell text, whatever it holds.
    for (const auto& v : values) {
      if (v.size() > 16) {
        ASSERT_EQ(r.text.find(v), std::string::npos) << "value in the script: " << v;
      }
    }
    int status = Bash(r.text, r.values);
    EXPECT_TRUE(WIFEXITED(status)) << status;
    ASSERT_FALSE(fs::exists(canary_)) << "a value ran as code; values: " << ::testing::PrintToString(values);
    std::ifstream f(dir_ / "received", std::ios::binary);
    std::stringstream all;
    all << f.rdbuf();
    std::string received = all.str();
    size_t at = 0;
    for (const auto& [what, content] : expected) {
      size_t end = received.find('\0', at);
      ASSERT_NE(end, std::string::npos) << "nothing received from " << what;
      ASSERT_EQ(received.substr(at, end - at), content) << what;
      at = end + 1;
    }
    EXPECT_EQ(at, received.size());
  }

  fs::path dir_;
  std::string canary_;
};

TEST_F(ShellPropertyTest, TenThousandHostileValuesAreReceivedExactlyAndNeverRun) {
  std::mt19937 rng(20261201);  // fixed: a failure can be replayed
  const int kValues = 10'000, kBatch = 16;  // 16 x 18 places x 3 refs: within 1,000 templates
  for (int done = 0; done < kValues; done += kBatch) {
    std::vector<std::string> batch;
    for (int i = 0; i < kBatch; ++i) batch.push_back(HostileValue(rng, canary_));
    ASSERT_NO_FATAL_FAILURE(Check(batch)) << "batch from value " << done;
  }
}

TEST_F(ShellPropertyTest, AHundredKilobyteValueArrivesWhole) {
  std::mt19937 rng(7);
  std::string big;
  while (big.size() < 100 * 1024) big += HostileValue(rng, canary_);
  Check({big});
}

// The mutation this property catches: putting values into the shell text,
// even escaped for their place as before, lets some of them run.
TEST_F(ShellPropertyTest, AValueInsideAHeredocCannotEndIt) {
  Check({"x\nEOF\ntouch " + canary_ + "\ncat <<EOF", "EOF", "\tEOF\n"});
}

TEST_F(ShellPropertyTest, ArithmeticTakesOnlyIntegers) {
  Values facts;
  facts.inputs["n"] = "a[$(touch " + canary_ + ")]";
  Diagnostics diags;
  Template t = ParseTemplate("echo $(( {{ inputs.n }} + 1 ))", Pos{1, 1}, [](size_t) { return Pos{1, 1}; }, true,
                             &diags);
  ASSERT_EQ(t.parts[1].context, ShellContext::kArithmetic);
  RenderResult r = RenderCommand(t, facts, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error->find("is not an integer"), std::string::npos) << *r.error;
  facts.inputs["n"] = "41";
  r = RenderCommand(t, facts, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.text, "echo $(( ${RUNBOOK_V_1} + 1 ))");
  EXPECT_EQ(r.shown, "echo $(( 41 + 1 ))");
}

TEST_F(ShellPropertyTest, ANulByteIsAnErrorNotATruncatedValue) {
  Values facts;
  facts.inputs["v"] = std::string("a\0b", 3);
  Diagnostics diags;
  Template t = ParseTemplate("echo {{ inputs.v }}", Pos{1, 1}, [](size_t) { return Pos{1, 1}; }, true, &diags);
  RenderResult r = RenderCommand(t, facts, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error->find("NUL"), std::string::npos);
}

}  // namespace
}  // namespace runbook
