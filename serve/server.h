// `runbook serve`: the state database over HTTP, for the people who follow a
// run (issue 15). It reads the store and never drives a run; the only thing
// it writes is a note a person adds from the page.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace runbook::serve {

struct Options {
  std::string host = "127.0.0.1";  // loopback unless --listen says otherwise
  int port = 0;                    // 0: any free port
  std::string state;               // the state database's path
  std::vector<std::string> runbook_path;  // where an alert's runbook is found (RUNBOOK_PATH)
};

// Serves until the process is stopped. Prints, on `out`, the address with
// its token once it listens. Returns an exit code when it cannot listen.
int Serve(const Options& options, std::ostream& out, std::ostream& err);

}  // namespace runbook::serve
