// ShellSyntax over a real bash: `bash -n` reads a script and runs nothing.
// Scripts are checked many at once, each wrapped in a function of one file;
// a batch that fails is split in two until each failing script is checked
// alone, so a page of a thousand good scripts costs one bash, and each bad
// one about log2(n) more. A script that leaves a quote, substitution or
// here-document open (ShellTextCloses) would swallow the ones after it, so
// it is checked alone.
#pragma once

#include "engine/shell_syntax.h"

namespace runbook {

class BashSyntax : public ShellSyntax {
 public:
  // `bash` is the program to ask; "" finds /bin/bash or /usr/bin/bash.
  explicit BashSyntax(std::string bash = "");
  std::vector<std::optional<SyntaxError>> Check(const std::vector<std::string>& scripts) override;
  bool available() const override { return !bash_.empty(); }
  int processes() const { return processes_; }  // bash processes started so far

 private:
  struct Outcome {
    bool ran = false;  // bash started and exited
    int status = 0;
    std::string err;
  };
  Outcome RunBash(const std::string& text);
  void CheckRange(const std::vector<std::string>& scripts, const std::vector<size_t>& which,
                  std::vector<std::optional<SyntaxError>>* out);

  std::string bash_;
  int processes_ = 0;
};

}  // namespace runbook
