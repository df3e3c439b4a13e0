#include "engine/backoff.h"

#include <gtest/gtest.h>

namespace runbook {
namespace {

TEST(BackoffTest, DelayGrowsByTheMultiplierUpToTheCap) {
  struct Case {
    long long delay_ms;
    double backoff;
    long long max_ms;
    int next_attempt;
    long long want_ms;
  } cases[] = {
      {1000, 1.0, 300000, 1, 0},       // the first attempt never waits
      {1000, 1.0, 300000, 2, 1000},    // constant delay
      {1000, 1.0, 300000, 9, 1000},
      {1000, 2.0, 300000, 2, 1000},    // 1s, 2s, 4s, 8s ...
      {1000, 2.0, 300000, 3, 2000},
      {1000, 2.0, 300000, 5, 8000},
      {1000, 2.0, 5000, 5, 5000},      // capped
      {1000, 2.0, 5000, 60, 5000},     // no overflow far out
      {250, 1.5, 60000, 4, 562},       // 250 * 1.5^2 = 562.5, truncated
      {0, 2.0, 60000, 4, 0},           // no delay stays no delay
      {10000, 1.0, 5000, 2, 5000},     // a cap below the delay wins
  };
  for (const auto& c : cases) {
    RetryPolicy p;
    p.delay = Millis(c.delay_ms);
    p.backoff = c.backoff;
    p.max_delay = Millis(c.max_ms);
    EXPECT_EQ(RetryDelay(p, c.next_attempt).count(), c.want_ms)
        << "delay " << c.delay_ms << " backoff " << c.backoff << " max " << c.max_ms << " attempt " << c.next_attempt;
  }
}

}  // namespace
}  // namespace runbook
