#include "import/commands.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <vector>

#include "engine/template.h"

namespace runbook::import {
namespace {

bool In(const std::string& w, std::initializer_list<const char*> set) {
  for (const char* s : set)
    if (w == s) return true;
  return false;
}

bool IsIdent(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsUpperIdent(const std::string& w) {
  if (w.size() < 2 || !std::isupper(static_cast<unsigned char>(w[0]))) return false;
  for (char c : w)
    if (!std::isupper(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

// Removes the indentation every line shares (spaces; a tab counts as one).
std::string Dedent(const std::string& code) {
  std::vector<std::string> lines;
  std::istringstream in(code);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  size_t common = std::string::npos;
  for (const auto& l : lines)
    if (l.find_first_not_of(" \t") != std::string::npos) common = std::min(common, l.find_first_not_of(' '));
  if (common == 0 || common == std::string::npos) return code;
  std::string out;
  for (const auto& l : lines) out += (l.size() >= common ? l.substr(common) : "") + "\n";
  return out;
}

bool ShellLang(const std::string& lang) {
  return In(lang, {"bash", "sh", "shell", "zsh", "ksh", "console", "shell-session", "shellsession", "sh-session",
                   "bash-session", "terminal", "shell-script", "shellscript", "cli", "cmd-line", "command"});
}
bool ConsoleLang(const std::string& lang) {
  return In(lang, {"console", "shell-session", "shellsession", "sh-session", "bash-session", "terminal"});
}

// A shell prompt at the start of `l`: "$ ", "user@host:~$ ", "[user@host dir]$ ",
// and in a console transcript "# " and "% ". Its length, or 0.
size_t PromptLength(std::string_view l, bool console) {
  if (size_t n = ShellPromptLength(l, console)) return n;
  if (console && (l.rfind("% ", 0) == 0 || l.rfind("> ", 0) == 0)) return 2;
  if (!l.empty() && l[0] == '[') {  // [user@host dir]$
    size_t close = l.find(']');
    if (close != std::string_view::npos && close + 2 < l.size() + 1 && l.substr(0, close).find('@') != std::string_view::npos &&
        close + 1 < l.size() && (l[close + 1] == '$' || l[close + 1] == '#') && close + 2 < l.size() && l[close + 2] == ' ')
      return close + 3;
  }
  return 0;
}

// Another tool's prompt at the start of a line: the tool, or "".
std::string ToolPrompt(const std::string& l) {
  auto word_then = [&](size_t from, const char* tail) {
    size_t i = from;
    while (i < l.size() && (IsIdent(l[i]) || l[i] == '-' || l[i] == '.')) ++i;
    return i > from && l.compare(i, std::char_traits<char>::length(tail), tail) == 0;
  };
  if (word_then(0, "=# ") || word_then(0, "=> ") || word_then(0, "-# ") || l == "postgres=#") return "psql";
  if (l.rfind("mysql> ", 0) == 0 || l.rfind("MariaDB [", 0) == 0 || l.rfind("    -> ", 0) == 0) return "mysql";
  if (l.rfind("redis> ", 0) == 0 || l.rfind("redis-cli> ", 0) == 0) return "redis-cli";
  {
    size_t colon = l.find(':');  // 127.0.0.1:6379> , redis-1:6379[2]>
    size_t gt = l.find("> ");
    if (colon != std::string::npos && gt != std::string::npos && colon < gt && colon > 0 &&
        std::isdigit(static_cast<unsigned char>(l[colon + 1])) && l.substr(0, colon).find(' ') == std::string::npos)
      return "redis-cli";
  }
  if (l.rfind(">>> ", 0) == 0) return "python";
  if (l.rfind("irb(", 0) == 0) return "irb";
  if (l.rfind("sqlite> ", 0) == 0) return "sqlite3";
  if (l.rfind("cqlsh", 0) == 0 && l.find("> ") != std::string::npos) return "cqlsh";
  if (l.rfind("mongo> ", 0) == 0 || l.rfind("rs0:PRIMARY> ", 0) == 0) return "the mongo shell";
  if (l.rfind("kafka> ", 0) == 0) return "the Kafka shell";
  return "";
}

std::string LeadFor(const std::string& lang, const std::string& info) {
  if (In(lang, {"psql", "pgsql", "postgres", "postgresql", "plpgsql"})) return "Run in psql:";
  if (In(lang, {"mysql", "mariadb"})) return "Run in mysql:";
  if (In(lang, {"sql", "plsql", "tsql"})) return "Run in the database's SQL client:";
  if (In(lang, {"redis"})) return "Run in redis-cli:";
  if (In(lang, {"promql"})) return "Query in Prometheus:";
  if (In(lang, {"logql"})) return "Query in Loki:";
  if (In(lang, {"text", "txt", "log", "logs", "output", "plaintext", "plain", "none", "stdout", "nohighlight"}) ||
      ConsoleLang(lang))
    return "Output shown on the page:";
  if (In(lang, {"ruby", "rb", "python", "py", "python3", "go", "golang", "js", "javascript", "ts", "typescript", "java",
                "rust", "c", "cpp", "c++", "php", "perl", "lua", "groovy", "kotlin", "swift", "csharp", "cs",
                "powershell", "ps1", "pwsh", "fish", "bat", "cmd", "elixir", "erlang", "scala", "r"}))
    return "Code (" + info.substr(0, info.find(' ')) + ") shown on the page, not shell: it is not run:";
  if (lang.empty()) return "Shown on the page (not a command):";
  return "Shown on the page (" + info.substr(0, info.find(' ')) + "):";
}

// A line that opens an interactive session: `ssh host` with no command,
// `sudo -i`, `su -`, `kubectl exec -it ... -- bash`. What follows it on the
// page is typed into that session, which a run step cannot do.
bool Interactive(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  if (w.empty()) return false;
  if (w[0] == "ssh") {
    int args = 0;
    for (size_t i = 1; i < w.size(); ++i) {
      if (w[i][0] == '-') {
        if (w[i].size() == 2 && std::string("bcDEeFIiJLlmOopQRSWw").find(w[i][1]) != std::string::npos) ++i;
        continue;
      }
      ++args;
    }
    return args == 1;
  }
  if (w[0] == "sudo" && w.size() >= 2 &&
      (w[1] == "-i" || w[1] == "-s" || w[1] == "su" || w[1].rfind("-iu", 0) == 0 || w[1] == "bash" || w[1] == "-su"))
    return w[1] == "su" || w.size() <= 3;
  if (w[0] == "su") return true;
  // Commands that wait for a person or never end: a step would hang.
  if (In(w[0], {"top", "htop", "less", "more", "vi", "vim", "nano", "emacs", "watch", "read", "tmux", "screen"}))
    return true;
  for (size_t i = 0; i + 1 < w.size(); ++i)
    if ((w[i + 1] == "-f" || w[i + 1] == "-F" || w[i + 1] == "--follow" || w[i + 1].rfind("--follow=", 0) == 0) &&
        (w[0] == "tail" || w[0] == "journalctl" || w[0] == "stern" || w[i] == "logs" || w[i] == "tail"))
      return true;
  for (const auto& x : w)
    if ((x == "-f" || x == "--follow") && (w[0] == "tail" || w[0] == "journalctl" || (w.size() > 1 && w[1] == "logs")))
      return true;
  bool exec = false, tty = false;
  for (const auto& x : w) {
    if (x == "exec" || x == "run" || x == "attach") exec = true;
    if (x == "-it" || x == "-ti" || x == "--tty" || x == "-t") tty = true;
  }
  std::string last = w.back();
  return exec && tty && (last == "bash" || last == "sh" || last == "/bin/bash" || last == "/bin/sh" || last == "psql");
}

}  // namespace

bool StartsWithCommand(const std::string& script) {
  std::istringstream in(script);
  std::string line;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b != std::string::npos && line[b] != '#') break;
    line.clear();
  }
  std::istringstream words(line);
  std::vector<std::string> w;
  for (std::string x; words >> x;) w.push_back(x);
  size_t i = 0;
  bool assigned = false;
  while (i < w.size()) {
    const std::string& x = w[i];
    size_t eq = x.find('=');
    if (eq != std::string::npos && eq > 0 && std::all_of(x.begin(), x.begin() + static_cast<long>(eq), IsIdent) &&
        !std::isdigit(static_cast<unsigned char>(x[0]))) {
      assigned = true;
      ++i;
      continue;
    }
    if (In(x, {"sudo", "time", "nohup", "exec", "env", "!", "command", "nice", "timeout", "xargs", "watch"}) &&
        i + 1 < w.size()) {
      ++i;
      continue;
    }
    break;
  }
  if (i == w.size()) return assigned;  // an assignment alone
  std::string first = w[i];
  if (first.size() > 2 && first.compare(first.size() - 2, 2, "()") == 0) return true;  // a function
  if (i + 1 < w.size() && w[i + 1] == "()") return true;
  if (first[0] == '/' || first.rfind("./", 0) == 0 || first.rfind("../", 0) == 0 || first.rfind("~/", 0) == 0 ||
      first[0] == '$' || first[0] == '"' || first[0] == '(' || first[0] == '{')
    return true;
  static const std::set<std::string> kKnown = {
      // shell keywords and builtins
      "if", "for", "while", "until", "case", "select", "function", "[[", "[", ".", "source", "export", "local",
      "declare", "readonly", "set", "unset", "cd", "pushd", "popd", "echo", "printf", "read", "eval", "exit",
      "return", "trap", "wait", "kill", "test", "true", "false", "shift", "alias", "ulimit", "umask", "type",
      "hash", "builtin", "let", "mapfile", "getopts", "shopt", "jobs", "fg", "bg", "disown", "history",
      // files, text, processes, the system
      "ls", "cat", "cp", "mv", "rm", "mkdir", "rmdir", "touch", "ln", "chmod", "chown", "chgrp", "find", "grep",
      "egrep", "fgrep", "rg", "awk", "sed", "cut", "sort", "uniq", "wc", "head", "tail", "less", "more", "tee",
      "tr", "diff", "cmp", "comm", "join", "paste", "split", "xxd", "od", "file", "stat", "du", "df", "free",
      "uptime", "top", "htop", "ps", "pgrep", "pkill", "killall", "lsof", "fuser", "strace", "ltrace", "nproc",
      "uname", "hostname", "hostnamectl", "whoami", "id", "date", "sleep", "tar", "gzip", "gunzip", "zcat",
      "bzip2", "xz", "unxz", "zstd", "zip", "unzip", "sha256sum", "sha1sum", "md5sum", "base64", "openssl",
      "gpg", "ssh", "scp", "sftp", "rsync", "ssh-keygen", "ssh-add", "curl", "wget", "dig", "nslookup", "host",
      "ping", "traceroute", "tracepath", "mtr", "nc", "ncat", "telnet", "netstat", "ss", "ip", "ifconfig",
      "route", "iptables", "ip6tables", "nft", "ufw", "firewall-cmd", "tcpdump", "mount", "umount", "lsblk",
      "blkid", "fdisk", "parted", "mkfs", "mkfs.ext4", "mkfs.xfs", "resize2fs", "xfs_growfs", "growpart", "fsck",
      "e2fsck", "sync", "dd", "losetup", "mdadm", "lvs", "vgs", "pvs", "lvextend", "swapon", "swapoff",
      "systemctl", "journalctl", "service", "loginctl", "timedatectl", "shutdown", "reboot", "crontab", "at",
      "logrotate", "logger", "dmesg", "sysctl", "modprobe", "lsmod", "useradd", "usermod", "userdel", "passwd",
      "su", "visudo", "getent", "apt", "apt-get", "apt-cache", "dpkg", "yum", "dnf", "rpm", "apk", "snap",
      "brew", "pip", "pip3", "npm", "npx", "yarn", "pnpm", "node", "python", "python3", "ruby", "bundle", "gem",
      "rake", "rails", "go", "cargo", "make", "cmake", "java", "mvn", "gradle", "php", "composer", "perl", "jq",
      "yq", "envsubst", "column", "watch", "screen", "tmux", "git", "gh", "glab", "vim", "vi", "nano", "tree",
      "realpath", "dirname", "basename", "readlink", "mktemp", "seq", "yes", "expr", "bc", "printenv",
      // containers, clusters, clouds
      "docker", "docker-compose", "podman", "buildah", "skopeo", "crictl", "ctr", "nerdctl", "kubectl", "k",
      "helm", "kustomize", "kubeadm", "kubelet", "kind", "minikube", "k3s", "k9s", "kubectx", "kubens", "stern",
      "oc", "istioctl", "linkerd", "argocd", "flux", "velero", "eksctl", "aws", "gcloud", "gsutil", "bq", "az",
      "doctl", "terraform", "tofu", "terragrunt", "packer", "vagrant", "ansible", "ansible-playbook", "salt",
      "puppet", "chef-client", "knife", "nomad", "consul", "vault", "etcdctl", "heroku", "fly", "flyctl",
      "vercel", "netlify", "supabase", "wrangler", "s3cmd", "rclone", "restic", "borg", "mc", "certbot",
      "nginx", "apachectl", "apache2ctl", "haproxy", "caddy", "varnishadm", "pm2", "supervisorctl", "gunicorn",
      "uwsgi", "celery", "sidekiqctl",
      // databases and queues
      "psql", "pg_dump", "pg_dumpall", "pg_restore", "pg_basebackup", "pg_ctl", "pg_ctlcluster",
      "pg_lsclusters", "pg_isready", "pg_upgrade", "pgbackrest", "wal-g", "barman", "patronictl", "repmgr",
      "createdb", "dropdb", "mysql", "mysqldump", "mysqladmin", "mysqlcheck", "mysqlbinlog", "xtrabackup",
      "mariadb", "mariadb-dump", "mongo", "mongosh", "mongodump", "mongorestore", "redis-cli", "redis-server",
      "sqlite3", "cqlsh", "nodetool", "influx", "clickhouse-client", "rabbitmqctl", "rabbitmq-diagnostics",
      "kafka-topics", "kafka-consumer-groups", "kafka-configs", "kafka-console-consumer",
      "kafka-console-producer", "kafka-reassign-partitions", "kafka-topics.sh", "kafka-consumer-groups.sh",
      "kcat", "kafkacat", "nats", "elasticsearch", "opensearch", "promtool", "amtool", "logcli", "vector",
      "fluent-bit", "zkcli", "zookeeper-shell"};
  return kKnown.count(first) > 0;
}

bool ReadOnly(const std::string& script) {
  std::istringstream in(script);
  bool continued = false;
  for (std::string line; std::getline(in, line);) {
    std::string t = Trim(line);
    bool cont = !t.empty() && t.back() == '\\';
    if (continued || t.empty() || t[0] == '#') {
      continued = cont;
      continue;
    }
    continued = cont;
    std::istringstream words(t);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    size_t i = 0;
    while (i < w.size() && (w[i] == "sudo" || w[i].find('=') != std::string::npos)) ++i;
    if (i == w.size()) continue;  // an assignment
    const std::string& c = w[i];
    std::string sub;  // the subcommand, past flags ("helm -n web history": history)
    for (size_t k = i + 1; k < w.size(); ++k) {
      if (w[k][0] != '-') {
        sub = w[k];
        break;
      }
      if (w[k].find('=') == std::string::npos &&
          In(w[k], {"-n", "--namespace", "--context", "--kube-context", "-c", "--region", "--profile", "--cluster",
                    "-C", "--project", "-u", "-h", "-p", "--kubeconfig"}))
        ++k;
    }
    std::string rest;
    for (size_t k = i + 1; k < w.size(); ++k) rest += " " + w[k];
    auto has = [&](const char* x) { return rest.find(x) != std::string::npos; };
    if (In(c, {"echo", "printf", "cat", "ls", "grep", "egrep", "rg", "head", "wc", "df", "du", "free", "uptime",
               "ps", "stat", "file", "dig", "nslookup", "host", "ping", "traceroute", "mtr", "test", "[", "[[", "true",
               "which", "type", "command", "date", "whoami", "id", "hostname", "uname", "env", "printenv", "jq",
               "yq", "ss", "netstat", "lsof", "sleep", "cd", "pwd", "getent", "nproc", "lsblk", "blkid", "findmnt",
               "sha256sum", "md5sum", "pg_isready", "promtool", "amtool", "nc"}))
      continue;
    if (c == "tail" && !has(" -f")) continue;
    if (c == "curl" && !has("-X ") && !has("--request") && !has(" -d ") && !has("--data") && !has(" -F ") && !has("-T ")) continue;
    if (c == "openssl" && In(sub, {"x509", "s_client", "verify", "req", "version"}) && !has(" -new")) continue;
    if (c == "journalctl" && !has("vacuum") && !has("rotate")) continue;
    if (c == "systemctl" && In(sub, {"status", "is-active", "is-enabled", "is-failed", "list-units", "show", "cat"})) continue;
    if ((c == "kubectl" || c == "oc") &&
        (In(sub, {"get", "describe", "logs", "top", "version", "explain", "api-resources", "cluster-info", "auth", "wait"}) ||
         (sub == "config" && (has("current-context") || has("get-contexts") || has("view"))) ||
         (sub == "rollout" && (has("status") || has("history")))))
      continue;
    if (c == "helm" && In(sub, {"history", "status", "list", "ls", "get", "show", "version", "search", "diff", "template", "lint"})) continue;
    if (c == "git" && In(sub, {"log", "status", "diff", "show", "fetch", "rev-parse", "describe", "blame"})) continue;
    if ((c == "docker" || c == "podman") && In(sub, {"ps", "images", "inspect", "logs", "version", "info", "stats"})) continue;
    if (c == "docker" && sub == "system" && has(" df")) continue;
    if (c == "aws" && (has(" describe-") || has(" list-") || has(" get-") || has(" ls") || has("sts get-caller-identity")) &&
        !has(" put-") && !has(" create-") && !has(" delete-") && !has(" update-") && !has(" modify-"))
      continue;
    if ((c == "gcloud" || c == "az") && (has(" list") || has(" describe") || has(" show"))) continue;
    if (c == "vault" && (In(sub, {"status", "read", "list"}) || (sub == "kv" && (has(" get") || has(" list") || has(" metadata get"))) ||
                         (sub == "token" && has(" lookup"))))
      continue;
    if (c == "redis-cli" && (has(" info") || has(" ping") || has(" role") || has(" INFO") || has(" PING") || has(" ROLE"))) continue;
    if (c == "terraform" && In(sub, {"plan", "show", "output", "validate", "version", "state"}) && !has(" rm") && !has(" mv")) continue;
    return false;
  }
  return true;
}

CodeReading ReadCode(const Block& block) {
  CodeReading r;
  std::string code = Dedent(block.code);
  const std::string& lang = block.lang;
  bool shellish = lang.empty() || ShellLang(lang);
  // Another tool's console (psql, mysql, redis-cli): a person types those.
  if (shellish || In(lang, {"psql", "mysql", "sql", "redis", "text", "txt"})) {
    std::istringstream in(code);
    for (std::string l; std::getline(in, l);) {
      std::string tool = ToolPrompt(l);
      if (tool.empty()) continue;
      r.lead = "Run in " + tool + ":";
      return r;
    }
  }
  if (!shellish) {
    r.lead = LeadFor(lang, block.info);
    return r;
  }
  // A directory tree (├── backend.log) or a table of output is not a script.
  {
    std::istringstream lines(code);
    int tree = 0, all = 0;
    for (std::string l; std::getline(lines, l);) {
      std::string t = Trim(l);
      if (t.empty()) continue;
      ++all;
      for (const char* box : {"\u251c", "\u2514", "\u2502", "+--", "|--", "`--"})
        if (t.rfind(box, 0) == 0) {
          ++tree;
          break;
        }
    }
    if (tree > 0 && tree * 2 >= all) {
      r.lead = LeadFor("output", block.info);
      return r;
    }
  }
  bool console = ConsoleLang(lang);
  // A transcript: prompted lines (and their '\' continuations, and "> "
  // continuation prompts) are commands; the rest is their output.
  std::istringstream in(code);
  bool continued = false, prompted = false;
  std::string commands, output;
  for (std::string line; std::getline(in, line);) {
    std::string_view l(line);
    size_t prompt = continued ? 0 : PromptLength(l, console);
    if (continued && l.rfind("> ", 0) == 0) prompt = 2;
    if (!continued && prompt == 0) {
      output += line + "\n";
      continue;
    }
    if (!continued) prompted = true;
    std::string command(l.substr(prompt));
    commands += command + "\n";
    continued = !command.empty() && command.back() == '\\';
  }
  std::string script = prompted ? commands : code;
  {
    std::istringstream lines(script);
    for (std::string l; std::getline(lines, l);)
      if (Interactive(l)) {
        r.lead = "Do this by hand: `" + Trim(l) + "` is interactive (it opens a session, waits for typing or never ends), which a step cannot do:";
        return r;
      }
  }
  if (prompted) {
    r.command = true;
    r.script = commands;
    r.output = Trim(output);
    return r;
  }
  if (console) {  // a console block without a prompt is output
    r.lead = LeadFor("output", block.info);
    return r;
  }
  // A tagged shell block is a script; an untagged one only if it starts with a command.
  if (lang.empty() && !StartsWithCommand(code)) {
    r.lead = LeadFor("", block.info);
    return r;
  }
  r.command = true;
  r.script = code;
  return r;
}

std::string Slug(const std::string& text, char separator, size_t max) {
  std::string out;
  for (char c : text) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::isalnum(static_cast<unsigned char>(l)) && static_cast<unsigned char>(c) < 0x80)
      out += l;
    else if (!out.empty() && out.back() != separator)
      out += separator;
    if (out.size() >= max) break;
  }
  while (!out.empty() && out.back() == separator) out.pop_back();
  return out;
}

std::string InputName(const std::string& word) {
  std::string out = Slug(word, '_', 40);
  if (out.empty()) return "value";
  if (std::isdigit(static_cast<unsigned char>(out[0]))) out = "v_" + out;
  return out;
}

namespace {

bool HtmlTag(const std::string& w) {
  static const std::set<std::string> kTags = {"html", "head", "body", "div", "span", "title", "p", "a", "br", "hr",
                                              "h1", "h2", "h3", "script", "style", "pre", "code", "table", "tr",
                                              "td", "th", "ul", "li", "meta", "link", "img", "form", "input"};
  std::string l;
  for (char c : w) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return kTags.count(l) > 0;
}

// The placeholder starting at `i` (at '<', '[' or '{'): its length, or 0.
size_t PlaceholderAt(const std::string& s, size_t i, ShellContext ctx, std::string* word) {
  char open = s[i];
  char close = open == '<' ? '>' : open == '[' ? ']' : '}';
  char prev = i > 0 ? s[i - 1] : ' ';
  if (open == '<' && (prev == '<' || prev == '$')) return 0;
  if (open == '[' && (prev == '[' || prev == '\\' || IsIdent(prev) || prev == '$' || prev == '}' || prev == ']'))
    return 0;
  if (open == '{' && (prev == '$' || prev == '{' || ctx == ShellContext::kSingleQuoted)) return 0;
  size_t e = i + 1;
  if (e >= s.size() || !std::isalpha(static_cast<unsigned char>(s[e]))) return 0;
  while (e < s.size() && e - i <= 48 &&
         (IsIdent(s[e]) || s[e] == '-' || s[e] == '.' || (open == '<' && s[e] == ' ' && e + 1 < s.size() && s[e + 1] != '>')))
    ++e;
  if (e >= s.size() || s[e] != close || !IsIdent(s[e - 1])) return 0;
  if (e + 1 < s.size() && s[e + 1] == close) return 0;  // ]] }}
  std::string w = s.substr(i + 1, e - i - 1);
  if (open == '<' && HtmlTag(w)) return 0;
  if (open == '[') {
    if (w.size() < 2) return 0;
    // a character range ([a-z], [A-Za-z0-9]) is a pattern, not a placeholder
    bool range = w.size() % 3 == 0;
    for (size_t k = 0; range && k < w.size(); k += 3) range = w[k + 1] == '-';
    if (range) return 0;
    if (e + 1 < s.size() && IsIdent(s[e + 1])) return 0;
  }
  *word = w;
  return e + 1 - i;
}

}  // namespace

std::optional<std::string> Templated(const std::string& s, std::map<std::string, Placeholder>* found) {
  std::vector<ShellContext> ctx = ScanShellContexts(s);
  std::string out;
  bool comment = false;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    ShellContext here = ctx[i];
    if (c == '\n') comment = false;
    if (!comment && c == '#' && here == ShellContext::kWord && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1]))))
      comment = true;
    // The form a template takes here: out of single quotes by closing them.
    auto place = [&](const std::string& t) -> std::optional<std::string> {
      switch (here) {
        case ShellContext::kWord:
        case ShellContext::kDoubleQuoted:
        case ShellContext::kHeredoc: return t;
        case ShellContext::kSingleQuoted: return "'" + t + "'";
        default: return std::nullopt;
      }
    };
    if (s.compare(i, 2, "{{") == 0) {
      auto t = place("{{ '{{' }}");
      if (!t) return std::nullopt;
      out += *t;
      i += 2;
      continue;
    }
    std::string word;
    size_t len = 0;
    if (!comment && (c == '<' || c == '[' || c == '{')) len = PlaceholderAt(s, i, here, &word);
    if (len > 0) {
      std::string name = InputName(word);
      if (auto t = place("{{ inputs." + name + " }}")) {
        found->emplace(name, Placeholder{name, s.substr(i, len)});
        out += *t;
        i += len;
        continue;
      }
    }
    out += c;
    ++i;
  }
  return out;
}

namespace {

bool WellKnown(const std::string& v) {
  static const std::set<std::string> kKnown = {
      "HOME", "PATH", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "HOSTNAME", "HOST", "TERM", "LANG", "LC_ALL",
      "TMPDIR", "TMP", "TEMP", "EDITOR", "VISUAL", "PAGER", "UID", "EUID", "GID", "PPID", "RANDOM", "SECONDS",
      "LINENO", "BASH_SOURCE", "BASH_VERSION", "BASH_REMATCH", "BASHPID", "IFS", "PS1", "PS2", "PS4", "OPTARG",
      "OPTIND", "REPLY", "PIPESTATUS", "FUNCNAME", "DISPLAY", "SSH_AUTH_SOCK", "SSH_CONNECTION", "SUDO_USER",
      "KUBECONFIG", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "GOPATH", "JAVA_HOME",
      "VIRTUAL_ENV", "CI", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "EPOCHSECONDS", "EPOCHREALTIME", "HISTFILE",
      "MACHTYPE", "OSTYPE", "HOSTTYPE", "COLUMNS", "LINES", "SHLVL", "PGPASSWORD", "PGHOST", "PGUSER",
      "PGDATABASE", "PGPORT", "VAULT_TOKEN", "DOCKER_HOST", "NO_COLOR"};
  return kKnown.count(v) > 0 || v.rfind("RUNBOOK_", 0) == 0 || v.rfind("XDG_", 0) == 0 || v.rfind("BASH_", 0) == 0;
}

}  // namespace

std::set<std::string> VariablesRead(const std::string& s) {
  std::set<std::string> out;
  std::vector<ShellContext> ctx = ScanShellContexts(s);
  bool comment = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n') comment = false;
    if (!comment && s[i] == '#' && ctx[i] == ShellContext::kWord && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1]))))
      comment = true;
    if (comment || s[i] != '$' || (i > 0 && s[i - 1] == '\\')) continue;
    ShellContext c = ctx[i];
    if (c != ShellContext::kWord && c != ShellContext::kDoubleQuoted && c != ShellContext::kHeredoc) continue;
    size_t b = i + 1;
    bool braced = b < s.size() && s[b] == '{';
    if (braced) ++b;
    size_t e = b;
    while (e < s.size() && IsIdent(s[e])) ++e;
    std::string name = s.substr(b, e - b);
    if (!IsUpperIdent(name) || WellKnown(name)) continue;
    if (braced && (e >= s.size() || (s[e] != '}' && !(s.compare(e, 2, ":?") == 0 || s[e] == '?')))) continue;
    out.insert(name);
  }
  return out;
}

std::set<std::string> VariablesSet(const std::string& s) {
  std::set<std::string> out;
  auto word_at = [&](size_t at) {
    size_t e = at;
    while (e < s.size() && IsIdent(s[e])) ++e;
    return s.substr(at, e - at);
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (!IsIdent(s[i]) || (i > 0 && IsIdent(s[i - 1]))) continue;
    std::string w = word_at(i);
    size_t after = i + w.size();
    char prev = i > 0 ? s[i - 1] : ' ';
    if (IsUpperIdent(w) && after < s.size() && s[after] == '=' && prev != '$' && prev != '{' && prev != '-')
      out.insert(w);  // NAME=value
    if (IsUpperIdent(w) && prev == '{' && i >= 2 && s[i - 2] == '$' &&
        (s.compare(after, 2, ":-") == 0 || s.compare(after, 2, ":=") == 0 || s.compare(after, 1, "-") == 0 ||
         s.compare(after, 1, "=") == 0))
      out.insert(w);  // ${NAME:-default}
    if (In(w, {"export", "read", "local", "declare", "readonly", "for", "typeset", "mapfile", "readarray"})) {
      // the upper-case words after it on its line, up to a ; | < > or "in"
      size_t k = after;
      while (k < s.size() && s[k] != '\n' && s[k] != ';' && s[k] != '|' && s[k] != '<' && s[k] != '>') {
        if (IsIdent(s[k]) && !IsIdent(s[k - 1])) {
          std::string v = word_at(k);
          if (v == "in" || v == "do") break;
          if (IsUpperIdent(v)) out.insert(v);
          k += v.size();
        } else {
          ++k;
        }
      }
    }
  }
  return out;
}

std::map<std::string, std::string> LiteralAssignments(const std::string& s) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!IsIdent(s[i]) || (i > 0 && (IsIdent(s[i - 1]) || s[i - 1] == '$' || s[i - 1] == '{' || s[i - 1] == '-')))
      continue;
    size_t e = i;
    while (e < s.size() && IsIdent(s[e])) ++e;
    std::string name = s.substr(i, e - i);
    if (!IsUpperIdent(name) || e >= s.size() || s[e] != '=') continue;
    size_t v = e + 1, ve = v;
    char quote = v < s.size() && (s[v] == '"' || s[v] == '\'') ? s[v] : 0;
    if (quote) {
      ve = s.find(quote, v + 1);
      if (ve == std::string::npos) continue;
      std::string value = s.substr(v + 1, ve - v - 1);
      if (value.find_first_of("$`\\\n") == std::string::npos && !value.empty()) out.emplace(name, value);
      continue;
    }
    while (ve < s.size() && !std::isspace(static_cast<unsigned char>(s[ve])) && s[ve] != ';' && s[ve] != '&' && s[ve] != '|')
      ++ve;
    std::string value = s.substr(v, ve - v);
    if (!value.empty() && value.find_first_of("$`\\\"'(){}<>*?[]") == std::string::npos) out.emplace(name, value);
  }
  return out;
}

}  // namespace runbook::import
