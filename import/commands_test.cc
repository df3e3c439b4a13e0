#include "import/commands.h"

#include <gtest/gtest.h>

namespace runbook::import {
namespace {

Block Code(const std::string& lang, const std::string& code) {
  Block b;
  b.kind = Block::Kind::kCode;
  b.lang = lang;
  b.info = lang;
  b.code = code;
  return b;
}

TEST(ReadCodeTest, PromptsAreStrippedAndOnlyPromptedLinesRun) {
  CodeReading r = ReadCode(Code("console", "$ kubectl get nodes\nNAME STATUS\nnode-1 Ready\n"
                                           "user@bastion:~$ kubectl drain node-1 \\\n  --force\n"
                                           "root@web-3:~# df -h\n# systemctl restart kubelet\n"));
  ASSERT_TRUE(r.command);
  EXPECT_EQ(r.script, "kubectl get nodes\nkubectl drain node-1 \\\n  --force\ndf -h\nsystemctl restart kubelet\n");
  EXPECT_EQ(r.output, "NAME STATUS\nnode-1 Ready");
}

TEST(ReadCodeTest, InABashBlockAHashIsAComment) {
  CodeReading r = ReadCode(Code("bash", "$ ls\n# a comment\n"));
  ASSERT_TRUE(r.command);
  EXPECT_EQ(r.script, "ls\n");
  EXPECT_EQ(r.output, "# a comment");
}

TEST(ReadCodeTest, OutputLogsAndConfigAreNotCommands) {
  for (const auto& [lang, code] : std::vector<std::pair<std::string, std::string>>{
           {"", "I0412 10:31:02.123456   1 drain_controller.go:173] node ip-10-0-3-7: initiating drain\n"},
           {"", "notBefore=Jan  1 00:00:00 2026 GMT\nnotAfter=Apr  1 00:00:00 2026 GMT\n"},
           {"", "replica-read-only yes\nreplicaof 10.0.0.5 6379\n"},
           {"", "server:\n  port: 8080\n"},
           {"console", "NAME STATUS\nnode-1 Ready\n"},
           {"bash", "~/logs/\n\u251c\u2500\u2500 backend.log\n\u2514\u2500\u2500 frontend.log\n"},
           {"ruby", "Parcelnet.configure { |c| c.token = ENV['TOKEN'] }\n"},
           {"yaml", "apiVersion: v1\n"},
           {"json", "{\"a\": 1}\n"}}) {
    CodeReading r = ReadCode(Code(lang, code));
    EXPECT_FALSE(r.command) << lang << ": " << code;
    EXPECT_FALSE(r.lead.empty());
  }
}

TEST(ReadCodeTest, OtherToolsConsolesAreForAPersonWithTheirTool) {
  EXPECT_EQ(ReadCode(Code("", "postgres=# SELECT 1;\n ?column?\n")).lead, "Run in psql:");
  EXPECT_EQ(ReadCode(Code("psql", "SELECT 1;\n")).lead, "Run in psql:");
  EXPECT_EQ(ReadCode(Code("console", "$ mysql -u root\nmysql> SHOW SLAVE STATUS\\G\n")).lead, "Run in mysql:");
  EXPECT_EQ(ReadCode(Code("console", "$ redis-cli\n127.0.0.1:6379> ROLE\n")).lead, "Run in redis-cli:");
  EXPECT_EQ(ReadCode(Code("sql", "SELECT 1;\n")).lead, "Run in the database's SQL client:");
}

TEST(ReadCodeTest, AnInteractiveSessionIsForAPerson) {
  for (const char* code : {"ssh db-1.internal\nsudo -iu postgres\npsql\n", "sudo -i\nrm -rf /tmp/x\n",
                           "kubectl exec -it pod-1 -- bash\nls\n", "ssh -p 2222 bastion\n"}) {
    CodeReading r = ReadCode(Code("bash", code));
    EXPECT_FALSE(r.command) << code;
    EXPECT_NE(r.lead.find("interactive"), std::string::npos);
  }
  for (const char* code : {"tail -f /var/log/syslog\n", "kubectl logs -f deploy/web\n", "journalctl -u app -f\n",
                           "read -rs TOKEN\n", "watch kubectl get pods\n"})
    EXPECT_FALSE(ReadCode(Code("bash", code)).command) << code;  // waits for a person, or never ends
  EXPECT_TRUE(ReadCode(Code("bash", "ssh db-1 'systemctl status postgresql'\n")).command);
  EXPECT_TRUE(ReadCode(Code("bash", "kubectl exec pod-1 -- ls /data\n")).command);
}

TEST(ReadCodeTest, UntaggedCommandsRun) {
  for (const char* code : {"kubectl get pods\n", "# restart\nsudo systemctl restart nginx\n", "./scripts/deploy.sh\n",
                           "X=1\n", "FOO=bar make deploy\n", "if true; then echo; fi\n"}) {
    CodeReading r = ReadCode(Code("", code));
    EXPECT_TRUE(r.command) << code;
    EXPECT_EQ(r.script, code);
  }
}

TEST(ReadOnlyTest, LooksAreReadOnlyChangesAreNot) {
  EXPECT_TRUE(ReadOnly("helm history web\nkubectl get pods -A\ncurl -fsS http://x/health\nNODE=a\n"));
  EXPECT_TRUE(ReadOnly("aws ec2 describe-instances \\\n  --filters x\n"));
  EXPECT_FALSE(ReadOnly("kubectl get pods\nkubectl delete pod web-0\n"));
  EXPECT_FALSE(ReadOnly("curl -X POST http://x/deploy\n"));
  EXPECT_FALSE(ReadOnly("systemctl restart app\n"));
}

TEST(TemplatedTest, PlaceholdersBecomeInputsInTheFormTheirPlaceAllows) {
  std::map<std::string, Placeholder> found;
  auto t = Templated("psql -h [rds-hostname] -d <DB_NAME> -c 'select <DB_NAME>'\n"
                     "wal-g backup-fetch /data {backup_id}\n# replace <NOT_THIS>\n"
                     "grep '[a-z]' f && echo ${HOME} [ -f x ] arr[i] {a,b}\n",
                     &found);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "psql -h {{ inputs.rds_hostname }} -d {{ inputs.db_name }} -c 'select '{{ inputs.db_name }}''\n"
                "wal-g backup-fetch /data {{ inputs.backup_id }}\n# replace <NOT_THIS>\n"
                "grep '[a-z]' f && echo ${HOME} [ -f x ] arr[i] {a,b}\n");
  EXPECT_EQ(found.size(), 3u);
  EXPECT_EQ(found.at("rds_hostname").shown, "[rds-hostname]");
}

TEST(TemplatedTest, DoubleBracesAreEscapedOrRefused) {
  std::map<std::string, Placeholder> found;
  EXPECT_EQ(*Templated("docker ps --format '{{.Names}}'\n", &found), "docker ps --format ''{{ '{{' }}'.Names}}'\n");
  EXPECT_EQ(*Templated("docker ps --format \"{{.Names}}\"\n", &found), "docker ps --format \"{{ '{{' }}.Names}}\"\n");
  EXPECT_FALSE(Templated("cat <<'EOF'\n{{ x }}\nEOF\n", &found));
}

TEST(VariablesTest, ReadButNeverSet) {
  EXPECT_EQ(VariablesRead("kubectl exec $CONTROLLERPOD -- ls \"${NS}\" '$NOT' ${DEF:-x} $HOME $x # $COMMENT\n"),
            (std::set<std::string>{"CONTROLLERPOD", "NS"}));
  EXPECT_EQ(VariablesSet("export AA=1\nBB=2 cmd\nread -r CC DD\nfor EE in 1 2; do :; done\n: ${FF:=x}\n"),
            (std::set<std::string>{"AA", "BB", "CC", "DD", "EE", "FF"}));
}

}  // namespace
}  // namespace runbook::import
