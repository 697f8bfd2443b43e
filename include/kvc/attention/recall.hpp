// Attention-mass recall: the share of exact softmax mass a sparse step's attended positions cover.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "kvc/core/error.hpp"

namespace kvc {

/// Share of one query's exact softmax mass that falls on `attended` positions.
///
/// scores `[tokens]`: the exact logits (q·k·scale) of one query head over every stored token,
/// position t at scores[t]; attended: positions the step read (any order; duplicates count once;
/// each must be < tokens, else kvc::error). Returns Σ_{t∈attended} softmax(scores)_t in [0, 1],
/// computed in double with the max subtracted. For a decode step, pass the scores over the stored
/// tokens and the new token and add the new position to `attended` (it is always attended).
inline double mass_recall(std::span<const double> scores, std::span<const std::size_t> attended) {
  if (scores.empty()) return 1.0;
  const double mx = *std::max_element(scores.begin(), scores.end());
  double total = 0;
  for (double s : scores) total += std::exp(s - mx);
  std::vector<bool> seen(scores.size(), false);
  double mass = 0;
  for (std::size_t t : attended) {
    detail::require(t < scores.size(), "mass_recall: attended position ", t, " out of range [0, ",
                    scores.size(), ")");
    if (seen[t]) continue;
    seen[t] = true;
    mass += std::exp(scores[t] - mx);
  }
  return mass / total;
}

/// The same for f32 scores.
inline double mass_recall(std::span<const float> scores, std::span<const std::size_t> attended) {
  const std::vector<double> d(scores.begin(), scores.end());
  return mass_recall(std::span<const double>(d), attended);
}

}  // namespace kvc
