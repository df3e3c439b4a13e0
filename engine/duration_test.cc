#include "engine/duration.h"

#include <gtest/gtest.h>

namespace runbook {
namespace {

TEST(DurationTest, ParsesEveryUnitOfTheSpec) {
  struct Case {
    const char* text;
    long long ms;
  } cases[] = {{"250ms", 250},     {"30s", 30000},        {"5m", 300000},  {"2h", 7200000},
               {"1h30m", 5400000}, {"45", 45000},         {"0", 0},        {"7d", 604800000},
               {"1m30s", 90000},   {"1s500ms", 1500},     {"0s", 0},       {"2h0m5s", 7205000}};
  for (const auto& c : cases) {
    auto d = ParseDuration(c.text);
    ASSERT_TRUE(d.has_value()) << c.text;
    EXPECT_EQ(d->count(), c.ms) << c.text;
  }
}

TEST(DurationTest, RejectsWhatIsNotADuration) {
  for (const char* bad : {"", "5 min", "m", "-5s", "1.5s", "30m1h", "1h1h", "5x", "s5", "1h 30m",
                          "5mm", "99999999999999999999"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(DurationTest, FormatsTheShortestSpellingThatParsesBack) {
  EXPECT_EQ(FormatDuration(Millis(5400000)), "1h30m");
  EXPECT_EQ(FormatDuration(Millis(250)), "250ms");
  EXPECT_EQ(FormatDuration(Millis(0)), "0s");
  EXPECT_EQ(FormatDuration(Millis(90061001)), "1d1h1m1s1ms");
  for (long long ms : {1LL, 999LL, 61000LL, 3600000LL, 86400001LL})
    EXPECT_EQ(ParseDuration(FormatDuration(Millis(ms)))->count(), ms);
}

}  // namespace
}  // namespace runbook

namespace runbook {
namespace {

// Found by tests/fuzz/fuzz_duration: bare seconds were not held to the same
// bound as durations with units, so 9999999999999 printed as a duration
// that did not parse back.
TEST(DurationFuzzRegression, BareSecondsHaveTheSameBound) {
  EXPECT_FALSE(ParseDuration("9999999999999"));
  EXPECT_EQ(ParseDuration("4503599627370"), Millis(int64_t{4503599627370} * 1000));
  EXPECT_EQ(ParseDuration(FormatDuration(*ParseDuration("4503599627370"))), ParseDuration("4503599627370"));
}

}  // namespace
}  // namespace runbook
