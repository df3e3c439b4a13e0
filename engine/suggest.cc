#include "engine/suggest.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace runbook {
namespace {

// Suggestions are a courtesy: a process spends at most this many cells of
// edit-distance tables on them (10,000 typos against 10,000 ids would be a
// billion), then suggests nothing more. Words longer than any name get none.
int64_t suggestion_budget = 20'000'000;
constexpr size_t kLongestSuggested = 128;

}  // namespace

int EditDistance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions, so
  // "titel" is one edit from "title", as a person counts typos. Three rows
  // of the table, not all of it.
  std::vector<int> before(b.size() + 1), prev(b.size() + 1), row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        row[j] = std::min(row[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, row);
  }
  return prev[b.size()];
}

std::optional<std::string> Closest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
  // Never suggest a word that shares nothing with the typo ('c' for 'a').
  int limit = std::min<int>(std::max<int>(1, static_cast<int>(word.size() + 1) / 3),
                            static_cast<int>(word.size()) - 1);
  std::optional<std::string> best;
  int best_distance = limit + 1;
  if (word.size() > kLongestSuggested) return best;
  for (const auto& c : candidates) {
    // Lengths further apart than the limit cannot be within it.
    if (static_cast<size_t>(std::abs(static_cast<long>(c.size()) - static_cast<long>(word.size()))) >
        static_cast<size_t>(limit))
      continue;
    int64_t cost = static_cast<int64_t>((word.size() + 1) * (c.size() + 1));
    if ((suggestion_budget -= cost) < 0) return std::nullopt;
    int d = EditDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  auto c = Closest(word, candidates);
  return c ? " (did you mean '" + *c + "'?)" : "";
}

}  // namespace runbook
