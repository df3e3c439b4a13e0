// `runbook state copy FROM TO` (issue 16): a store's history into another
// (SQLite to PostgreSQL and back), each run in one transaction of the
// destination, then read back from both and compared.
#pragma once

#include <string>
#include <vector>

#include "engine/store.h"

namespace runbook {

struct CopyReport {
  int copied = 0;                    // runs written to the destination, verified equal
  int already = 0;                   // runs the destination had, equal
  std::vector<std::string> skipped;  // "RUN: why" (live runs, runs that differ)
};

// Copies every run of `from` (child runs too) that `to` lacks. A run a live
// engine drives is skipped (its record is still being written), and so is a
// run `to` has with another record. `alive` says whether a run's owner is
// alive (StateStore::OwnerAlive of `from`).
Result<CopyReport> CopyRuns(StateStore& from, StateStore& to, const LivenessCheck& alive);

// The difference between two stores' records of run `id`, or "" when they
// are equal (event sequence numbers are each store's own and not compared).
std::string CompareRun(StateStore& a, StateStore& b, const std::string& id);

}  // namespace runbook
