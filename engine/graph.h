// The dependency graph of a list of steps (the main `steps`, or `finally`).
//
// An edge says "step needs need": one for each `needs` item that names a step
// of the same list, and one for each decision `goto` (a target implicitly
// needs its decision). Edges naming unknown steps are left out; the validator
// reports them. Boost.Graph does the traversals; no Boost type appears here.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/duration.h"
#include "engine/model.h"

namespace runbook {

class StepGraph {
 public:
  struct Edge {
    int step;  // the step that waits
    int need;  // the step it waits for
    Pos pos;   // of the `needs` or `goto` item
    bool by_goto = false;
    std::string choice;  // by_goto: the choice's value
  };
  struct Cycle {
    std::vector<std::string> path;  // ids, first == last: a needs b needs ... needs a
    Pos pos;                        // of the needs item that closes it
    std::string ToString() const;   // "a -> b -> a"
  };
  struct CriticalPath {
    std::vector<int> path;  // in execution order
    Millis total{0};
    int unestimated = 0;    // steps on the path with no estimate
  };

  explicit StepGraph(const std::vector<Step>& steps);

  int size() const { return static_cast<int>(steps_.size()); }
  const Step& step(int v) const { return steps_[v]; }
  std::optional<int> Index(const std::string& id) const;
  const std::vector<Edge>& edges() const { return edges_; }

  // Every cycle closed by a back edge of a depth-first search in file order.
  std::vector<Cycle> FindCycles() const;

  // The following need an acyclic graph.
  // Steps in waves: wave k holds the steps whose longest chain of needs has
  // k edges; each wave in file order. Flattened, a topological order.
  std::vector<std::vector<int>> Waves() const;
  std::vector<int> TopologicalOrder() const;
  // The chain with the largest sum of `estimate(step)`.
  CriticalPath Critical(const std::function<std::optional<Millis>(const Step&)>& estimate) const;

  // The decision branches each step runs on: decision index -> the choices
  // one of which must be taken for the step to run at all. A goto target is
  // on the choices that lead to it (and on its decision's branches); a step
  // without `when` runs when any of its needs ran, so it is on a decision
  // only where every need is, on any of their choices; a step with `when`
  // is decided by it alone and on no branch.
  using Branches = std::map<int, std::set<std::string>>;
  std::vector<Branches> BranchesOf() const;
  // The most of `steps` that can run in one run: steps on different choices
  // of one decision never both run.
  int MostAtOnce(const std::vector<int>& steps, const std::vector<Branches>& branches) const;

  // Transitive needs of v (not v itself); safe on cyclic graphs.
  std::vector<bool> Ancestors(int v) const;

  // Renderings. `status` (optional) colours nodes by step status.
  std::string Mermaid(const std::map<std::string, std::string>* status = nullptr) const;
  std::string Dot(const std::string& graph_name) const;

 private:
  const std::vector<Step>& steps_;
  std::map<std::string, int> index_;
  std::vector<Edge> edges_;
  std::vector<std::vector<int>> needs_;  // per step, indexes into edges_
};

}  // namespace runbook
