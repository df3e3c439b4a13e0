#include "engine/graph.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <boost/graph/graphviz.hpp>
#include <boost/graph/topological_sort.hpp>

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>

namespace runbook {
namespace {

// Vertices are steps in file order; an edge runs from a step to what it
// needs, carrying the index of our Edge.
using BoostGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS,
                                         boost::no_property, boost::property<boost::edge_index_t, int>>;

BoostGraph ToBoost(int n, const std::vector<StepGraph::Edge>& edges) {
  BoostGraph g(n);
  for (size_t i = 0; i < edges.size(); ++i) boost::add_edge(edges[i].step, edges[i].need, static_cast<int>(i), g);
  return g;
}

// Keeps the DFS path so that a back edge u -> v yields the cycle v ... u v.
class CycleVisitor : public boost::default_dfs_visitor {
 public:
  CycleVisitor(std::vector<int>* path, std::vector<std::pair<std::vector<int>, int>>* found)
      : path_(path), found_(found) {}
  void discover_vertex(int v, const BoostGraph&) { path_->push_back(v); }
  void finish_vertex(int, const BoostGraph&) { path_->pop_back(); }
  void back_edge(BoostGraph::edge_descriptor e, const BoostGraph& g) {
    int target = static_cast<int>(boost::target(e, g));
    auto it = std::find(path_->begin(), path_->end(), target);
    std::vector<int> cycle(it, path_->end());
    cycle.push_back(target);
    found_->push_back({cycle, boost::get(boost::edge_index, g, e)});
  }

 private:
  std::vector<int>* path_;
  std::vector<std::pair<std::vector<int>, int>>* found_;
};

// Text inside a quoted Mermaid label, as entity codes wherever Mermaid (or
// the HTML it renders to) would read a character as syntax: quotes end the
// label, '#' starts an entity, '<' '>' '&' are markup, a backquote opens a
// Markdown string, and a line break ends the statement.
std::string MermaidLabel(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "#quot;"; break;
      case '#': out += "#35;"; break;
      case '<': out += "#lt;"; break;
      case '>': out += "#gt;"; break;
      case '&': out += "#amp;"; break;
      case '`': out += "#96;"; break;
      case '\n': case '\r': case '\t': out += ' '; break;
      default: out += c;
    }
  }
  return out;
}

// Node ids are generated: a step id may be a Mermaid keyword (`end`,
// `graph`, `class`...) or hold an arrow (`a--b`); the id is only the label.
std::string NodeId(int v) { return "n" + std::to_string(v); }

}  // namespace

std::string StepGraph::Cycle::ToString() const {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) out += (i ? " -> " : "") + path[i];
  return out;
}

StepGraph::StepGraph(const std::vector<Step>& steps) : steps_(steps), needs_(steps.size()) {
  for (size_t i = 0; i < steps.size(); ++i) index_.emplace(steps[i].id, static_cast<int>(i));
  auto add = [&](int step, const std::string& need, Pos pos, bool by_goto, const std::string& choice) {
    auto it = index_.find(need);
    if (it == index_.end()) return;
    needs_[step].push_back(static_cast<int>(edges_.size()));
    edges_.push_back({step, it->second, pos, by_goto, choice});
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    for (const auto& n : steps[i].needs) add(static_cast<int>(i), n.value, n.pos, false, "");
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].kind != StepKind::kDecision) continue;
    for (const auto& c : steps[i].decision.choices)
      for (const auto& target : c.go_to) {
        auto t = index_.find(target.value);
        if (t != index_.end()) add(t->second, steps[i].id, target.pos, true, c.value);
      }
  }
}

std::optional<int> StepGraph::Index(const std::string& id) const {
  auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::vector<StepGraph::Cycle> StepGraph::FindCycles() const {
  BoostGraph g = ToBoost(size(), edges_);
  std::vector<int> path;
  std::vector<std::pair<std::vector<int>, int>> found;
  std::vector<boost::default_color_type> colors(size());
  auto color_map = boost::make_iterator_property_map(colors.begin(), boost::get(boost::vertex_index, g));
  CycleVisitor visitor(&path, &found);
  // Roots in file order, so the same file always reports the same cycles.
  for (int v = 0; v < size(); ++v) {
    if (colors[v] == boost::white_color) boost::depth_first_visit(g, v, visitor, color_map);
  }
  std::vector<Cycle> cycles;
  for (auto& [vertices, edge] : found) {
    Cycle c;
    for (int v : vertices) c.path.push_back(steps_[v].id);
    c.pos = edges_[edge].pos;
    cycles.push_back(std::move(c));
  }
  return cycles;
}

std::vector<int> StepGraph::TopologicalOrder() const {
  std::vector<int> order;
  for (const auto& wave : Waves()) order.insert(order.end(), wave.begin(), wave.end());
  return order;
}

std::vector<std::vector<int>> StepGraph::Waves() const {
  BoostGraph g = ToBoost(size(), edges_);
  // Edges point at needs, so Boost's reverse topological order lists every
  // need before the steps that wait for it.
  std::vector<int> order;
  boost::topological_sort(g, std::back_inserter(order));
  std::vector<int> wave(size(), 0);
  int last = -1;
  for (int v : order) {
    for (int e : needs_[v]) wave[v] = std::max(wave[v], wave[edges_[e].need] + 1);
    last = std::max(last, wave[v]);
  }
  std::vector<std::vector<int>> waves(last + 1);
  for (int v = 0; v < size(); ++v) waves[wave[v]].push_back(v);
  return waves;
}

StepGraph::CriticalPath StepGraph::Critical(
    const std::function<std::optional<Millis>(const Step&)>& estimate) const {
  CriticalPath best;
  std::vector<Millis> finish(size(), Millis(0));
  std::vector<int> prev(size(), -1);
  int end = -1;
  for (int v : TopologicalOrder()) {
    Millis start(0);
    for (int e : needs_[v]) {
      int n = edges_[e].need;
      if (prev[v] == -1 || finish[n] > start) {
        start = finish[n];
        prev[v] = n;
      }
    }
    // Saturating: three estimates near the largest duration do not wrap around.
    Millis add = estimate(steps_[v]).value_or(Millis(0));
    finish[v] = add.count() > std::numeric_limits<int64_t>::max() - start.count()
                    ? Millis(std::numeric_limits<int64_t>::max())
                    : start + add;
    // Ties go to the later step, so the path runs on through steps that
    // have no estimate instead of stopping short of them.
    if (end == -1 || finish[v] >= finish[end]) end = v;
  }
  for (int v = end; v != -1; v = prev[v]) {
    best.path.insert(best.path.begin(), v);
    if (!estimate(steps_[v])) ++best.unestimated;
  }
  if (end != -1) best.total = finish[end];
  return best;
}

std::vector<StepGraph::Branches> StepGraph::BranchesOf() const {
  std::vector<Branches> on(size());
  for (int v : TopologicalOrder()) {
    Branches by_goto;              // decision -> choices that lead here
    std::optional<Branches> plain;  // what every plain need is on
    for (int e : needs_[v]) {
      const Edge& edge = edges_[e];
      if (edge.by_goto) {
        by_goto[edge.need].insert(edge.choice);
        continue;
      }
      const Branches& need = on[edge.need];
      if (!plain) {
        plain = need;
        continue;
      }
      for (auto it = plain->begin(); it != plain->end();) {
        auto other = need.find(it->first);
        if (other == need.end()) {
          it = plain->erase(it);
        } else {
          it->second.insert(other->second.begin(), other->second.end());
          ++it;
        }
      }
    }
    if (!by_goto.empty()) {
      for (const auto& [decision, choices] : by_goto) {
        on[v].insert(on[decision].begin(), on[decision].end());
        on[v][decision] = choices;
      }
    } else if (!steps_[v].when && plain) {
      on[v] = *plain;
    }
  }
  return on;
}

int StepGraph::MostAtOnce(const std::vector<int>& steps, const std::vector<Branches>& branches) const {
  // Split on the first decision two of the steps cannot both be on: each
  // choice keeps the steps it lets run. Past a depth that no runbook
  // reaches, count the rest as if all could run (an upper bound).
  std::function<int(const std::vector<int>&, int)> most = [&](const std::vector<int>& set, int depth) -> int {
    if (depth > 12) return static_cast<int>(set.size());
    for (int v : set)
      for (const auto& [decision, mine] : branches[v]) {
        bool split = false;
        std::set<std::string> choices;
        for (int u : set) {
          auto it = branches[u].find(decision);
          if (it == branches[u].end()) continue;
          choices.insert(it->second.begin(), it->second.end());
          if (it->second != mine) split = true;
        }
        if (!split) continue;
        int best = 0;
        for (const auto& choice : choices) {
          std::vector<int> keep;
          for (int u : set) {
            auto it = branches[u].find(decision);
            if (it == branches[u].end() || it->second.count(choice)) keep.push_back(u);
          }
          best = std::max(best, most(keep, depth + 1));
        }
        return best;
      }
    return static_cast<int>(set.size());
  };
  return most(steps, 0);
}

std::vector<bool> StepGraph::Ancestors(int v) const {
  std::vector<bool> seen(size(), false);
  std::vector<int> todo = {v};
  while (!todo.empty()) {
    int u = todo.back();
    todo.pop_back();
    for (int e : needs_[u]) {
      int n = edges_[e].need;
      if (!seen[n]) {
        seen[n] = true;
        todo.push_back(n);
      }
    }
  }
  return seen;
}

std::string StepGraph::Mermaid(const std::map<std::string, std::string>* status) const {
  std::ostringstream out;
  out << "flowchart TD\n";
  for (int v = 0; v < size(); ++v) {
    const Step& s = steps_[v];
    std::string label = s.DisplayName() == s.id ? s.id : s.id + ": " + s.DisplayName();
    bool decision = s.kind == StepKind::kDecision;
    out << "  " << NodeId(v) << (decision ? "{\"" : "[\"") << MermaidLabel(label) << (decision ? "\"}" : "\"]");
    if (status) {
      auto it = status->find(s.id);
      if (it != status->end()) out << ":::" << it->second;
    }
    out << "\n";
  }
  for (const auto& e : edges_) {
    if (e.by_goto)
      out << "  " << NodeId(e.need) << " -- \"" << MermaidLabel(e.choice) << "\" --> " << NodeId(e.step) << "\n";
    else
      out << "  " << NodeId(e.need) << " --> " << NodeId(e.step) << "\n";
  }
  return out.str();
}

std::string StepGraph::Dot(const std::string& graph_name) const {
  // Drawn in execution order: need -> step.
  BoostGraph g(size());
  // Node ids are generated, as in Mermaid (a step may be called `graph` or
  // `node`); the step id is the node's `id`, which Graphviz's SVG keeps.
  // Backslashes are doubled: DOT reads `\n`, `\l` in a label as layout.
  auto escaped = [](std::string s) {
    for (size_t at = 0; (at = s.find('\\', at)) != std::string::npos; at += 2) s.insert(at, 1, '\\');
    return s;
  };
  std::vector<std::string> nodes, ids, labels, shapes, edge_labels;
  for (int v = 0; v < size(); ++v) {
    const Step& s = steps_[v];
    nodes.push_back(NodeId(v));
    ids.push_back(escaped(s.id));
    labels.push_back(escaped(s.DisplayName()));
    shapes.push_back(s.kind == StepKind::kDecision ? "diamond"
                     : s.kind == StepKind::kManual ? "parallelogram"
                                                   : "box");
  }
  for (size_t i = 0; i < edges_.size(); ++i) {
    boost::add_edge(edges_[i].need, edges_[i].step, static_cast<int>(i), g);
    edge_labels.push_back(escaped(edges_[i].choice));
  }
  boost::dynamic_properties dp;
  auto vindex = boost::get(boost::vertex_index, g);
  auto eindex = boost::get(boost::edge_index, g);
  dp.property("node_id", boost::make_iterator_property_map(nodes.begin(), vindex));
  dp.property("id", boost::make_iterator_property_map(ids.begin(), vindex));
  dp.property("label", boost::make_iterator_property_map(labels.begin(), vindex));
  dp.property("shape", boost::make_iterator_property_map(shapes.begin(), vindex));
  dp.property("label", boost::make_iterator_property_map(edge_labels.begin(), eindex));
  std::ostringstream out;
  boost::write_graphviz_dp(out, g, dp);
  std::string text = out.str();
  // Name the graph after the runbook ("digraph G" otherwise).
  if (text.rfind("digraph G", 0) == 0) text = "digraph \"" + graph_name + "\"" + text.substr(9);
  return text;
}

}  // namespace runbook
