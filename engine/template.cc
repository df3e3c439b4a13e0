#include "engine/template.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include "engine/limits.h"

namespace runbook {

bool Template::HasExprs() const {
  for (const auto& p : parts)
    if (p.is_expr) return true;
  return false;
}

const char* ToString(ShellContext c) {
  switch (c) {
    case ShellContext::kNotShell: return "text";
    case ShellContext::kWord: return "word";
    case ShellContext::kDoubleQuoted: return "double quotes";
    case ShellContext::kHeredoc: return "here-document";
    case ShellContext::kSingleQuoted: return "single quotes";
    case ShellContext::kQuotedHeredoc: return "quoted here-document";
    case ShellContext::kArithmetic: return "arithmetic";
    case ShellContext::kHeredocDelimiter: return "here-document delimiter";
  }
  return "?";
}

namespace {

enum class Mode { kNormal, kDouble, kSubst, kBackquote };

struct Heredoc {
  std::string delimiter;
  bool quoted = false;
  bool strip_tabs = false;
};

class ShellScanner {
 public:
  explicit ShellScanner(std::string_view t) : t_(t), ctx_(t.size() + 1, ShellContext::kWord) {}

  std::vector<ShellContext> Run() {
    while (i_ < t_.size()) {
      if (stack_.back().mode == Mode::kDouble)
        Double();
      else
        Normal();
    }
    // Arithmetic evaluates what it expands, quoted or not, and the output of
    // a command substitution inside it too: all of it is arithmetic.
    for (auto [begin, end] : arithmetic_)
      for (size_t k = begin; k < std::min(end, ctx_.size()); ++k)
        if (ctx_[k] == ShellContext::kWord || ctx_[k] == ShellContext::kDoubleQuoted) ctx_[k] = ShellContext::kArithmetic;
    return std::move(ctx_);
  }

  // After Run: whether the text ends as it began, outside any quote,
  // substitution or here-document.
  bool Closed() const { return !open_ && stack_.size() == 1 && pending_.empty(); }

 private:
  char At(size_t k) const { return k < t_.size() ? t_[k] : '\0'; }
  static bool NameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

  // From an opening "((" or "$((" at `open` (the first '('), the index past
  // the matching "))", or the end.
  size_t CloseParens(size_t open) const {
    int depth = 0;
    for (size_t k = open; k < t_.size(); ++k) {
      if (t_[k] == '(') ++depth;
      else if (t_[k] == ')' && --depth == 0) return k + 1;
    }
    return t_.size();
  }

  // The end of the simple command that starts at `from`: ; & | or a newline.
  size_t CommandEnd(size_t from) const {
    size_t k = from;
    while (k < t_.size() && !std::strchr(";&|\n", t_[k])) ++k;
    return k;
  }

  // Whether i_ starts a word in command position: after a line break, ; & |
  // ( { ! or a keyword such as `then`, `do`, `if`.
  bool CommandPosition() const {
    size_t k = i_;
    if (k > 0 && !std::strchr(" \t\n;&|({", t_[k - 1])) return false;  // inside a word
    while (k > 0 && (t_[k - 1] == ' ' || t_[k - 1] == '\t')) --k;
    if (k == 0 || std::strchr("\n;&|({!", t_[k - 1])) return true;
    size_t end = k;
    while (k > 0 && NameChar(t_[k - 1])) --k;
    std::string_view word = t_.substr(k, end - k);
    for (const char* keyword : {"then", "do", "else", "elif", "if", "while", "until", "time"})
      if (word == keyword) return true;
    return false;
  }

  // Words at a command's start that make the rest arithmetic: `((`, `let`,
  // `[[ ... -eq ... ]]`, an assignment to an array element `a[i]=`.
  void CommandStart() {
    if (At(i_) == '(' && At(i_ + 1) == '(') {
      arithmetic_.push_back({i_, CloseParens(i_)});
    } else if (t_.substr(i_, 4) == "let " || t_.substr(i_, 4) == "let\t") {
      arithmetic_.push_back({i_, CommandEnd(i_)});
    } else if (At(i_) == '[' && At(i_ + 1) == '[') {
      size_t end = t_.find("]]", i_ + 2);
      end = end == std::string_view::npos ? t_.size() : end + 2;
      std::string_view test = t_.substr(i_, end - i_);
      for (const char* op : {"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
        if (test.find(op) != std::string_view::npos) {
          arithmetic_.push_back({i_, end});
          break;
        }
    } else if (NameChar(At(i_)) && !std::isdigit(static_cast<unsigned char>(At(i_)))) {
      size_t k = i_;
      while (NameChar(At(k))) ++k;
      if (At(k) == '[') Subscript(k);
    }
  }

  // An array subscript from its '[' to its ']': arithmetic for an indexed array.
  void Subscript(size_t open) {
    size_t close = t_.find(']', open);
    arithmetic_.push_back({open, close == std::string_view::npos ? t_.size() : close + 1});
  }

  // After "${": a subscript (${a[i]}) or an offset (${v:i:n}) is arithmetic.
  void ParameterExpansion(size_t at) {
    size_t k = at + 2;
    if (At(k) == '#' || At(k) == '!') ++k;
    while (NameChar(At(k))) ++k;
    if (At(k) == '[') {
      Subscript(k);
    } else if (At(k) == ':' && !std::strchr("-=?+", At(k + 1))) {
      size_t close = t_.find('}', k);
      arithmetic_.push_back({k, close == std::string_view::npos ? t_.size() : close});
    }
  }
  void Push(Mode m) { stack_.push_back({m, 0}); }
  void Pop() {
    if (stack_.size() > 1) stack_.pop_back();
  }

  // At a '$', in or out of double quotes: $(( )) (arithmetic, its parens
  // counted as a command substitution's), $( ), $[ ], ${ }. False for any
  // other '$', which the caller steps over.
  bool Dollar() {
    char next = At(i_ + 1);
    if (next == '(') {
      if (At(i_ + 2) == '(') arithmetic_.push_back({i_, CloseParens(i_ + 1)});
      Push(Mode::kSubst);
    } else if (next == '[') {
      Subscript(i_ + 1);
    } else if (next == '{') {
      ParameterExpansion(i_);
    } else {
      return false;
    }
    i_ += 2;
    return true;
  }

  void Double() {
    ctx_[i_] = ShellContext::kDoubleQuoted;
    char c = t_[i_];
    if (c == '\\') {
      if (i_ + 1 < t_.size()) ctx_[i_ + 1] = ShellContext::kDoubleQuoted;
      i_ += 2;
    } else if (c == '"') {
      Pop();
      ++i_;
    } else if (c == '$' && Dollar()) {
      // taken: i_ is past it
    } else if (c == '`') {
      Push(Mode::kBackquote);
      ++i_;
    } else {
      ++i_;
    }
  }

  void Normal() {
    char c = t_[i_];
    Mode m = stack_.back().mode;
    bool word_start = i_ == 0 || std::strchr(" \t\n;|&()", t_[i_ - 1]) != nullptr;
    if (CommandPosition()) CommandStart();
    if (c == '\\') {
      i_ += 2;
    } else if (c == '\'') {
      size_t end = t_.find('\'', i_ + 1);
      if (end == std::string_view::npos) end = t_.size(), open_ = true;
      for (size_t k = i_ + 1; k < end; ++k) ctx_[k] = ShellContext::kSingleQuoted;
      i_ = end + 1;
    } else if (c == '"') {
      Push(Mode::kDouble);
      ++i_;
    } else if (c == '`') {
      if (m == Mode::kBackquote)
        Pop();
      else
        Push(Mode::kBackquote);
      ++i_;
    } else if (c == '$' && Dollar()) {
      // taken: i_ is past it
    } else if (c == '(' && m == Mode::kSubst) {
      ++stack_.back().depth;
      ++i_;
    } else if (c == ')' && m == Mode::kSubst) {
      if (stack_.back().depth == 0)
        Pop();
      else
        --stack_.back().depth;
      ++i_;
    } else if (c == '#' && word_start) {
      while (i_ < t_.size() && t_[i_] != '\n') ++i_;
    } else if (c == '<' && At(i_ + 1) == '<' && At(i_ + 2) == '<') {
      i_ += 3;  // a here-string: its word is quoted like any other
    } else if (c == '<' && At(i_ + 1) == '<') {
      HeredocOperator();
    } else if (c == '\n' && !pending_.empty()) {
      ++i_;
      HeredocBodies();
    } else {
      ++i_;
    }
  }

  // After "<<" or "<<-": the delimiter word, quoted if any part is quoted.
  void HeredocOperator() {
    i_ += 2;
    Heredoc h;
    if (At(i_) == '-') {
      h.strip_tabs = true;
      ++i_;
    }
    while (At(i_) == ' ' || At(i_) == '\t') ++i_;
    size_t word = i_;
    while (i_ < t_.size() && !std::strchr(" \t\n;|&<>()", t_[i_])) {
      char c = t_[i_];
      if (c == '\'' || c == '"') {
        h.quoted = true;
        size_t end = t_.find(c, i_ + 1);
        if (end == std::string_view::npos) end = t_.size();
        h.delimiter += std::string(t_.substr(i_ + 1, end - i_ - 1));
        i_ = end + 1;
      } else if (c == '\\') {
        h.quoted = true;
        h.delimiter += At(i_ + 1);
        i_ += 2;
      } else {
        h.delimiter += c;
        ++i_;
      }
    }
    for (size_t k = word; k < std::min(i_, t_.size()); ++k) ctx_[k] = ShellContext::kHeredocDelimiter;
    if (!h.delimiter.empty()) pending_.push_back(h);
  }

  void HeredocBodies() {
    for (const Heredoc& h : pending_) {
      bool found = false;
      while (i_ < t_.size()) {
        size_t end = t_.find('\n', i_);
        if (end == std::string_view::npos) end = t_.size();
        std::string_view line = t_.substr(i_, end - i_);
        if (h.strip_tabs) line.remove_prefix(std::min(line.find_first_not_of('\t'), line.size()));
        if (line == h.delimiter) {
          i_ = std::min(end + 1, t_.size());
          found = true;
          break;
        }
        for (size_t k = i_; k < end; ++k)
          ctx_[k] = h.quoted ? ShellContext::kQuotedHeredoc : ShellContext::kHeredoc;
        i_ = std::min(end + 1, t_.size());
      }
      if (!found) open_ = true;
    }
    pending_.clear();
  }

  struct Frame {
    Mode mode;
    int depth;
  };
  std::string_view t_;
  std::vector<ShellContext> ctx_;
  std::vector<Frame> stack_{{Mode::kNormal, 0}};
  std::vector<Heredoc> pending_;
  std::vector<std::pair<size_t, size_t>> arithmetic_;  // byte ranges
  size_t i_ = 0;
  bool open_ = false;  // a quote or here-document the text never closes
};

}  // namespace

size_t ShellPromptLength(std::string_view l, bool hash) {
  if (l.rfind("$ ", 0) == 0 || (hash && l.rfind("# ", 0) == 0)) return 2;
  size_t at = l.find('@'), colon = l.find(':'), space = l.find(' ');
  if (at == std::string_view::npos || at == 0 || colon == std::string_view::npos || colon < at ||
      space == std::string_view::npos || space < colon)
    return 0;
  char sign = l[space - 1];
  if ((sign != '$' && sign != '#') || l.substr(0, at).find_first_of("\"'=/") != std::string_view::npos) return 0;
  return space + 1;
}

std::vector<ShellContext> ScanShellContexts(std::string_view text) {
  return ShellScanner(text).Run();
}

bool ShellTextCloses(std::string_view text) {
  ShellScanner s(text);
  s.Run();
  return s.Closed();
}

Template ParseTemplate(std::string_view raw, Pos pos, const PosMapper& map, bool shell,
                       Diagnostics* diags) {
  Template t;
  t.raw = std::string(raw);
  t.pos = pos;
  size_t i = 0, templates = 0;
  while (i < raw.size()) {
    size_t open = raw.find("{{", i);
    if (open == std::string_view::npos) {
      t.parts.push_back({false, std::string(raw.substr(i)), nullptr, i, raw.size(), map(i)});
      break;
    }
    if (open > i) t.parts.push_back({false, std::string(raw.substr(i, open - i)), nullptr, i, open, map(i)});
    size_t close = raw.find("}}", open + 2);
    if (close == std::string_view::npos) {
      diags->Error(map(open), "unterminated template: '{{' without '}}'");
      return t;
    }
    if (++templates > kMaxTemplatesPerText) {
      diags->Error(map(open), "more than " + std::to_string(kMaxTemplatesPerText) +
                                  " templates in one text: pass the values in a file or split the step");
      return t;
    }
    size_t start = open + 2;
    auto parsed = ParseExpr(raw.substr(start, close - start),
                            [&](size_t off) { return map(start + off); });
    if (parsed.error) {
      diags->Add(*parsed.error);
    } else {
      TemplatePart part;
      part.is_expr = true;
      part.expr = parsed.expr;
      part.begin = open;
      part.end = close + 2;
      part.pos = map(open);
      t.parts.push_back(std::move(part));
    }
    i = close + 2;
  }
  if (shell && t.HasExprs()) {
    // Templates are opaque words to the shell scanner: blank them out so that
    // quotes inside an expression do not count as shell quotes.
    std::string blanked(raw);
    for (const auto& p : t.parts)
      if (p.is_expr) std::fill(blanked.begin() + p.begin, blanked.begin() + p.end, 'x');
    auto contexts = ScanShellContexts(blanked);
    for (auto& p : t.parts)
      if (p.is_expr) p.context = contexts[p.begin];
  }
  return t;
}

}  // namespace runbook
