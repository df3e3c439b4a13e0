// Positions in a runbook's source text and the messages that point at them.
//
// Every user-facing error about a runbook is a Diagnostic: a position (1-based
// line and column; 0 when unknown), a severity and a message. Format() prints
// it the way compilers do, so that editors and people can jump to it:
//
//   runbooks/dr.yaml:12:15: error: unknown key 'timout' (did you mean 'timeout'?)
//      12 |     timout: 5m
//         |     ^
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace runbook {

struct Pos {
  int line = 0;  // 1-based; 0 means "no position"
  int col = 0;   // 1-based, in bytes
  bool known() const { return line > 0; }
};

enum class Severity { kError, kWarning };

struct Diagnostic {
  Pos pos;
  Severity severity = Severity::kError;
  std::string message;
};

// The text of one file, with a line index for positions and excerpts.
class SourceFile {
 public:
  SourceFile() = default;
  SourceFile(std::string path, std::string text);

  const std::string& path() const { return path_; }
  const std::string& text() const { return text_; }
  // Line `line` (1-based) without its newline; empty if out of range.
  std::string_view Line(int line) const;
  // Position of byte `offset` of the text.
  Pos PosOf(size_t offset) const;
  // Byte offset of a position (clamped to the text).
  size_t OffsetOf(Pos pos) const;

 private:
  std::string path_;
  std::string text_;
  std::vector<size_t> line_starts_;
};

// Collects diagnostics in the order they are found.
class Diagnostics {
 public:
  void Error(Pos pos, std::string message);
  void Warning(Pos pos, std::string message);
  void Add(Diagnostic d) { items_.push_back(std::move(d)); }

  const std::vector<Diagnostic>& items() const { return items_; }
  bool HasErrors() const;
  int ErrorCount() const;
  // Errors first by position, then warnings: the order people fix them in.
  void SortByPosition();

 private:
  std::vector<Diagnostic> items_;
};

// "file:line:col: error: message" then the source line and a caret.
// Without a known position: "file: error: message".
std::string Format(const SourceFile& file, const Diagnostic& d);

}  // namespace runbook
