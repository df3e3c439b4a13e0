#include "engine/diagnostic.h"

#include <algorithm>

namespace runbook {

SourceFile::SourceFile(std::string path, std::string text)
    : path_(std::move(path)), text_(std::move(text)) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i)
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
}

std::string_view SourceFile::Line(int line) const {
  if (line < 1 || static_cast<size_t>(line) > line_starts_.size()) return {};
  size_t begin = line_starts_[line - 1];
  size_t end = text_.find('\n', begin);
  if (end == std::string::npos) end = text_.size();
  if (end > begin && text_[end - 1] == '\r') --end;
  return std::string_view(text_).substr(begin, end - begin);
}

Pos SourceFile::PosOf(size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  int line = static_cast<int>(it - line_starts_.begin());
  return Pos{line, static_cast<int>(offset - line_starts_[line - 1]) + 1};
}

size_t SourceFile::OffsetOf(Pos pos) const {
  if (pos.line < 1) return 0;
  if (static_cast<size_t>(pos.line) > line_starts_.size()) return text_.size();
  return std::min(text_.size(), line_starts_[pos.line - 1] + pos.col - 1);
}

void Diagnostics::Error(Pos pos, std::string message) {
  items_.push_back({pos, Severity::kError, std::move(message)});
}

void Diagnostics::Warning(Pos pos, std::string message) {
  items_.push_back({pos, Severity::kWarning, std::move(message)});
}

bool Diagnostics::HasErrors() const { return ErrorCount() > 0; }

int Diagnostics::ErrorCount() const {
  return static_cast<int>(std::count_if(items_.begin(), items_.end(), [](auto& d) {
    return d.severity == Severity::kError;
  }));
}

void Diagnostics::SortByPosition() {
  std::stable_sort(items_.begin(), items_.end(), [](auto& a, auto& b) {
    if (a.severity != b.severity) return a.severity == Severity::kError;
    if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
    return a.pos.col < b.pos.col;
  });
}

std::string Format(const SourceFile& file, const Diagnostic& d) {
  const char* kind = d.severity == Severity::kError ? "error" : "warning";
  std::string out = file.path();
  if (!d.pos.known()) return out + ": " + kind + ": " + d.message + "\n";
  out += ":" + std::to_string(d.pos.line) + ":" + std::to_string(d.pos.col) + ": " +
         kind + ": " + d.message + "\n";
  std::string_view line = file.Line(d.pos.line);
  std::string number = std::to_string(d.pos.line);
  out += " " + number + " | " + std::string(line) + "\n";
  out += " " + std::string(number.size(), ' ') + " | ";
  // Keep tabs so that the caret lines up under the same text.
  for (int i = 0; i + 1 < d.pos.col && i < static_cast<int>(line.size()); ++i)
    out += line[i] == '\t' ? '\t' : ' ';
  out += "^\n";
  return out;
}

}  // namespace runbook
