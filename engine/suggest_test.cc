#include "engine/suggest.h"

#include <gtest/gtest.h>

namespace runbook {
namespace {

TEST(SuggestTest, CountsATranspositionAsOneEdit) {
  EXPECT_EQ(EditDistance("titel", "title"), 1);
  EXPECT_EQ(EditDistance("timout", "timeout"), 1);
  EXPECT_EQ(EditDistance("", "abc"), 3);
  EXPECT_EQ(EditDistance("same", "same"), 0);
}

TEST(SuggestTest, SuggestsOnlyNearMisses) {
  std::vector<std::string> keys = {"timeout", "title", "retry", "needs"};
  EXPECT_EQ(DidYouMean("timout", keys), " (did you mean 'timeout'?)");
  EXPECT_EQ(DidYouMean("need", keys), " (did you mean 'needs'?)");
  EXPECT_EQ(DidYouMean("frobnicate", keys), "");
  EXPECT_EQ(DidYouMean("x", keys), "");
  EXPECT_EQ(DidYouMean("c", {"a", "b"}), "");
  EXPECT_EQ(DidYouMean("ab", {"a"}), " (did you mean 'a'?)");
}

}  // namespace
}  // namespace runbook
