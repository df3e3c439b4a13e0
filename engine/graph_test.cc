#include "engine/graph.h"

#include <gtest/gtest.h>

#include "engine/test_util.h"

namespace runbook {
namespace {

using testing::Check;

std::vector<std::vector<std::string>> WaveIds(const StepGraph& g) {
  std::vector<std::vector<std::string>> out;
  for (const auto& w : g.Waves()) {
    out.emplace_back();
    for (int v : w) out.back().push_back(g.step(v).id);
  }
  return out;
}

const char* kDiamond = R"Y(name: t
steps:
  - { id: a, run: x, estimate: 1m }
  - { id: b, run: x, needs: a, estimate: 10m }
  - { id: c, run: x, needs: a, estimate: 2m }
  - { id: d, run: x, needs: [b, c] }
  - { id: e, run: x, estimate: 5m }
)Y";

TEST(GraphTest, GroupsStepsInWavesOfTheLongestChainOfNeeds) {
  auto c = Check(kDiamond);
  StepGraph g(c.runbook.steps);
  EXPECT_EQ(WaveIds(g), (std::vector<std::vector<std::string>>{{"a", "e"}, {"b", "c"}, {"d"}}));
  std::vector<std::string> order;
  for (int v : g.TopologicalOrder()) order.push_back(g.step(v).id);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "e", "b", "c", "d"}));
}

TEST(GraphTest, CriticalPathFollowsTheLongestEstimatesAndCountsUnestimatedSteps) {
  auto c = Check(kDiamond);
  StepGraph g(c.runbook.steps);
  auto path = g.Critical([](const Step& s) { return s.estimate; });
  std::vector<std::string> ids;
  for (int v : path.path) ids.push_back(g.step(v).id);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "d"}));
  EXPECT_EQ(path.total, Millis(11 * 60000));
  EXPECT_EQ(path.unestimated, 1);
}

TEST(GraphTest, FindsACycleAsAPathOfNeedsAndPointsAtTheClosingItem) {
  auto c = Check(R"Y(name: t
steps:
  - { id: a, run: x, needs: [c] }
  - { id: b, run: x, needs: [a] }
  - { id: c, run: x, needs: [b] }
  - { id: d, run: x, needs: [d] }
)Y");
  StepGraph g(c.runbook.steps);
  auto cycles = g.FindCycles();
  ASSERT_EQ(cycles.size(), 2u);
  EXPECT_EQ(cycles[0].ToString(), "a -> c -> b -> a");
  EXPECT_EQ(cycles[0].pos.line, 4);  // b's needs item 'a'
  EXPECT_EQ(cycles[0].pos.col, 30);
  EXPECT_EQ(cycles[1].ToString(), "d -> d");
}

TEST(GraphTest, GotoTargetsNeedTheirDecision) {
  auto c = Check(R"Y(name: t
steps:
  - id: ask
    decision:
      choices:
        - { value: x, goto: [left] }
        - { value: y, goto: right }
  - { id: left, run: x }
  - { id: right, run: x }
  - { id: join, run: x, needs: [left, right] }
)Y");
  ASSERT_FALSE(c.diags.HasErrors()) << c.Text();
  StepGraph g(c.runbook.steps);
  EXPECT_EQ(WaveIds(g), (std::vector<std::vector<std::string>>{{"ask"}, {"left", "right"}, {"join"}}));
  auto ancestors = g.Ancestors(*g.Index("join"));
  EXPECT_TRUE(ancestors[*g.Index("ask")]);
  EXPECT_FALSE(ancestors[*g.Index("join")]);
}

TEST(GraphTest, RendersMermaidAndDotWithGeneratedNodeIds) {
  auto c = Check(R"Y(name: t
steps:
  - { id: check-db, name: 'Say "hi" <b>#1</b> & `x`', run: x }
  - id: assess
    needs: check-db
    decision: { choices: [{ value: restore, goto: [fix] }] }
  - { id: fix, run: x }
)Y");
  StepGraph g(c.runbook.steps);
  EXPECT_EQ(g.Mermaid(), R"Y(flowchart TD
  n0["check-db: Say #quot;hi#quot; #lt;b#gt;#35;1#lt;/b#gt; #amp; #96;x#96;"]
  n1{"assess"}
  n2["fix"]
  n0 --> n1
  n1 -- "restore" --> n2
)Y");
  std::string dot = g.Dot("t");
  EXPECT_NE(dot.find("digraph \"t\" {"), std::string::npos) << dot;
  EXPECT_NE(dot.find("n0->n1"), std::string::npos) << dot;
  EXPECT_NE(dot.find("n1->n2  [label=restore]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("id=\"check-db\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("shape=diamond"), std::string::npos) << dot;
}

// Ids that are Mermaid or DOT keywords, or hold an arrow, are only labels.
TEST(GraphTest, KeywordIdsAreLabelsNotSyntax) {
  auto c = Check(R"Y(name: t
steps:
  - { id: end, run: x }
  - { id: graph, needs: [end], run: x }
  - { id: subgraph, needs: [graph], run: x }
  - { id: a--b, needs: [subgraph], run: x }
)Y");
  ASSERT_EQ(c.Text(), "");
  StepGraph g(c.runbook.steps);
  EXPECT_EQ(g.Mermaid(), R"Y(flowchart TD
  n0["end"]
  n1["graph"]
  n2["subgraph"]
  n3["a--b"]
  n0 --> n1
  n1 --> n2
  n2 --> n3
)Y");
  std::string dot = g.Dot("t");
  EXPECT_NE(dot.find("n0->n1"), std::string::npos) << dot;
  EXPECT_EQ(dot.find("graph->"), std::string::npos) << dot;
}

}  // namespace
}  // namespace runbook
