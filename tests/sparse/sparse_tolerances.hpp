// Named tolerances and thresholds of the sparse-offload tests.
#pragma once

namespace kvc::test {

/// Sparse policy with every host token selected vs the full policy on the same stored values
/// (same f32 kernel, different segment order): ‖out − full‖ / ‖full‖.
inline constexpr double sparse_all_selected_rel = 1e-5;
/// The same against the f64 oracle.
inline constexpr double sparse_vs_oracle_rel = 1e-5;
/// Planted heavy hitters: each selector must recover at least this share of exact softmax mass.
inline constexpr double sparse_planted_recall = 0.9;

}  // namespace kvc::test
