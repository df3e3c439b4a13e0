// Hostile values through the real binary: an input from a file, a step's
// output, and a person's answer reach later commands in a real bash, in
// heredocs, comments, backquotes and quotes; each command receives exactly
// the value and the canary hidden in the values never runs. (The property
// over 10,000 generated values is engine/shell_property_test.cc.)
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

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

namespace runbook::testing {
namespace {

// Secrets stay secret: every place a person or a file could read is searched
// for each secret (and each line of a multi-line one).
class SecretTest : public ::testing::Test {
 protected:
  // Everything this run left to read: the state file with its WAL, logs,
  // report, post-mortem, JSON views, and what `run` printed.
  std::string Everything(const std::string& printed) {
    std::string all = printed;
    for (const char* f : {".runbook/state.db", ".runbook/state.db-wal"})
      if (std::filesystem::exists(dir_.path() / f)) all += ReadAll(dir_.path() / f);
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path() / ".runbook"))
      if (e.path().extension() == ".md") all += ReadAll(e.path());
    auto runs = RunCli({"runs", "--json"}, dir_.path());
    all += runs.out;
    std::vector<std::string> ids;
    for (const auto& run : nlohmann::json::parse(runs.out.empty() ? "[]" : runs.out)) {
      ids.push_back(run["id"]);
      ids.push_back(run["id"].get<std::string>() + ".to-child");  // child runs are not listed by `runs`
    }
    for (const auto& id : ids) {
      for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
               {"logs", id}, {"report", id}, {"postmortem", id}, {"show", id, "--json"}, {"show", id}}) {
        auto r = RunCli(args, dir_.path());
        all += r.out + r.err;
      }
    }
    return all;
  }
  void ExpectNowhere(const std::string& all, const std::string& secret) {
    EXPECT_EQ(all.find(secret), std::string::npos) << "'" << secret << "' is readable";
  }
  TempDir dir_;
};

TEST_F(SecretTest, ASecretsVariableAMultiLineSecretAndAChildsInputAreNeverInClear) {
  const std::string from_env = "env-secret-4f9a1c", pem_top = "MIIEvQIBADANBgkqhkiG9w0BAQEF",
                    pem_bottom = "AASCBKcwggSjAgEAAoIBAQC7VJTU";
  dir_.Write("inputs.yaml", "pem: \"-----BEGIN PRIVATE KEY-----\\n" + pem_top + "\\n" + pem_bottom +
                                "\\n-----END PRIVATE KEY-----\"\n");
  dir_.Write("child.yaml", R"Y(name: child
inputs: { key: { required: true } }
steps:
  - { id: use-key, run: 'printf "%s\n" "{{ inputs.key }}" > child-got.txt; echo "child sees {{ inputs.key }}"' }
)Y");
  dir_.Write("rb.yaml", R"Y(name: rb
inputs:
  token: { secret: true, from_env: API_TOKEN }
  pem: { secret: true }
steps:
  - id: by-env
    run: |
      printf '%s' "{{ env.API_TOKEN }}" > env-got.txt
      echo "token is {{ env.API_TOKEN }}"
  - id: pem
    run: |
      printf '%s\n' "{{ inputs.pem }}" > pem-got.txt
      printf '%s\n' "{{ inputs.pem }}"
    rollback: echo "undo with {{ env.API_TOKEN }}"
  - id: to-child
    needs: [pem]
    runbook: child
    inputs: { key: "{{ env.API_TOKEN }}" }
)Y");
  std::map<std::string, std::string> env = {{"API_TOKEN", from_env}};
  auto dry = RunCli({"run", "rb.yaml", "--inputs-file", "inputs.yaml", "--dry-run"}, dir_.path(), env);
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  auto text = RunCli({"run", "rb.yaml", "--inputs-file", "inputs.yaml"}, dir_.path(), env);
  ASSERT_EQ(text.exit_code, 0) << text.out << text.err;
  auto json = RunCli({"run", "rb.yaml", "--inputs-file", "inputs.yaml", "--output", "json", "--new"}, dir_.path(), env);
  ASSERT_EQ(json.exit_code, 0) << json.out << json.err;
  // The commands got the values...
  EXPECT_EQ(ReadAll(dir_.path() / "env-got.txt"), from_env);
  EXPECT_EQ(ReadAll(dir_.path() / "child-got.txt"), from_env + "\n");
  EXPECT_NE(ReadAll(dir_.path() / "pem-got.txt").find(pem_top + "\n" + pem_bottom), std::string::npos);
  // ...and nothing a person or a file can read shows them.
  std::string all = Everything(dry.out + dry.err + text.out + text.err + json.out + json.err);
  for (const auto& secret : {from_env, pem_top, pem_bottom}) ExpectNowhere(all, secret);
  EXPECT_NE(text.out.find("token is ***"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("child sees ***"), std::string::npos) << text.out;
  // The child run holds its input as a secret, not in clear.
  auto runs = nlohmann::json::parse(RunCli({"runs", "--json"}, dir_.path()).out);
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& r : runs) {
    auto child = RunCli({"show", r["id"].get<std::string>() + ".to-child", "--json"}, dir_.path());
    ASSERT_EQ(child.exit_code, 0) << child.err;
    EXPECT_EQ(nlohmann::json::parse(child.out)["inputs"]["key"], "***") << child.out;
  }
}

TEST_F(SecretTest, ASecretWhereItWouldBeShownIsAValidationError) {
  dir_.Write("rb.yaml", R"Y(name: rb
inputs: { token: { secret: true, from_env: API_TOKEN } }
steps:
  - id: ask
    decision:
      prompt: "Rotate {{ inputs.token }}?"
      choices: [{ value: yes, goto: [b] }]
  - { id: b, name: "use {{ env.API_TOKEN }}", run: "true" }
  - { id: c, manual: "Paste {{ env.API_TOKEN }} into the vault" }
)Y");
  auto r = RunCli({"validate", "rb.yaml"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("rb.yaml:6:26: error: secret input 'token' cannot appear in a decision's prompt"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("error: $API_TOKEN, the variable of secret input 'token', cannot appear in a step's name"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("error: $API_TOKEN, the variable of secret input 'token', cannot appear in manual text"),
            std::string::npos) << r.err;
}

TEST_F(SecretTest, AnUnacceptableSecretIsNotEchoedBack) {
  dir_.Write("rb.yaml", "name: rb\ninputs: { token: { secret: true, pattern: '^[a-z]+$' } }\n"
                        "steps: [{ id: a, run: 'true' }]\n");
  auto r = RunCli({"run", "rb.yaml", "--input", "token=NOT-ok-9c1e"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ((r.out + r.err).find("NOT-ok-9c1e"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the secret value is not acceptable"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace runbook::testing

namespace runbook::testing {
namespace {

namespace fs = std::filesystem;

// Files are created safely: no planted link is followed, nothing is made
// readable to others whatever the umask, a foreign or linked state folder
// is refused.
class FileSafetyTest : public ::testing::Test {
 protected:
  CliResult Shell(const std::string& script) {
    dir_.Write("go.sh", script);
    CliResult r;
    std::string cmd = "cd " + ShellQuote(dir_.path().string()) + " && bash go.sh > out.txt 2> err.txt";
    int status = std::system(cmd.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadAll(dir_.path() / "out.txt");
    r.err = ReadAll(dir_.path() / "err.txt");
    return r;
  }
  mode_t Mode(const fs::path& p) {
    struct stat st {};
    ::lstat(p.c_str(), &st);
    return st.st_mode & 0777;
  }
  const std::string bin_ = RUNBOOK_BINARY;
  TempDir dir_;
};

TEST_F(FileSafetyTest, AtUmaskZeroTheRecordAndReportsAreStillPrivate) {
  dir_.Write("rb.yaml", "name: rb\nsteps: [{ id: a, run: 'echo secret-ish output' }]\n");
  auto r = Shell("umask 000\n" + bin_ + " run rb.yaml\n" + bin_ + " report last -o out/report.md\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Mode(dir_.path() / ".runbook"), 0700u);
  EXPECT_EQ(Mode(dir_.path() / ".runbook/state.db"), 0600u);
  EXPECT_EQ(Mode(dir_.path() / ".runbook/reports"), 0700u);
  for (const auto& e : fs::directory_iterator(dir_.path() / ".runbook/reports"))
    EXPECT_EQ(Mode(e.path()), 0600u) << e.path();
  EXPECT_EQ(Mode(dir_.path() / "out/report.md"), 0600u);
}

TEST_F(FileSafetyTest, APlantedLinkAtTheReportIsReplacedNotFollowed) {
  dir_.Write("rb.yaml", "name: rb\nsteps: [{ id: a, run: 'true' }]\n");
  ASSERT_EQ(RunCli({"run", "rb.yaml"}, dir_.path()).exit_code, 0);
  std::string id = nlohmann::json::parse(RunCli({"show", "last", "--json"}, dir_.path()).out)["id"];
  dir_.Write("victim.txt", "precious\n");
  fs::path report = dir_.path() / ".runbook/reports" / (id + ".md");
  fs::remove(report);
  fs::create_symlink(dir_.path() / "victim.txt", report);
  ASSERT_EQ(RunCli({"report", id, "-o", report.string()}, dir_.path()).exit_code, 0);
  EXPECT_EQ(ReadAll(dir_.path() / "victim.txt"), "precious\n");
  EXPECT_FALSE(fs::is_symlink(report));
  // -o onto a link: the link is replaced by the report, its target untouched.
  fs::create_symlink(dir_.path() / "victim.txt", dir_.path() / "out.md");
  ASSERT_EQ(RunCli({"postmortem", id, "-o", "out.md"}, dir_.path()).exit_code, 0);
  EXPECT_EQ(ReadAll(dir_.path() / "victim.txt"), "precious\n");
}

// Issue 22: --run-id took any text; '../../x' wrote the report outside
// .runbook/reports and '</script>...' ran on the run page.
TEST_F(FileSafetyTest, ARunIdIsCheckedLikeAStepIdBeforeAnythingRuns) {
  dir_.Write("rb.yaml", "name: rb\nsteps: [{ id: a, run: 'touch ran' }]\n");
  for (const std::string& id : std::vector<std::string>{"../../x", "</script><script>alert(1)</script>", "a/b", ".hidden", "x..y",
                         std::string(129, 'a'), std::string("a\nb")}) {
    auto r = RunCli({"run", "rb.yaml", "--run-id", id}, dir_.path());
    EXPECT_EQ(r.exit_code, 2) << id << ": " << r.err;
    EXPECT_NE(r.err.find("invalid run id"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir_.path() / "ran")) << id;
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "x.md"));
  EXPECT_FALSE(fs::exists(dir_.path() / ".runbook/x.md"));
  auto ok = RunCli({"run", "rb.yaml", "--run-id", "20261207-101010-ab12.child_1.2"}, dir_.path());
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST_F(FileSafetyTest, ALinkedStateFolderDatabaseOrReportsFolderIsRefused) {
  dir_.Write("rb.yaml", "name: rb\nsteps: [{ id: a, run: 'touch ran' }]\n");
  fs::create_directories(dir_.path() / "elsewhere");
  fs::create_directory_symlink(dir_.path() / "elsewhere", dir_.path() / ".runbook");
  auto r = RunCli({"run", "rb.yaml"}, dir_.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the state folder " + (dir_.path() / ".runbook").string() + " is a symbolic link"),
            std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_.path() / "ran"));
  fs::remove(dir_.path() / ".runbook");

  fs::create_directories(dir_.path() / ".runbook");
  ::chmod((dir_.path() / ".runbook").c_str(), 0700);
  fs::create_symlink(dir_.path() / "elsewhere" / "db", dir_.path() / ".runbook/state.db");
  r = RunCli({"run", "rb.yaml"}, dir_.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the state database"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is a symbolic link"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_.path() / "elsewhere" / "db"));
  fs::remove(dir_.path() / ".runbook/state.db");

  fs::create_directory_symlink(dir_.path() / "elsewhere", dir_.path() / ".runbook/reports");
  r = RunCli({"run", "rb.yaml"}, dir_.path());
  EXPECT_NE(r.err.find("the reports folder"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is a symbolic link"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(dir_.path() / "elsewhere"));
}

TEST_F(FileSafetyTest, AStateFolderOfAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a folder to another user";
  dir_.Write("rb.yaml", "name: rb\nsteps: [{ id: a, run: 'touch ran' }]\n");
  ASSERT_EQ(RunCli({"run", "rb.yaml"}, dir_.path()).exit_code, 0);
  fs::remove(dir_.path() / "ran");
  ASSERT_EQ(::chown((dir_.path() / ".runbook").c_str(), 65534, 65534), 0);
  auto r = RunCli({"run", "rb.yaml"}, dir_.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("belongs to another user (uid 65534)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_.path() / "ran"));
  r = RunCli({"runs"}, dir_.path());
  EXPECT_NE(r.err.find("belongs to another user"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace runbook::testing

namespace runbook::testing {
namespace {

TEST(ImportBoundsTest, DeeplyNestedListsAndQuotesAreRefusedAtTheirLine) {
  TempDir dir;
  std::string nested = "# Deep\n\n";
  for (int i = 0; i < 40; ++i) nested += std::string(2 * i, ' ') + "- item\n";
  dir.Write("deep.md", nested);
  auto r = RunCli({"import", "deep.md"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "deep.md:35:65: lists and quotes nested more than 32 levels deep: nothing was imported\n");
  std::string markers = "# Q\n\n";
  for (int i = 0; i < 5000; ++i) markers += "> - ";
  dir.Write("markers.md", markers + "x\n");
  r = RunCli({"import", "markers.md"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("markers.md:3:1: lists and quotes nested more than 32 levels"), std::string::npos) << r.err;
  // Nesting inside fenced code is text.
  dir.Write("code.md", "# Code\n\n```sh\n" + std::string(300, ' ') + "echo deep\n```\n");
  EXPECT_EQ(RunCli({"import", "code.md"}, dir.path()).exit_code, 0);
}

}  // namespace
}  // namespace runbook::testing
