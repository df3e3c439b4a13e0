#include "engine/importer.h"

#include "engine/limits.h"
#include "engine/template.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

namespace runbook {
namespace {

// Valid UTF-8 without control characters (tabs and newlines kept); bytes
// that are not UTF-8 are taken as Latin-1.
std::string CleanText(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size();) {
    unsigned char c = in[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool valid = len > 0 && i + len <= in.size();
    for (int k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    if (!valid) {  // Latin-1 byte -> UTF-8
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
      ++i;
      continue;
    }
    if (len == 1 && c < 0x20 && c != '\n' && c != '\t') {
      ++i;
      continue;
    }
    if (len == 2 && c == 0xC2 && static_cast<unsigned char>(in[i + 1]) < 0xA0) {  // C1 controls
      i += 2;
      continue;
    }
    out.append(in, i, len);
    i += len;
  }
  return out;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

std::string OneLine(const std::string& s, size_t max = 90) {
  std::string out;
  for (char c : Trim(s)) out += c == '\n' ? ' ' : c;
  if (out.size() > max) out = out.substr(0, max - 3) + "...";
  return out;
}

// The text of a node and its children, inline code included.
std::string TextOf(cmark_node* node) {
  std::string out;
  cmark_iter* it = cmark_iter_new(node);
  for (cmark_event_type ev; (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE;) {
    cmark_node* n = cmark_iter_get_node(it);
    if (ev != CMARK_EVENT_ENTER) continue;
    switch (cmark_node_get_type(n)) {
      case CMARK_NODE_TEXT:
      case CMARK_NODE_CODE:
        if (const char* l = cmark_node_get_literal(n)) out += l;
        break;
      case CMARK_NODE_SOFTBREAK:
      case CMARK_NODE_LINEBREAK: out += ' '; break;
      default: break;
    }
  }
  cmark_iter_free(it);
  return Trim(out);
}

// Removes the indentation every line shares.
std::string Dedent(const std::string& code) {
  size_t common = std::string::npos;
  size_t at = 0;
  while (at < code.size()) {
    size_t nl = code.find('\n', at);
    std::string line = code.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    if (!Trim(line).empty()) common = std::min(common, line.find_first_not_of(' '));
    at = nl == std::string::npos ? code.size() : nl + 1;
  }
  if (common == 0 || common == std::string::npos) return code;
  std::string out;
  at = 0;
  while (at < code.size()) {
    size_t nl = code.find('\n', at);
    std::string line = code.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    out += (line.size() >= common ? line.substr(common) : Trim(line)) + "\n";
    at = nl == std::string::npos ? code.size() : nl + 1;
  }
  return out;
}

// `{{` would start a template: shown literally through one.
std::string NoTemplates(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "{{") == 0) {
      out += "{{ '{{' }}";
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool IsShell(const std::string& info) {
  std::string lang = info.substr(0, info.find(' '));
  std::transform(lang.begin(), lang.end(), lang.begin(), ::tolower);
  return lang.empty() || lang == "bash" || lang == "sh" || lang == "shell" || lang == "console" || lang == "zsh";
}

// A console transcript: the commands after their prompts ("$ ", "user@host:~$ ",
// and in a console block "# "), continuation lines after a trailing '\', and
// the output around them, which is not to be run.
struct Transcript {
  bool prompted = false;  // any line had a prompt
  std::string commands, output;
};

Transcript ReadTranscript(const std::string& code, bool console) {
  Transcript t;
  std::istringstream in(code);
  bool continued = false;
  for (std::string line; std::getline(in, line);) {
    std::string_view l(line);
    size_t prompt = continued ? 0 : ShellPromptLength(l, console);
    if (!continued && prompt == 0) {
      t.output += line + "\n";
      continue;
    }
    if (!continued) t.prompted = true;
    std::string command(l.substr(prompt));
    t.commands += command + "\n";
    continued = !command.empty() && command.back() == '\\';
  }
  return t;
}

enum class Section { kSteps, kPreflight, kVerify, kRollback, kEscalation, kPurpose, kNavigation };

Section SectionOf(const std::string& heading) {
  std::string h;
  for (char c : heading) h += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto has = [&](const char* w) { return h.find(w) != std::string::npos; };
  if (has("prerequisite") || has("preflight") || has("before you begin") || has("requirements")) return Section::kPreflight;
  if (has("verif") || has("validat")) return Section::kVerify;
  if (has("rollback") || has("roll back")) return Section::kRollback;
  if (has("escalat") || has("contact")) return Section::kEscalation;
  if (h == "purpose" || has("purpose")) return Section::kPurpose;
  if (has("contents") || has("index") || has("directory") || has("related") || has("see also"))
    return Section::kNavigation;
  return Section::kSteps;
}

struct Check {
  std::string name, run;
};

struct Draft {
  std::string id, name, description;
  std::string run;     // run step
  std::string manual;  // manual step
  std::vector<Check> verify;
  std::string rollback;
};

class Importer {
 public:
  Importer(std::string name) : name_(std::move(name)) {}

  void Walk(cmark_node* doc) {
    for (cmark_node* n = cmark_node_first_child(doc); n; n = cmark_node_next(n)) Block(n);
  }

  // A literal block (|) unless its first line is indented: yaml-cpp writes
  // no indentation indicator, so YAML would read that indentation as the
  // block's own and the draft would not load. Such text is double-quoted.
  static YAML::EMITTER_MANIP BlockStyle(const std::string& text) {
    size_t first = text.find_first_not_of('\n');
    bool indented = first != std::string::npos && (text[first] == ' ' || text[first] == '\t');
    return indented ? YAML::DoubleQuoted : YAML::Literal;
  }

  std::string Emit(const std::string& source) {
    YAML::Emitter out;
    out << YAML::Comment("Imported from " + source + " by `runbook import`: a draft.\n"
                         "Review every step, add timeouts, verifications and rollbacks, then: runbook validate");
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << name_;
    if (!title_.empty()) out << YAML::Key << "title" << YAML::Value << title_;
    if (!purpose_.empty()) out << YAML::Key << "purpose" << YAML::Value << purpose_;
    if (!escalation_.empty()) {
      out << YAML::Key << "escalation" << YAML::Value << YAML::BeginSeq;
      for (const auto& c : escalation_)
        out << YAML::BeginMap << YAML::Key << "contact" << YAML::Value << c << YAML::Key << "when" << YAML::Value
            << "failure" << YAML::EndMap;
      out << YAML::EndSeq;
    }
    if (!preflight_.empty()) {
      out << YAML::Key << "preflight" << YAML::Value << YAML::BeginSeq;
      for (const auto& c : preflight_)
        out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << c.name << YAML::Key << "run" << YAML::Value
            << BlockStyle(c.run) << c.run << YAML::EndMap;
      out << YAML::EndSeq;
    }
    if (steps_.empty()) {  // a page with nothing to do still validates
      Draft d;
      d.id = "review";
      d.name = "Review the imported page";
      d.manual = "The page had no commands or list items to turn into steps.";
      steps_.push_back(d);
    }
    out << YAML::Key << "steps" << YAML::Value << YAML::BeginSeq;
    for (size_t i = 0; i < steps_.size(); ++i) {
      const Draft& d = steps_[i];
      out << YAML::BeginMap << YAML::Key << "id" << YAML::Value << d.id;
      out << YAML::Key << "name" << YAML::Value << NoTemplates(d.name);
      if (!d.description.empty()) out << YAML::Key << "description" << YAML::Value << d.description;
      if (i > 0) out << YAML::Key << "needs" << YAML::Value << steps_[i - 1].id;
      if (!d.run.empty())
        out << YAML::Key << "run" << YAML::Value << BlockStyle(d.run) << d.run;
      else
        out << YAML::Key << "manual" << YAML::Value << BlockStyle(d.manual) << NoTemplates(d.manual);
      if (!d.verify.empty()) {
        out << YAML::Key << "verify" << YAML::Value << YAML::BeginSeq;
        for (const auto& c : d.verify)
          out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << c.name << YAML::Key << "run" << YAML::Value
              << BlockStyle(c.run) << c.run << YAML::EndMap;
        out << YAML::EndSeq;
      }
      if (!d.rollback.empty()) out << YAML::Key << "rollback" << YAML::Value << BlockStyle(d.rollback) << d.rollback;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
  }

  int steps() const { return static_cast<int>(steps_.size()); }

 private:
  void Block(cmark_node* n) {
    switch (cmark_node_get_type(n)) {
      case CMARK_NODE_HEADING: {
        std::string text = OneLine(TextOf(n));
        if (cmark_node_get_heading_level(n) == 1 && title_.empty()) {
          title_ = text;
          break;
        }
        heading_ = text;
        section_ = SectionOf(text);
        paragraph_.clear();
        break;
      }
      case CMARK_NODE_PARAGRAPH: {
        paragraph_ = TextOf(n);
        if (section_ == Section::kPurpose && purpose_.empty()) purpose_ = OneLine(paragraph_, 300);
        break;
      }
      case CMARK_NODE_CODE_BLOCK: Code(n, paragraph_); paragraph_.clear(); break;
      case CMARK_NODE_LIST: List(n); paragraph_.clear(); break;
      default:
        if (std::string(cmark_node_get_type_string(n)) == "table" && section_ == Section::kEscalation) Table(n);
        break;
    }
  }

  void List(cmark_node* list) {
    for (cmark_node* item = cmark_node_first_child(list); item; item = cmark_node_next(item)) {
      std::string text;
      bool had_code = false, only_link = false;
      for (cmark_node* c = cmark_node_first_child(item); c; c = cmark_node_next(c)) {
        switch (cmark_node_get_type(c)) {
          case CMARK_NODE_PARAGRAPH:
            text += (text.empty() ? "" : " ") + TextOf(c);
            only_link = cmark_node_first_child(c) && cmark_node_get_type(cmark_node_first_child(c)) == CMARK_NODE_LINK &&
                        !cmark_node_next(cmark_node_first_child(c));
            break;
          case CMARK_NODE_CODE_BLOCK: Code(c, text); had_code = true; break;
          case CMARK_NODE_LIST: List(c); break;
          default: break;
        }
      }
      // GFM task items keep their box in the text: "[ ] Run the tests".
      if (text.rfind("[ ] ", 0) == 0 || text.rfind("[x] ", 0) == 0 || text.rfind("[X] ", 0) == 0) text = text.substr(4);
      // Navigation (a table of contents, a list of links) is not work to do.
      if (had_code || text.empty() || only_link || section_ == Section::kNavigation) continue;
      if (section_ == Section::kEscalation) {
        escalation_.push_back(OneLine(text, 200));
        continue;
      }
      if (section_ == Section::kPurpose) continue;
      Draft d;
      d.name = OneLine(text);
      d.manual = text;
      d.description = heading_.empty() ? "" : "From: " + heading_;
      Add(d);
    }
  }

  void Table(cmark_node* table) {
    bool header = true;
    for (cmark_node* row = cmark_node_first_child(table); row; row = cmark_node_next(row)) {
      if (header) {
        header = false;
        continue;
      }
      std::string contact;
      for (cmark_node* cell = cmark_node_first_child(row); cell; cell = cmark_node_next(cell)) {
        std::string t = TextOf(cell);
        if (!t.empty()) contact += (contact.empty() ? "" : " - ") + t;
      }
      if (!contact.empty()) escalation_.push_back(OneLine(contact, 200));
    }
  }

  void Code(cmark_node* n, const std::string& before) {
    const char* lit = cmark_node_get_literal(n);
    std::string code = Dedent(lit ? lit : "");
    if (Trim(code).empty()) return;
    std::string info = cmark_node_get_fence_info(n) ? cmark_node_get_fence_info(n) : "";
    std::string lang = info.substr(0, info.find(' '));
    std::transform(lang.begin(), lang.end(), lang.begin(), ::tolower);
    // A transcript runs only its prompted lines, without the prompts; its
    // output is shown, not run. A console block without a prompt is output.
    std::string shown_output;
    if (IsShell(info)) {
      Transcript t = ReadTranscript(code, lang == "console");
      if (t.prompted) {
        shown_output = Trim(t.output);
        code = t.commands;
      } else if (lang == "console") {
        info = "text";  // nothing to run: a person reads it
      }
    }
    std::string name = OneLine(before.empty() ? heading_ : before);
    if (name.empty()) name = OneLine(code.substr(0, code.find('\n')));
    bool runnable = IsShell(info) && code.find("{{") == std::string::npos;
    if (runnable && section_ == Section::kPreflight) {
      preflight_.push_back({name, code});
      return;
    }
    if (runnable && section_ == Section::kVerify && last_run_) {
      steps_[*last_run_].verify.push_back({name, code});
      return;
    }
    if (runnable && section_ == Section::kRollback && last_run_) {
      std::string& hook = steps_[*last_run_].rollback;
      hook += (hook.empty() ? "" : "\n") + code;
      return;
    }
    Draft d;
    d.name = name;
    d.description = Trim((heading_.empty() ? "" : "From: " + heading_ + "\n") + before +
                         (shown_output.empty() ? "" : "\nOutput shown on the page:\n" + shown_output));
    if (runnable) {
      d.run = code;
    } else {
      // Not a shell command runbook can run as written: a person does it.
      std::string fence = "```";
      d.manual = (before.empty() ? "Run this" : before) + "\n\n" + fence + info + "\n" + code + fence + "\n";
    }
    Add(d);
  }

  void Add(Draft d) {
    d.id = UniqueId(d.name);
    if (!d.run.empty()) last_run_ = steps_.size();
    steps_.push_back(std::move(d));
  }

  std::string UniqueId(const std::string& name) {
    std::string id;
    for (char c : name) {
      char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (std::isalnum(static_cast<unsigned char>(l)) && static_cast<unsigned char>(c) < 0x80)
        id += l;
      else if (!id.empty() && id.back() != '-')
        id += '-';
      if (id.size() >= 40) break;
    }
    while (!id.empty() && id.back() == '-') id.pop_back();
    if (id.empty()) id = "step";
    // The next free suffix of each id, remembered: a page of a thousand
    // "Restart the service" sections does not count from 2 each time.
    std::string unique = id;
    int& n = next_suffix_[id];
    if (n == 0) n = 2;
    while (used_.count(unique)) unique = id + "-" + std::to_string(n++);
    used_.insert(unique);
    return unique;
  }

  std::string name_, title_, purpose_, heading_, paragraph_;
  Section section_ = Section::kSteps;
  std::vector<std::string> escalation_;
  std::vector<Check> preflight_;
  std::vector<Draft> steps_;
  std::optional<size_t> last_run_;
  std::set<std::string> used_;
  std::map<std::string, int> next_suffix_;
};

}  // namespace

std::string RunbookNameFrom(const std::string& stem) {
  std::string out;
  for (char c : stem) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((std::isalnum(static_cast<unsigned char>(l)) && static_cast<unsigned char>(c) < 0x80) || l == '_')
      out += l;
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && (out.back() == '-' || out.back() == '_')) out.pop_back();
  while (!out.empty() && (out.front() == '-' || out.front() == '_')) out.erase(0, 1);
  return out.empty() ? "imported" : out;
}

// Lists and quotes nested deeper than kMaxMarkdownDepth (cmark slows down
// with every level, and the page's structure is lost long before): by
// indentation, '>' markers and list markers at a line's start. Fenced code
// is skipped.
std::optional<std::string> NestingError(const std::string& text) {
  std::istringstream in(text);
  std::string fence;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string::npos) continue;
    std::string_view rest(line.data() + i, line.size() - i);
    if (rest.rfind("```", 0) == 0 || rest.rfind("~~~", 0) == 0) {
      std::string marker(rest.substr(0, 3));
      if (fence.empty()) fence = marker;
      else if (marker == fence) fence.clear();
      continue;
    }
    if (!fence.empty()) continue;
    size_t columns = 0;
    for (char c : line.substr(0, i)) columns += c == '\t' ? 4 : 1;
    int depth = static_cast<int>(columns / 2);
    size_t k = i;
    while (k < line.size()) {  // > quotes and - * + 1. list markers, one after another
      if (line[k] == '>') {
        ++depth, ++k;
      } else if ((line[k] == '-' || line[k] == '*' || line[k] == '+') && k + 1 < line.size() && line[k + 1] == ' ') {
        ++depth, k += 2;
      } else {
        break;
      }
      while (k < line.size() && line[k] == ' ') ++k;
      if (depth > kMaxMarkdownDepth) break;
    }
    if (depth > kMaxMarkdownDepth)
      return std::to_string(line_no) + ":" + std::to_string(i + 1) + ": lists and quotes nested more than " +
             std::to_string(kMaxMarkdownDepth) + " levels deep: nothing was imported";
  }
  return std::nullopt;
}

ImportResult ImportMarkdown(const std::string& markdown, const std::string& name, const std::string& source) {
  if (markdown.size() > kMaxFileBytes) {
    ImportResult r;
    r.error = "1:1: the page is " + std::to_string(markdown.size()) + " bytes; import reads at most " +
              std::to_string(kMaxFileBytes >> 20) + " MiB";
    return r;
  }
  std::string text = CleanText(markdown);
  if (auto nesting = NestingError(text)) {
    ImportResult r;
    r.error = *nesting;
    return r;
  }
  cmark_gfm_core_extensions_ensure_registered();
  cmark_parser* parser = cmark_parser_new(CMARK_OPT_DEFAULT);
  for (const char* ext : {"table", "tasklist"})
    if (cmark_syntax_extension* e = cmark_find_syntax_extension(ext)) cmark_parser_attach_syntax_extension(parser, e);
  cmark_parser_feed(parser, text.data(), text.size());
  cmark_node* doc = cmark_parser_finish(parser);
  Importer importer(name);
  importer.Walk(doc);
  cmark_node_free(doc);
  cmark_parser_free(parser);
  ImportResult r;
  if (static_cast<size_t>(importer.steps()) > kMaxSteps) {
    r.error = "1:1: the page makes " + std::to_string(importer.steps()) + " steps; a runbook has at most " +
              std::to_string(kMaxSteps) + ": split the page";
    return r;
  }
  r.yaml = importer.Emit(source);
  r.steps = importer.steps();
  return r;
}

}  // namespace runbook
