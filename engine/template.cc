#include "engine/template.h"

#include <algorithm>
#include <cstring>

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
    return std::move(ctx_);
  }

 private:
  char At(size_t k) const { return k < t_.size() ? t_[k] : '\0'; }
  void Push(Mode m) { stack_.push_back({m, 0}); }
  void Pop() {
    if (stack_.size() > 1) stack_.pop_back();
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
    } else if (c == '$' && At(i_ + 1) == '(') {
      Push(Mode::kSubst);
      i_ += 2;
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
    if (c == '\\') {
      i_ += 2;
    } else if (c == '\'') {
      size_t end = t_.find('\'', i_ + 1);
      if (end == std::string_view::npos) end = t_.size();
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
    } else if (c == '$' && At(i_ + 1) == '(') {
      Push(Mode::kSubst);
      i_ += 2;
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
    if (!h.delimiter.empty()) pending_.push_back(h);
  }

  void HeredocBodies() {
    for (const Heredoc& h : pending_) {
      while (i_ < t_.size()) {
        size_t end = t_.find('\n', i_);
        if (end == std::string_view::npos) end = t_.size();
        std::string_view line = t_.substr(i_, end - i_);
        if (h.strip_tabs) line.remove_prefix(std::min(line.find_first_not_of('\t'), line.size()));
        if (line == h.delimiter) {
          i_ = std::min(end + 1, t_.size());
          break;
        }
        for (size_t k = i_; k < end; ++k)
          ctx_[k] = h.quoted ? ShellContext::kQuotedHeredoc : ShellContext::kHeredoc;
        i_ = std::min(end + 1, t_.size());
      }
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
  size_t i_ = 0;
};

}  // namespace

std::vector<ShellContext> ScanShellContexts(std::string_view text) {
  return ShellScanner(text).Run();
}

Template ParseTemplate(std::string_view raw, Pos pos, const PosMapper& map, bool shell,
                       Diagnostics* diags) {
  Template t;
  t.raw = std::string(raw);
  t.pos = pos;
  size_t i = 0;
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
