// The runner of `runbook run --dry-run` (ninja's DryRunCommandRunner): shows
// each command with its templates resolved and starts nothing. Every process
// "exits" at once with code 0 and no output.
#pragma once

#include <ostream>
#include <vector>

#include "engine/runner.h"

namespace runbook {

class DryRunRunner : public ProcessRunner {
 public:
  explicit DryRunRunner(std::ostream* out) : out_(out) {}

  Result<int> Start(const ProcessSpec& spec) override {
    *out_ << "would run (in " << spec.workdir << "):\n";
    std::string text = spec.display.empty() ? spec.argv.back() : spec.display;
    size_t at = 0;
    while (at <= text.size()) {
      size_t nl = text.find('\n', at);
      if (nl == std::string::npos) nl = text.size();
      if (nl > at || at < text.size()) *out_ << "    " << text.substr(at, nl - at) << "\n";
      at = nl + 1;
    }
    pending_.push_back(next_);
    return next_++;
  }
  void Terminate(int) override {}
  void Kill(int) override {}
  std::vector<RunnerEvent> Wait(std::optional<int64_t>) override {
    std::vector<RunnerEvent> out;
    for (int h : pending_) {
      RunnerEvent e;
      e.handle = h;
      e.simulated = true;
      out.push_back(e);
    }
    pending_.clear();
    return out;
  }
  int running() const override { return static_cast<int>(pending_.size()); }

 private:
  std::ostream* out_;
  std::vector<int> pending_;
  int next_ = 1;
};

}  // namespace runbook
