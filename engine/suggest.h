// "Did you mean" for near misses, as ninja's edit_distance.cc does it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace runbook {

// Edit distance between a and b, counting an adjacent transposition as one.
int EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a typo
// (distance at most max(1, (|word|+1)/3), and less than |word|); ties go
// to the first candidate.
std::optional<std::string> Closest(std::string_view word,
                                   const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "".
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace runbook
